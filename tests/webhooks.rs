//! Webhooks through the real binary: a receiver that is slow at first (past the webhook's
//! timeout), then fails (500), then takes what it is sent. The scheduler runs jobs meanwhile as
//! fast as ever; once the receiver takes them, every task state change arrives once, in order.
//! A dead receiver costs the scheduler nothing either, and what it never got is counted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atoll_tests::{Cluster, eventually, free_port, http_get, printed};
use serde_json::Value;

const JOB: &str = "devcluster/www-data/devel/hello";

/// What the receiver took, in the order it took it.
type Taken = Arc<Mutex<Vec<Value>>>;

/// A receiver on `listener`: its first `slow` requests wait 1.5 s before answering, the
/// `failing` after them get 500, and the rest are taken (200) and kept.
fn receiver(listener: TcpListener, slow: usize, failing: usize) -> Taken {
    let taken: Taken = Arc::default();
    let kept = taken.clone();
    std::thread::spawn(move || {
        for (served, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let status = if served < slow {
                std::thread::sleep(Duration::from_millis(1500));
                "200 OK"
            } else if served < slow + failing {
                "500 Internal Server Error"
            } else {
                kept.lock().unwrap().push(serde_json::from_slice(&body).expect("a JSON body"));
                "200 OK"
            };
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    taken
}

fn webhook_file(dir: &std::path::Path, port: u16) -> String {
    let path = dir.join("webhook.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"headers": {{"X-Cluster": "devcluster"}}, "targetURL": "http://127.0.0.1:{port}/hook", "timeoutMsec": 300, "statuses": ["*"]}}"#
        ),
    )
    .expect("write the webhook file");
    path.display().to_string()
}

fn metric(http: u16, name: &str) -> u64 {
    let (_, _, body) = http_get(http, "/metrics");
    body.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[test]
fn a_slow_then_failing_receiver_gets_every_change_in_order_and_never_slows_the_scheduler() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    let port = listener.local_addr().unwrap().port();
    // Two attempts time out, two get 500, the fifth (the last allowed) is taken.
    let taken = receiver(listener, 2, 2);
    let http = free_port();
    let files = tempfile::tempdir().unwrap();
    let hook = webhook_file(files.path(), port);
    let http_flag = format!("127.0.0.1:{http}");
    let cluster = Cluster::start_with_flags(10, &["--webhook-config", &hook, "--http", &http_flag], &[]);
    let file = cluster.sleeping_service();

    // The scheduler does not wait for the receiver: the job runs while it dawdles.
    let started = Instant::now();
    let created = cluster.job(&["create", JOB, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let took = started.elapsed();
    let killed = cluster.job(&["killall", JOB]);
    assert!(killed.status.success(), "{}", printed(&killed));

    let changes = eventually("every change to reach the receiver", Duration::from_secs(60), || {
        let taken = taken.lock().unwrap().clone();
        taken.iter().any(|c| c["task"]["status"] == "KILLED").then_some(taken)
    });
    let states: Vec<(String, String)> = changes
        .iter()
        .map(|c| (c["oldState"].as_str().unwrap().to_owned(), c["task"]["status"].as_str().unwrap().to_owned()))
        .collect();
    let pairs: Vec<(&str, &str)> = states.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("INIT", "PENDING"),
            ("PENDING", "ASSIGNED"),
            ("ASSIGNED", "STARTING"),
            ("STARTING", "RUNNING"),
            ("RUNNING", "KILLING"),
            ("KILLING", "KILLED")
        ],
        "once each, in order"
    );
    let indices: Vec<u64> = changes.iter().map(|c| c["task"]["eventIndex"].as_u64().unwrap()).collect();
    assert!(indices.windows(2).all(|w| w[0] < w[1]), "{indices:?}");
    assert!(changes.iter().all(|c| c["task"]["job"] == JOB));
    // The first change took four failed attempts (two timeouts, two 500s) and their waits; the
    // job was RUNNING long before the receiver had it.
    assert!(took < Duration::from_secs(15), "creating the job took {took:?}");
    assert_eq!(metric(http, "atoll_webhook_dropped_total"), 0);
    assert!(metric(http, "atoll_webhook_deliveries_total") >= 6);
}

#[test]
fn a_dead_receiver_costs_the_scheduler_nothing_and_what_it_missed_is_counted() {
    let dead = free_port();
    let http = free_port();
    let files = tempfile::tempdir().unwrap();
    let hook = webhook_file(files.path(), dead);
    let http_flag = format!("127.0.0.1:{http}");
    let cluster = Cluster::start_with_flags(10, &["--webhook-config", &hook, "--http", &http_flag], &[]);
    let created = cluster.job(&["create", JOB, &cluster.sleeping_service(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    eventually("the undelivered changes to be counted", Duration::from_secs(60), || {
        (metric(http, "atoll_webhook_dropped_total") >= 1).then_some(())
    });
    let _ = cluster.job(&["killall", JOB]);
}

#[test]
fn a_broken_webhook_file_stops_the_scheduler_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("hook.json");
    std::fs::write(&hook, r#"{"targetURL": "https://example.com/", "timeoutMsec": 50}"#).unwrap();
    let data = dir.path().join("data");
    let refused = atoll_tests::atoll(&[
        "scheduler",
        "--data-dir",
        data.to_str().unwrap(),
        "--grpc",
        "127.0.0.1:0",
        "--webhook-config",
        hook.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(6), "{}", printed(&refused));
    assert!(printed(&refused).contains("https:// webhooks are not supported yet"), "{}", printed(&refused));
}

//! The event stream through the real binary: `atoll events` shows a job's life in order with
//! indices that follow each other, `--follow` prints new events as they happen, and after the
//! scheduler restarts (even killed with SIGKILL) `--from` resumes at the index asked for, with
//! nothing lost or repeated.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use atoll_tests::{Cluster, atoll_binary, eventually, printed};
use serde_json::Value;

const JOB: &str = "devcluster/www-data/devel/hello";

/// `atoll events ARGS --json`, every line parsed.
fn events(cluster: &Cluster, args: &[&str]) -> Vec<Value> {
    let output = atoll_tests::atoll(&[&["events"], args, &["--json", "--scheduler", &cluster.url]].concat());
    assert!(output.status.success(), "{}", printed(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// An event as `kind detail` (`task 0 RUNNING`, `job CREATED`, `update 1 ROLLING_FORWARD`).
fn line(event: &Value) -> String {
    match event["kind"].as_str().unwrap_or_default() {
        "task" => format!("task {} {}", event["instance"], event["state"].as_str().unwrap_or_default()),
        "job" => format!("job {}", event["change"].as_str().unwrap_or_default()),
        kind => format!("{kind} {}", event["state"].as_str().unwrap_or_default()),
    }
}

fn indices(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["index"].as_u64().expect("an index")).collect()
}

/// `atoll events ARGS --follow --json` running, its lines arriving on the receiver.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Follower {
    fn start(cluster: &Cluster, args: &[&str]) -> Follower {
        let mut child = Command::new(atoll_binary())
            .args([&["events"], args, &["--follow", "--json", "--scheduler", &cluster.url]].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start atoll events --follow");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(serde_json::from_str(&line).expect("a JSON line")).is_err() {
                    return;
                }
            }
        });
        Follower { child, lines }
    }

    /// The events received until one satisfies `until` (that one included).
    fn until(&self, what: &str, until: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(event) => {
                    let done = until(&event);
                    seen.push(event);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("no {what} within 30 s; got {seen:#?}"),
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_jobs_life_streams_in_order_and_resumes_from_an_index_after_a_restart() {
    let mut cluster = Cluster::start(10);
    let file = cluster.sleeping_service();
    let created = cluster.job(&["create", JOB, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));

    // The job's life so far, in order, numbered without gaps.
    let life = events(&cluster, &[JOB]);
    assert_eq!(
        life.iter().map(line).collect::<Vec<_>>(),
        ["job CREATED", "task 0 PENDING", "task 0 ASSIGNED", "task 0 STARTING", "task 0 RUNNING"]
    );
    let numbers = indices(&life);
    assert!(numbers.windows(2).all(|pair| pair[1] == pair[0] + 1), "{numbers:?}");
    assert!(life[2]["host"].as_str().is_some_and(|h| h.starts_with("agent-")), "{}", life[2]);
    let only_jobs = events(&cluster, &[JOB, "--kind", "job"]);
    assert_eq!(only_jobs.iter().map(line).collect::<Vec<_>>(), ["job CREATED"]);

    // A follower sees what happens next, as it happens.
    // (From the next index: whether it subscribes before or after the kill, it misses nothing.)
    let next = numbers.last().unwrap() + 1;
    let follower = Follower::start(&cluster, &["devcluster", "--from", &next.to_string()]);
    let killed = cluster.job(&["killall", JOB]);
    assert!(killed.status.success(), "{}", printed(&killed));
    let followed = follower.until("KILLED", |e| e["state"] == "KILLED");
    assert_eq!(followed.iter().map(line).collect::<Vec<_>>(), ["task 0 KILLING", "job KILLED", "task 0 KILLED"]);
    assert_eq!(indices(&followed)[0], next, "the first new event is the next index");
    drop(follower);

    // The scheduler dies; a new one keeps every event and numbers on from there.
    cluster.scheduler.take().expect("a scheduler").crash();
    cluster.start_scheduler(10);
    let kept = events(&cluster, &["devcluster"]);
    assert_eq!(indices(&kept), (numbers[0]..next + 3).collect::<Vec<_>>(), "nothing lost or repeated");
    let resumed = Follower::start(&cluster, &["devcluster", "--from", &(next + 1).to_string()]);
    let replayed = resumed.until("the kept KILLED", |e| e["state"] == "KILLED");
    assert_eq!(indices(&replayed), [next + 1, next + 2]);
    let again = cluster.job(&["create", JOB, &file]);
    assert!(again.status.success(), "{}", printed(&again));
    let new = resumed.until("the new job", |e| e["change"] == "CREATED");
    assert_eq!(indices(&new), [next + 3], "the restarted scheduler numbers on");
    eventually("the new task to run", Duration::from_secs(30), || {
        (cluster.status(JOB)["instances"][0]["status"] == "RUNNING").then_some(())
    });
    let _ = cluster.job(&["killall", JOB]);
}

#[test]
fn a_bad_scope_or_kind_is_refused_saying_what_is_wrong() {
    let cluster = Cluster::start(10);
    let bad_kind = atoll_tests::atoll(&["events", "devcluster", "--kind", "tasks", "--scheduler", &cluster.url]);
    assert_eq!(bad_kind.status.code(), Some(6), "{}", printed(&bad_kind));
    assert!(printed(&bad_kind).contains("'tasks' is not a kind of event; the kinds are task, job, update and cron"));
    let bad_scope = atoll_tests::atoll(&["events", "devcluster/a/b/c/d", "--scheduler", &cluster.url]);
    assert_eq!(bad_scope.status.code(), Some(6), "{}", printed(&bad_scope));
    assert!(printed(&bad_scope).contains("devcluster/a/b/c/d"), "{}", printed(&bad_scope));
}

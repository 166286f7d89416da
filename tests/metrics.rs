//! Metrics through the real binary: the scheduler's and the agents' `/metrics` carry what they
//! count, pass `promtool check metrics` (Debian's prometheus package; `bash .ci/run` installs
//! it), and a real Prometheus scrapes all three and answers queries on them. `/health` and
//! `/leaderhealth` answer as Aurora's.

use std::process::{Command, Stdio};
use std::time::Duration;

use atoll_tests::{Cluster, Daemon, eventually, free_port, http_get, printed};
use serde_json::Value;

const JOB: &str = "devcluster/www-data/prod/web";

/// `promtool check metrics` of `text`: its complaints, or none.
fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) is needed; bash .ci/run installs it");
    child.stdin.take().expect("piped stdin").write_all(text.as_bytes()).expect("write the metrics");
    let output = child.wait_with_output().expect("wait for promtool");
    if output.status.success() { Ok(()) } else { Err(printed(&output)) }
}

fn metrics(port: u16) -> String {
    let (status, headers, body) = http_get(port, "/metrics");
    assert_eq!(status, 200, "{body}");
    let content_type = headers.iter().find(|(name, _)| name == "content-type").map(|(_, v)| v.as_str());
    assert_eq!(content_type, Some("text/plain; version=0.0.4; charset=utf-8"));
    body
}

/// A Prometheus query's result vector, once it has one.
fn query(prometheus: u16, expression: &str) -> Vec<Value> {
    let path = format!(
        "/api/v1/query?query={}",
        expression.replace('{', "%7B").replace('}', "%7D").replace('"', "%22").replace('=', "%3D")
    );
    let (status, _, body) = http_get(prometheus, &path);
    assert_eq!(status, 200, "{expression}: {body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON from Prometheus");
    answer["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_scheduler_and_agents_serve_metrics_that_promtool_passes_and_prometheus_scrapes() {
    let (cluster, http) = Cluster::start_serving_http(10);
    for path in ["/health", "/leaderhealth"] {
        let (status, _, body) = http_get(http, path);
        assert_eq!((status, body.as_str()), (200, "OK\n"), "{path}");
    }
    let created = cluster.job(&["create", JOB, &cluster.announced_job(2), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));

    let scheduler = metrics(http);
    for line in [
        r#"atoll_tasks{job_key="devcluster/www-data/prod/web",state="RUNNING"} 2"#,
        r#"atoll_agents{state="registered"} 2"#,
        r#"atoll_grpc_calls_total{method="/atoll.v1.SchedulerService/CreateJob",code="OK"} 1"#,
    ] {
        assert!(scheduler.lines().any(|l| l == line), "{line} in\n{scheduler}");
    }
    assert!(scheduler.contains("atoll_store_commit_duration_seconds_count "), "{scheduler}");
    assert!(scheduler.contains("atoll_placement_round_duration_seconds_bucket{"), "{scheduler}");
    promtool_check(&scheduler).unwrap_or_else(|complaints| panic!("promtool on the scheduler's metrics: {complaints}"));
    let mut running_on_agents = 0;
    for port in cluster.agent_http.values() {
        let agent = metrics(*port);
        promtool_check(&agent).unwrap_or_else(|complaints| panic!("promtool on an agent's metrics: {complaints}"));
        let running = agent.lines().find_map(|l| l.strip_prefix(r#"atoll_agent_tasks{state="RUNNING"} "#));
        running_on_agents += running.map_or(0, |n| n.parse::<u32>().expect("a count"));
        if running.is_some() {
            assert!(agent.contains("atoll_agent_task_memory_bytes{task=\"www-data-prod-web-"), "{agent}");
            assert!(agent.contains("atoll_agent_task_cpu_seconds_total{task=\"www-data-prod-web-"), "{agent}");
        }
    }
    assert_eq!(running_on_agents, 2, "the agents count the job's two tasks between them");

    // A real Prometheus scrapes all three.
    let port = free_port();
    let targets: Vec<String> =
        std::iter::once(http).chain(cluster.agent_http.values().copied()).map(|p| format!("'127.0.0.1:{p}'")).collect();
    let config = cluster.dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: atoll\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .expect("write prometheus.yml");
    let storage = cluster.dir.path().join("prometheus-data");
    let _prometheus = Daemon::start_program(
        std::path::Path::new("/usr/bin/prometheus"),
        "prometheus",
        cluster.dir.path(),
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", storage.display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ],
    );
    // Prometheus listens before it is ready, and answers 503 until then.
    eventually("Prometheus to be ready", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        (http_get(port, "/-/ready").0 == 200).then_some(())
    });
    eventually("every target to be up", Duration::from_secs(30), || {
        let up = query(port, "up");
        (up.len() == 3 && up.iter().all(|sample| sample["value"][1] == "1")).then_some(())
    });
    let running = eventually("the running tasks as Prometheus sees them", Duration::from_secs(30), || {
        let result = query(port, r#"atoll_tasks{state="RUNNING"}"#);
        result.first().filter(|sample| sample["value"][1] == "2").cloned()
    });
    assert_eq!(running["metric"]["job_key"].as_str(), Some(JOB), "{running}");
    assert_eq!(running["metric"]["job"].as_str(), Some("atoll"), "Prometheus' own job label is left alone");
    let per_task = query(port, "atoll_agent_task_memory_bytes");
    assert_eq!(per_task.len(), 2, "{per_task:?}");
    let _ = cluster.job(&["killall", JOB]);
}

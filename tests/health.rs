//! Health checks and the kill sequence through the real binary: a service with a `health` port
//! is STARTING until its HTTP health check passes, then RUNNING; a kill asks it to stop over
//! HTTP (`POST /quitquitquit`) before any signal; an agent that cannot use cgroups refuses to
//! start unless told to run without them.

use std::path::PathBuf;
use std::time::Duration;

use atoll_tests::{Cluster, Daemon, eventually, printed};

/// Answers `GET /health` with "ok" once its home has a `healthy` file; records every POST
/// path in `posted`; exits on `/quitquitquit`.
const SERVER: &str = r#"
import http.server, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if os.path.exists("healthy") else b"starting"
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        with open("posted", "a") as f: f.write(self.path + "\n")
        self.send_response(200); self.end_headers()
        if self.path == "/quitquitquit": os._exit(0)
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;

#[test]
fn a_service_runs_once_healthy_and_is_asked_to_quit_before_any_signal() {
    let cluster = Cluster::start(10);
    let server = cluster.dir.path().join("server.py");
    std::fs::write(&server, SERVER).unwrap();
    let file = cluster.dir.path().join("web.rhai");
    std::fs::write(
        &file,
        format!(
            r#"let web = Process(#{{ name: "web", cmdline: "exec python3 {server} {{{{thermos.ports[health]}}}}" }});
let t = SequentialTask(#{{ processes: [web], resources: Resources(#{{ cpu: 0.1, ram: 64 * MB, disk: 16 * MB }}) }});
let checks = HealthCheckConfig(#{{ initial_interval_secs: 0.5, interval_secs: 0.2, max_consecutive_failures: 100 }});
let jobs = [ Service(#{{ cluster: "devcluster", role: "www-data", environment: "devel", name: "web", task: t, health_check_config: checks }}) ];
"#,
            server = server.display()
        ),
    )
    .unwrap();
    let job = "devcluster/www-data/devel/web";
    let created = cluster.job(&["create", job, file.to_str().unwrap()]);
    assert!(created.status.success(), "{}", printed(&created));

    let starting = eventually("the task to start", Duration::from_secs(20), || {
        let entry = cluster.status(job)["instances"][0].clone();
        (entry["status"] == "STARTING" && entry["sandbox"].is_string()).then_some(entry)
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(cluster.status(job)["instances"][0]["status"], "STARTING", "not RUNNING while unhealthy");
    let sandbox = PathBuf::from(starting["sandbox"].as_str().unwrap());
    let home = sandbox.join("sandbox");
    std::fs::write(home.join("healthy"), "").unwrap();
    eventually("the task to be RUNNING once healthy", Duration::from_secs(10), || {
        (cluster.status(job)["instances"][0]["status"] == "RUNNING").then_some(())
    });

    let killed = cluster.job(&["killall", job]);
    assert!(killed.status.success(), "{}", printed(&killed));
    assert_eq!(std::fs::read_to_string(home.join("posted")).unwrap_or_default(), "/quitquitquit\n");
    let log = std::fs::read_to_string(sandbox.join(".executor/stderr")).unwrap_or_default();
    assert!(log.contains("lifecycle request"), "the executor asked over HTTP first: {log}");
}

#[test]
fn an_agent_that_cannot_use_cgroups_refuses_to_start_without_no_isolation() {
    let cluster = Cluster::start(10);
    let work = cluster.dir.path().join("refusing");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = [
            "agent",
            "--scheduler",
            &cluster.url,
            "--work-dir",
            work.to_str().unwrap(),
            "--hostname",
            "refusing",
            "--resources",
            "cpus:1;mem:64;disk:64",
            "--no-switch-user",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        all.extend(extra.iter().map(|s| (*s).to_owned()));
        all
    };
    // A parent that is not a plain name cannot be created: the same refusal as unwritable cgroups.
    let refused_args = args(&["--cgroup-parent", "../elsewhere"]);
    let mut refused =
        Daemon::start("refused", cluster.dir.path(), &refused_args.iter().map(String::as_str).collect::<Vec<_>>());
    let exit = refused.wait(Duration::from_secs(10));
    assert_eq!(exit.code(), Some(4), "{}", refused.log());
    assert!(refused.log().contains("pass --no-isolation to run tasks without limits"), "{}", refused.log());

    let allowed_args = args(&["--cgroup-parent", "../elsewhere", "--no-isolation"]);
    let allowed =
        Daemon::start("allowed", cluster.dir.path(), &allowed_args.iter().map(String::as_str).collect::<Vec<_>>());
    eventually("the agent to run without isolation", Duration::from_secs(10), || {
        allowed.log().contains("Isolation: no isolation (--no-isolation)").then_some(())
    });
}

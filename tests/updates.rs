//! Rolling updates through the real binary, with real agents and a health-checked service:
//! roll forward with `update start --wait`, roll back a config that fails its health checks,
//! carry an update on across a scheduler killed with -9, steer one (pause, resume, pulse,
//! abort, rollback), `job diff` and `job plan` (whose placements are the update's), the
//! progress view on a terminal and in a pipe, and each refusal's exit code and message.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use atoll_tests::{Cluster, eventually, printed};
use serde_json::Value;

const WEB: &str = "devcluster/www-data/devel/web";

/// Prints `version VERSION` and serves `GET /health` on its port: "ok", or "sick" when its
/// version is `sick`, which then never passes its health check.
const SERVER: &str = r#"
import http.server, sys
version = sys.argv[2]
print("version", version, flush=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
        self.wfile.write(b"sick" if version == "sick" else b"ok")
    def do_POST(self):
        self.send_response(200); self.end_headers()
        if self.path == "/quitquitquit": sys.exit(0)
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;

/// Writes the service `web`: `instances` of the server at `{{version}}`, health-checked, with
/// `update` as the body of its `UpdateConfig`; returns the file's path.
fn web_file(cluster: &Cluster, instances: u32, cpu: &str, update: &str) -> String {
    let server = cluster.dir.path().join("server.py");
    std::fs::write(&server, SERVER).unwrap();
    let name: String = format!("web-{instances}-{cpu}-{update}").chars().filter(char::is_ascii_alphanumeric).collect();
    let file = cluster.dir.path().join(format!("{name}.rhai"));
    std::fs::write(
        &file,
        format!(
            r#"let web = Process(#{{ name: "web", cmdline: "exec python3 {server} {{{{thermos.ports[health]}}}} {{{{version}}}}" }});
let t = SequentialTask(#{{ processes: [web], resources: Resources(#{{ cpu: {cpu}, ram: 32 * MB, disk: 16 * MB }}) }});
let checks = HealthCheckConfig(#{{ initial_interval_secs: 5.0, interval_secs: 0.2, max_consecutive_failures: 2 }});
let jobs = [ Service(#{{ cluster: "devcluster", role: "www-data", environment: "devel", name: "web", instances: {instances},
    task: t, health_check_config: checks, update_config: UpdateConfig(#{{ {update} }}) }}) ];
"#,
            server = server.display()
        ),
    )
    .unwrap();
    file.display().to_string()
}

fn create(cluster: &Cluster, file: &str, version: &str) {
    let created =
        cluster.job(&["create", WEB, file, "--bind", &format!("version={version}"), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
}

fn instances(cluster: &Cluster) -> Vec<Value> {
    cluster.status(WEB)["instances"].as_array().cloned().unwrap_or_default()
}

fn config_versions(cluster: &Cluster) -> Vec<String> {
    instances(cluster).iter().map(|i| i["config_version"].as_str().unwrap_or_default().to_owned()).collect()
}

fn info(cluster: &Cluster) -> Value {
    let output = cluster.update(&["info", WEB, "--json"]);
    assert!(output.status.success(), "{}", printed(&output));
    serde_json::from_slice(&output.stdout).expect("update info --json prints JSON")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("an exit code")
}

/// The version each instance's newest run printed, from its sandbox's log.
fn versions_printed(cluster: &Cluster) -> Vec<String> {
    instances(cluster)
        .iter()
        .map(|i| {
            let sandbox = PathBuf::from(i["sandbox"].as_str().expect("a sandbox"));
            std::fs::read_to_string(sandbox.join(".logs/web/0/stdout")).unwrap_or_default().trim().to_owned()
        })
        .collect()
}

#[test]
fn an_update_rolls_a_healthy_service_forward_and_each_instance_shows_its_config() {
    let cluster = Cluster::start(10);
    let file = web_file(&cluster, 3, "0.1", "batch_size: 2, watch_secs: 1");
    create(&cluster, &file, "1");
    let before = config_versions(&cluster);
    assert!(before.iter().all(|v| v.len() == 64 && *v == before[0]), "{before:?}");

    let unchanged = cluster.update(&["start", WEB, &file, "--bind", "version=1"]);
    assert_eq!(code(&unchanged), 0, "{}", printed(&unchanged));
    assert_eq!(String::from_utf8_lossy(&unchanged.stdout).trim(), "Job is unchanged by proposed update.");

    let updated = cluster.update(&["start", WEB, &file, "--bind", "version=2", "--wait", "-m", "ship 2"]);
    assert_eq!(code(&updated), 0, "{}", printed(&updated));
    let stdout = String::from_utf8_lossy(&updated.stdout);
    assert!(
        stdout.starts_with("Update 1 of devcluster/www-data/devel/web ROLLED_FORWARD: 3 instance(s) in"),
        "{stdout}"
    );
    let progress = String::from_utf8_lossy(&updated.stderr);
    assert!(progress.contains("update 1: ROLLING_FORWARD batch 1/2:"), "a line per change when piped: {progress}");

    let after = config_versions(&cluster);
    assert!(after.iter().all(|v| *v == after[0] && *v != before[0]), "{after:?}");
    assert_eq!(versions_printed(&cluster), vec!["version 2"; 3]);
    let update = info(&cluster);
    assert_eq!((update["state"].as_str(), update["message"].as_str()), (Some("ROLLED_FORWARD"), Some("ship 2")));
    for instance in update["instances"].as_array().unwrap() {
        assert_eq!(instance["progress"], "SUCCEEDED");
        assert_eq!(instance["initial_config"], before[0].as_str());
        let actions: Vec<&str> =
            instance["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, vec!["INSTANCE_UPDATING", "INSTANCE_UPDATED"]);
    }
    let listed = cluster.update(&["list", "devcluster", "--json", "--status", "succeeded"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["updates"][0]["id"], 1);
    let table = cluster.update(&["list", "devcluster/www-data/devel/web"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.starts_with("ID  JOB") && table.contains("ROLLED_FORWARD  3/3 done, 0 failed"), "{table}");
}

#[test]
fn a_config_that_fails_its_health_checks_is_rolled_back_and_wait_exits_4() {
    let cluster = Cluster::start(10);
    let file = web_file(&cluster, 3, "0.1", "watch_secs: 1");
    create(&cluster, &file, "1");
    let before = config_versions(&cluster);
    let updated = cluster.update(&["start", WEB, &file, "--bind", "version=sick", "--wait"]);
    assert_eq!(code(&updated), 4, "{}", printed(&updated));
    let stderr = String::from_utf8_lossy(&updated.stderr);
    assert!(stderr.contains("ended ROLLED_BACK"), "{stderr}");
    let update = info(&cluster);
    assert_eq!(update["state"], "ROLLED_BACK");
    let failed = &update["instances"][0]["events"];
    let failure =
        failed.as_array().unwrap().iter().find(|e| e["action"] == "INSTANCE_UPDATE_FAILED").expect("a failure");
    assert!(failure["message"].as_str().unwrap().contains("health check"), "{failure}");
    assert_eq!(update["instances"].as_array().unwrap().len(), 3);
    assert_eq!(config_versions(&cluster), before, "every instance back on its old config");
    // The rolled-back instance may wait out its flapping backoff (up to 1 min) first.
    eventually("every instance to run again", Duration::from_secs(90), || {
        instances(&cluster).iter().all(|i| i["status"] == "RUNNING").then_some(())
    });
    let waited = cluster.update(&["wait", WEB]);
    assert_eq!(code(&waited), 4, "update wait of a rolled-back update: {}", printed(&waited));
}

#[test]
fn a_scheduler_killed_mid_update_carries_it_on_where_it_stood() {
    let mut cluster = Cluster::start(10);
    let file = web_file(&cluster, 3, "0.1", "watch_secs: 3");
    create(&cluster, &file, "1");
    let started = cluster.update(&["start", WEB, &file, "--bind", "version=2"]);
    assert_eq!(code(&started), 0, "{}", printed(&started));
    let first = eventually("instance 0 to be updated", Duration::from_secs(30), || {
        let update = info(&cluster);
        (update["instances"][0]["progress"] == "SUCCEEDED").then(|| instances(&cluster)[0]["task_id"].clone())
    });
    cluster.scheduler.take().expect("the scheduler").crash();
    cluster.start_scheduler(10);
    let waited = cluster.update(&["wait", WEB]);
    assert_eq!(code(&waited), 0, "{}", printed(&waited));
    assert_eq!(instances(&cluster)[0]["task_id"], first, "a finished instance is not updated again");
    let update = info(&cluster);
    for instance in update["instances"].as_array().unwrap() {
        let updating = instance["events"].as_array().unwrap().iter().filter(|e| e["action"] == "INSTANCE_UPDATING");
        assert_eq!(updating.count(), 1, "each instance started once: {instance}");
    }
    assert_eq!(versions_printed(&cluster), vec!["version 2"; 3]);
}

#[test]
fn updates_are_paused_resumed_pulsed_aborted_and_rolled_back_by_request() {
    let cluster = Cluster::start(10);
    let file = web_file(&cluster, 3, "0.1", "watch_secs: 2");
    create(&cluster, &file, "1");
    assert_eq!(code(&cluster.update(&["start", WEB, &file, "--bind", "version=2"])), 0);
    let paused = cluster.update(&["pause", WEB, "-m", "looking at graphs"]);
    assert_eq!(code(&paused), 0, "{}", printed(&paused));
    assert!(String::from_utf8_lossy(&paused.stdout).contains("paused: ROLL_FORWARD_PAUSED"), "{}", printed(&paused));
    let again = cluster.update(&["pause", WEB]);
    assert_eq!(code(&again), 4);
    assert!(String::from_utf8_lossy(&again.stderr).contains("cannot be paused now"), "{}", printed(&again));
    assert_eq!(code(&cluster.update(&["resume", WEB])), 0);
    let rolled_back = cluster.update(&["rollback", WEB, "--wait"]);
    assert_eq!(code(&rolled_back), 0, "{}", printed(&rolled_back));
    assert!(String::from_utf8_lossy(&rolled_back.stdout).contains("ROLLED_BACK"), "{}", printed(&rolled_back));
    let history: Vec<String> = info(&cluster)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    assert!(history.contains(&"Paused by request: looking at graphs".to_owned()), "{history:?}");

    assert_eq!(code(&cluster.update(&["start", WEB, &file, "--bind", "version=3"])), 0);
    let aborted = cluster.update(&["abort", WEB]);
    assert_eq!(code(&aborted), 0, "{}", printed(&aborted));
    assert_eq!(code(&cluster.update(&["wait", WEB])), 4, "an aborted update did not roll forward");
    assert_eq!(instances(&cluster).len(), 3, "no instance left without a task");

    let pulsed = web_file(&cluster, 3, "0.1", "watch_secs: 0, pulse_interval_secs: 60");
    assert_eq!(code(&cluster.update(&["start", WEB, &pulsed, "--bind", "version=4"])), 0);
    assert_eq!(info(&cluster)["state"], "ROLL_FORWARD_AWAITING_PULSE");
    assert_eq!(code(&cluster.update(&["pulse", WEB])), 0);
    let waited = cluster.update(&["wait", WEB]);
    assert_eq!(code(&waited), 0, "{}", printed(&waited));
    assert_eq!(versions_printed(&cluster), vec!["version 4"; 3]);
}

#[test]
fn diff_and_plan_show_what_an_update_would_do_and_the_update_does_it() {
    let cluster = Cluster::start(10);
    let small = web_file(&cluster, 2, "0.2", "watch_secs: 0");
    create(&cluster, &small, "1");
    let big = web_file(&cluster, 3, "0.4", "watch_secs: 0");

    let diff = cluster.job(&["diff", WEB, &big, "--bind", "version=1"]);
    assert_eq!(code(&diff), 0, "{}", printed(&diff));
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.contains("Instances 0-1 run config "), "{text}");
    assert!(text.contains("~ task.resources.cpu: 0.2 → 0.4"), "{text}");
    assert!(text.contains("Instance 2 would be added."), "{text}");
    let json: Value =
        serde_json::from_slice(&cluster.job(&["diff", WEB, &big, "--bind", "version=1", "--json"]).stdout).unwrap();
    assert_eq!(json["update"][0]["changes"][0]["field"], "task.resources.cpu");
    assert_eq!(json["add"], serde_json::json!([2]));

    let plan = cluster.job(&["plan", WEB, &big, "--bind", "version=1", "--json"]);
    assert_eq!(code(&plan), 0, "{}", printed(&plan));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["outcome"], "ROLLED_FORWARD");
    let planned: Vec<(String, String)> = plan["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["action"].as_str().unwrap().to_owned(), i["to_host"].as_str().unwrap_or("-").to_owned()))
        .collect();
    assert_eq!(planned.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), vec!["replace", "replace", "create"]);
    let text = String::from_utf8_lossy(&cluster.job(&["plan", WEB, &big, "--bind", "version=1"]).stdout).into_owned();
    assert!(text.contains("INSTANCE  ACTION   FROM") && text.contains("would end ROLLED_FORWARD"), "{text}");

    let updated = cluster.update(&["start", WEB, &big, "--bind", "version=1", "--wait"]);
    assert_eq!(code(&updated), 0, "{}", printed(&updated));
    let hosts: Vec<String> = instances(&cluster).iter().map(|i| i["host"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        hosts,
        planned.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>(),
        "the plan's placements are the update's"
    );

    // What cannot be placed is planned with its reason and host counts.
    let huge = web_file(&cluster, 3, "4", "watch_secs: 0");
    let plan = cluster.job(&["plan", WEB, &huge, "--bind", "version=1"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("Instance 0 cannot be placed: Insufficient: CPU (2 host(s): agent-1, agent-2)"), "{text}");
}

#[test]
fn the_progress_view_redraws_on_a_terminal() {
    let cluster = Cluster::start(10);
    let file = web_file(&cluster, 2, "0.1", "watch_secs: 1");
    create(&cluster, &file, "1");
    let command = format!(
        "{} update start {WEB} {file} --bind version=2 --wait --scheduler {}",
        atoll_tests::atoll_binary().display(),
        cluster.url
    );
    let output =
        std::process::Command::new("script").args(["-qec", &command, "/dev/null"]).output().expect("run script");
    let seen = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{seen}");
    assert!(seen.contains("Update 1 of devcluster/www-data/devel/web: ROLLING_FORWARD, batch 1 of 2"), "{seen}");
    assert!(seen.contains("\u{1b}[2F\u{1b}[J"), "redrawn in place: {seen:?}");
    assert!(seen.contains("[##############################] 2/2 done"), "{seen}");
}

#[test]
fn refusals_name_the_problem_with_auroras_exit_codes() {
    let cluster = Cluster::start(10);
    let file = web_file(&cluster, 2, "0.1", "watch_secs: 30");
    let never = cluster.update(&["info", WEB]);
    assert_eq!(code(&never), 10, "{}", printed(&never));
    let unknown = cluster.update(&["start", WEB, &file, "--bind", "version=1"]);
    assert_eq!(code(&unknown), 10, "{}", printed(&unknown));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("Job devcluster/www-data/devel/web not found"));
    create(&cluster, &file, "1");
    let info = cluster.update(&["info", WEB]);
    assert_eq!(code(&info), 10);
    assert!(String::from_utf8_lossy(&info.stderr).contains("has never been updated"), "{}", printed(&info));
    let nothing = cluster.update(&["pause", WEB]);
    assert_eq!(code(&nothing), 4);
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("has no update in progress"), "{}", printed(&nothing));
    assert_eq!(code(&cluster.update(&["start", WEB, &file, "--bind", "version=2"])), 0);
    let twice = cluster.update(&["start", WEB, &file, "--bind", "version=3"]);
    assert_eq!(code(&twice), 4);
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("is already being updated (update 1"),
        "{}",
        printed(&twice)
    );
    let restart = cluster.job(&["restart", WEB]);
    assert_eq!(code(&restart), 4, "{}", printed(&restart));

    let batch_file = cluster.dir.path().join("batch.rhai");
    std::fs::write(
        &batch_file,
        r#"let p = Process(#{ name: "work", cmdline: "sleep 600" });
let t = SequentialTask(#{ processes: [p], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "batch", task: t, max_task_failures: 3 }) ];
"#,
    )
    .unwrap();
    let batch = "devcluster/www-data/devel/batch";
    let batch_path = batch_file.display().to_string();
    assert!(cluster.job(&["create", batch, &batch_path]).status.success());
    std::fs::write(&batch_file, std::fs::read_to_string(&batch_file).unwrap().replace("sleep 600", "sleep 700"))
        .unwrap();
    let refused = cluster.update(&["start", batch, &batch_path]);
    assert_eq!(code(&refused), 3, "{}", printed(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Updates are not supported for non-service tasks"));
    let broken = cluster.dir.path().join("broken.rhai");
    std::fs::write(&broken, "let jobs = [").unwrap();
    assert_eq!(code(&cluster.update(&["start", WEB, broken.to_str().unwrap()])), 3);
    assert_eq!(code(&cluster.update(&["list", "devcluster", "--status", "done"])), 6);
}

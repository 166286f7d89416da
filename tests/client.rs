//! The client as a person meets it, through the real binary: history a person can see (`job
//! status --history`, `task events`, every state `--wait-until` passes through, `job why`'s run
//! so far, `job list` counting instances), options anywhere on the line, and completions and
//! the manual made from the same definitions.

use atoll_tests::{Cluster, atoll, printed};
use serde_json::Value;

const FLAKY: &str = "devcluster/www-data/devel/flaky";

/// An ad-hoc job whose only instance fails its first run and finishes its second: each run
/// counts the runs so far in a file outside the sandbox.
fn flaky_file(cluster: &Cluster) -> String {
    let counter = cluster.dir.path().join("runs");
    let file = cluster.dir.path().join("flaky.rhai");
    std::fs::write(
        &file,
        format!(
            r#"let p = Process(#{{ name: "work", cmdline: "echo run >> {counter}; test $(wc -l < {counter}) -ge 2 || exit 7" }});
let t = SequentialTask(#{{ processes: [p], resources: Resources(#{{ cpu: 0.01, ram: 4 * MB, disk: 4 * MB }}) }});
let jobs = [ Job(#{{ cluster: "devcluster", role: "www-data", environment: "devel", name: "flaky", task: t, max_task_failures: 3 }}) ];
"#,
            counter = counter.display()
        ),
    )
    .unwrap();
    file.display().to_string()
}

#[test]
fn history_is_there_to_see_and_waiting_shows_every_state_passed_through() {
    let cluster = Cluster::start(10);
    let file = flaky_file(&cluster);
    let created = cluster.job(&["create", FLAKY, &file, "--wait-until", "FINISHED", "--wait-timeout-secs", "120"]);
    assert!(created.status.success(), "{}", printed(&created));
    let seen = String::from_utf8_lossy(&created.stderr);
    for state in ["PENDING", "ASSIGNED", "RUNNING", "FINISHED"] {
        assert!(seen.contains(&format!("{FLAKY}/0: {state}")), "{state} in {seen}");
    }
    assert!(seen.contains(&format!("{FLAKY}/0: FAILED (")), "the failed first run, with its reason: {seen}");
    assert!(seen.contains(&format!("{FLAKY}/0: THROTTLED (")), "the throttled retry: {seen}");

    let plain = String::from_utf8_lossy(&cluster.job(&["status", FLAKY]).stdout).into_owned();
    assert_eq!(plain.lines().count(), 3, "the current run only: {plain}");
    let history = String::from_utf8_lossy(&cluster.job(&["status", FLAKY, "--history"]).stdout).into_owned();
    assert!(history.lines().any(|l| l.contains("  FAILED 20") && l.contains("exit 7")), "{history}");
    let json: Value = serde_json::from_slice(&cluster.job(&["status", FLAKY, "--json"]).stdout).unwrap();
    assert_eq!(json["instances"][0]["status"], "FINISHED");
    assert_eq!(json["instances"][0]["history"][0]["status"], "FAILED");
    assert_eq!(json["instances"][0]["history"][0]["exit_code"], 7);

    let events = atoll(&["task", "events", &format!("{FLAKY}/0"), "--scheduler", &cluster.url]);
    assert!(events.status.success(), "{}", printed(&events));
    let events = String::from_utf8_lossy(&events.stdout);
    let states: Vec<&str> = events.lines().skip(2).filter_map(|l| l.split_whitespace().nth(2)).collect();
    let first_failed = states.iter().position(|s| *s == "FAILED").expect("FAILED");
    let finished = states.iter().position(|s| *s == "FINISHED").expect("FINISHED");
    assert!(first_failed < finished, "oldest first over both runs: {events}");
    assert!(events.contains("agent-"), "each with its host: {events}");

    let why = String::from_utf8_lossy(&cluster.job(&["why", &format!("{FLAKY}/0")]).stdout).into_owned();
    assert!(why.contains("This run so far:") && why.contains("FINISHED"), "{why}");
    assert!(!why.contains(" ms"), "times are times: {why}");

    let listed: Value = serde_json::from_slice(&cluster.job(&["list", "devcluster", "--json"]).stdout).unwrap();
    let flaky = listed["jobs"].as_array().unwrap().iter().find(|j| j["job"] == FLAKY).expect("listed").clone();
    assert_eq!(
        (flaky["finished"].as_u64(), flaky["failed"].as_u64()),
        (Some(1), Some(0)),
        "one instance, by its newest run: {flaky}"
    );
}

#[test]
fn options_go_anywhere_on_the_line_and_unused_ones_are_refused() {
    let cluster = Cluster::start(10);
    let before = atoll(&["--scheduler", &cluster.url, "job", "list", "devcluster"]);
    assert!(before.status.success(), "before the subcommand: {}", printed(&before));
    let after = atoll(&["job", "list", "devcluster", "--scheduler", &cluster.url]);
    assert_eq!(before.stdout, after.stdout);
    let hosts = atoll(&["--cluster", "devcluster", "host", "status", "--scheduler", &cluster.url, "--json"]);
    assert!(hosts.status.success(), "{}", printed(&hosts));
    let mismatch =
        atoll(&["job", "status", "devcluster/www-data/devel/x", "--cluster", "east", "--scheduler", &cluster.url]);
    assert_eq!(mismatch.status.code(), Some(6));
    assert!(printed(&mismatch).contains("--cluster east does not match the cluster this names, devcluster"));
    let unused = atoll(&["config", "list", "examples/hello_world.rhai", "--scheduler", &cluster.url]);
    assert_eq!(unused.status.code(), Some(6));
    assert!(printed(&unused).contains("atoll config takes no --scheduler"), "{}", printed(&unused));
    let unreachable = atoll(&["job", "list", "devcluster", "--scheduler", "http://127.0.0.1:1"]);
    let message = printed(&unreachable);
    assert_eq!(message.matches("Connection refused").count(), 1, "said once: {message}");
}

#[test]
fn completions_and_the_manual_come_from_the_same_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let script = atoll(&["completions", shell]);
        assert!(script.status.success(), "{}", printed(&script));
        let text = String::from_utf8_lossy(&script.stdout);
        assert!(text.contains("update") && text.contains("rollback") && text.contains("events"), "{shell}");
    }
    let bash = atoll(&["completions", "bash"]);
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg("/dev/stdin")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(&bash.stdout)?;
            child.wait()
        })
        .expect("run bash -n");
    assert!(checked.success(), "the bash script parses");
    let man = atoll(&["man"]);
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.contains(".TH atoll") && page.contains("update"), "{}", &page[..page.len().min(300)]);
    let refused = atoll(&["completions", "powershell-core"]);
    assert_eq!(refused.status.code(), Some(6), "an unknown shell is a bad parameter");
}

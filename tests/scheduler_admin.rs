//! The scheduler's operator-facing decisions end to end, through the real binary, gRPC and two
//! agents: why an instance is pending, draining a host, production quota, rolling restarts and
//! added instances.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use atoll_tests::{Cluster, atoll, eventually, printed, workspace_root};
use serde_json::Value;

const HELLO: &str = "devcluster/www-data/devel/hello";

fn hello_file() -> String {
    workspace_root().join("examples/hello_world.rhai").display().to_string()
}

/// Writes a job file defining `devcluster/www-data/devel/NAME` with `fields` (Rhai map entries).
fn job_file(cluster: &Cluster, name: &str, cpu: &str, fields: &str) -> String {
    let text = format!(
        r#"
let p = Process(#{{ name: "sleep", cmdline: "sleep 600" }});
let t = Task(#{{ processes: [p], resources: Resources(#{{ cpu: {cpu}, ram: 16 * MB, disk: 16 * MB }}) }});
let jobs = [ Service(#{{ cluster: "devcluster", role: "www-data", environment: "devel", name: "{name}", task: t, {fields} }}) ];
"#
    );
    let path: PathBuf = cluster.dir.path().join(format!("{name}.rhai"));
    std::fs::write(&path, text).expect("write job file");
    path.display().to_string()
}

/// Runs `atoll ARGS --scheduler URL`.
fn admin(cluster: &Cluster, args: &[&str]) -> Output {
    atoll(&[args, &["--scheduler", &cluster.url]].concat())
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{}", printed(output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", printed(output)))
}

fn instance(status: &Value, index: usize) -> &Value {
    &status["instances"][index]
}

#[test]
fn why_explains_an_unplaceable_instance_with_host_counts_and_names() {
    let cluster = Cluster::start(10);
    let big = "devcluster/www-data/devel/big";
    let created = cluster.job(&["create", big, &job_file(&cluster, "big", "64.0", "")]);
    assert!(created.status.success(), "{}", printed(&created));

    let pending = eventually("a placement round to explain the task", Duration::from_secs(10), || {
        let status = cluster.status(big);
        let pending = instance(&status, 0)["pending"].clone();
        (!pending.is_null()).then_some(pending)
    });
    assert_eq!(pending["summary"], "Insufficient: CPU");
    assert_eq!(pending["vetoes"][0]["reason"], "Insufficient: CPU");
    assert_eq!(pending["vetoes"][0]["hosts"], 2);
    assert_eq!(pending["vetoes"][0]["examples"], serde_json::json!(["agent-1", "agent-2"]));

    let why = cluster.job(&["why", &format!("{big}/0")]);
    assert!(why.status.success(), "{}", printed(&why));
    let text = String::from_utf8_lossy(&why.stdout);
    assert!(text.contains(&format!("{big}/0 is PENDING")), "{text}");
    assert!(text.contains("Why it is not placed: Insufficient: CPU"), "{text}");
    assert!(text.contains("Insufficient: CPU  2      agent-1, agent-2"), "{text}");

    let missing = cluster.job(&["why", &format!("{big}/5")]);
    assert_eq!(missing.status.code(), Some(6), "{}", printed(&missing));
}

#[test]
fn a_drained_host_hands_its_instance_to_the_other_agent_and_ends_drained() {
    let cluster = Cluster::start(10);
    let created = cluster.job(&["create", HELLO, &hello_file(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let first = instance(&cluster.status(HELLO), 0).clone();
    let host = first["host"].as_str().expect("a running task has a host").to_owned();

    // Deactivating only schedules maintenance: the task stays where it is.
    let deactivated = json_of(&admin(&cluster, &["host", "deactivate", &host, "--json"]));
    assert_eq!(deactivated["hosts"][0]["mode"], "SCHEDULED", "{deactivated}");
    let still = instance(&cluster.status(HELLO), 0).clone();
    assert_eq!((&still["task_id"], &still["status"]), (&first["task_id"], &first["status"]));

    let drained = admin(&cluster, &["host", "drain", &host]);
    assert!(drained.status.success(), "{}", printed(&drained));
    let moved = eventually("the instance to run on the other agent", Duration::from_secs(30), || {
        let task = instance(&cluster.status(HELLO), 0).clone();
        (task["status"] == "RUNNING" && task["host"] != host.as_str()).then_some(task)
    });
    assert_ne!(moved["task_id"], first["task_id"], "a new task, not the old one moved");
    let mode = eventually("the host to be DRAINED", Duration::from_secs(10), || {
        let status = json_of(&admin(&cluster, &["host", "status", &host, "--json"]));
        (status["hosts"][0]["mode"] == "DRAINED").then_some(status)
    });
    assert_eq!(mode["hosts"][0]["host"], host.as_str());

    let why = cluster.job(&["why", &format!("{HELLO}/0")]);
    assert!(String::from_utf8_lossy(&why.stdout).contains("is RUNNING"), "{}", printed(&why));
    let active = json_of(&admin(&cluster, &["host", "activate", &host, "--json"]));
    assert_eq!(active["hosts"][0]["mode"], "NONE");
    let unknown = admin(&cluster, &["host", "status", "nowhere"]);
    assert_eq!(unknown.status.code(), Some(6), "{}", printed(&unknown));
    assert!(printed(&unknown).contains("unknown host(s): nowhere"), "{}", printed(&unknown));
}

#[test]
fn new_tasks_avoid_a_host_scheduled_for_maintenance() {
    let cluster = Cluster::start(10);
    let names = ["agent-1".to_owned(), "agent-2".to_owned()];
    eventually("both agents to register", Duration::from_secs(10), || {
        let hosts = json_of(&admin(&cluster, &["host", "status", "--json"]));
        (hosts["hosts"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
    // Each host in turn is scheduled for maintenance, so whichever host placement would prefer
    // otherwise, one of the rounds goes against that preference.
    for (round, (scheduled, open)) in [(&names[0], &names[1]), (&names[1], &names[0])].into_iter().enumerate() {
        let deactivated = admin(&cluster, &["host", "deactivate", scheduled]);
        assert!(deactivated.status.success(), "{}", printed(&deactivated));
        assert!(String::from_utf8_lossy(&deactivated.stdout).contains("SCHEDULED"), "{}", printed(&deactivated));
        let activated = admin(&cluster, &["host", "activate", open]);
        assert!(activated.status.success(), "{}", printed(&activated));

        let name = format!("spread-{round}");
        let file = job_file(&cluster, &name, "0.1", "instances: 3,");
        let job = format!("devcluster/www-data/devel/{name}");
        let created = cluster.job(&["create", &job, &file, "--wait-until", "RUNNING"]);
        assert!(created.status.success(), "{}", printed(&created));
        let status = cluster.status(&job);
        for index in 0..3 {
            assert_eq!(instance(&status, index)["host"], open.as_str(), "{status}");
        }
    }
}

#[test]
fn production_jobs_past_the_quota_are_refused_with_auroras_message() {
    let cluster = Cluster::start(10);
    // No quota yet: no production job at all, as in Aurora.
    let early = job_file(&cluster, "early", "0.1", "production: true");
    let refused = cluster.job(&["create", "devcluster/www-data/devel/early", &early]);
    assert_eq!(refused.status.code(), Some(4), "{}", printed(&refused));
    assert!(
        printed(&refused).contains(
            "Insufficient resource quota: role www-data has no quota for production jobs; an operator gives it one with `atoll quota set devcluster/www-data CPU RAM DISK`"
        ),
        "{}",
        printed(&refused)
    );
    let none = admin(&cluster, &["quota", "get", "devcluster/www-data"]);
    assert!(printed(&none).contains("quota                 none"), "{}", printed(&none));

    let set = admin(&cluster, &["quota", "set", "devcluster/www-data", "0.1", "16MB", "1GB"]);
    assert!(set.status.success(), "{}", printed(&set));

    let two = job_file(&cluster, "prod", "0.1", "production: true, instances: 2");
    let refused = cluster.job(&["create", "devcluster/www-data/devel/prod", &two]);
    assert_eq!(refused.status.code(), Some(4), "{}", printed(&refused));
    assert!(
        printed(&refused).contains(
            "Insufficient resource quota: CPU quota exceeded by 0.10 core(s); RAM quota exceeded by 16.00 MB"
        ),
        "{}",
        printed(&refused)
    );

    let one = job_file(&cluster, "single", "0.1", "production: true");
    let created = cluster.job(&["create", "devcluster/www-data/devel/single", &one]);
    assert!(created.status.success(), "{}", printed(&created));
    let quota = json_of(&admin(&cluster, &["quota", "get", "devcluster/www-data", "--json"]));
    assert_eq!(quota["quota"]["cpu"], 0.1);
    assert_eq!(quota["quota"]["disk_mb"], 1024);
    assert_eq!(quota["production"]["ram_mb"], 16);
    assert_eq!(quota["non_production"]["ram_mb"], 0);
}

#[test]
fn added_instances_run_and_a_restart_gives_every_instance_a_new_task() {
    let cluster = Cluster::start(10);
    let created = cluster.job(&["create", HELLO, &hello_file(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));

    let added = cluster.job(&["add", &format!("{HELLO}/0"), "2"]);
    assert!(added.status.success(), "{}", printed(&added));
    assert!(String::from_utf8_lossy(&added.stdout).contains("Added 2 instance(s)"), "{}", printed(&added));
    let before = eventually("three running instances", Duration::from_secs(30), || {
        let status = cluster.status(HELLO);
        let instances = status["instances"].as_array().cloned().unwrap_or_default();
        (instances.len() == 3 && instances.iter().all(|t| t["status"] == "RUNNING")).then_some(instances)
    });
    assert_eq!(before.iter().map(|t| t["instance"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2]);

    let restarted = cluster.job(&["restart", HELLO, "--batch-size", "2", "--wait-timeout-secs", "60"]);
    assert!(restarted.status.success(), "{}", printed(&restarted));
    assert!(String::from_utf8_lossy(&restarted.stdout).contains("Restarted 3 instance(s)"), "{}", printed(&restarted));
    let after = cluster.status(HELLO);
    for (index, old) in before.iter().enumerate() {
        let new = instance(&after, index);
        assert_eq!(new["status"], "RUNNING", "{after}");
        assert_ne!(new["task_id"], old["task_id"], "instance {index} runs a new task: {after}");
    }
    let killall = cluster.job(&["killall", HELLO]);
    assert!(killall.status.success(), "{}", printed(&killall));
}

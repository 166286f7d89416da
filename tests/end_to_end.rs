//! End to end through every real boundary: the `atoll` binary as a scheduler and two agents
//! (separate processes on loopback ports chosen at run time), real gRPC, real sled files, real
//! executors and processes. A job goes from its Rhai file to a running process and back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use atoll_tests::{
    Cluster, Daemon, atoll, eventually, executor_status, group_alive, kill_sandbox_processes, printed, workspace_root,
};

const HELLO: &str = "devcluster/www-data/devel/hello";

fn hello_file() -> String {
    workspace_root().join("examples/hello_world.rhai").display().to_string()
}

fn instance(status: &serde_json::Value, index: usize) -> &serde_json::Value {
    &status["instances"][index]
}

fn process_groups(sandbox: &str) -> Vec<i32> {
    let status = executor_status(Path::new(sandbox)).unwrap_or_default();
    status["process_groups"].as_array().into_iter().flatten().filter_map(|g| g.as_i64()).map(|g| g as i32).collect()
}

#[test]
fn hello_world_runs_is_killed_and_survives_a_scheduler_restart() {
    let mut cluster = Cluster::start(10);

    let created = cluster.job(&["create", HELLO, &hello_file(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "create failed: {}", printed(&created));

    let status = cluster.status(HELLO);
    assert_eq!(status["job"], HELLO);
    let task = instance(&status, 0);
    assert_eq!(task["status"], "RUNNING", "{status}");
    assert!(["agent-1", "agent-2"].contains(&task["host"].as_str().unwrap()), "{status}");
    let sandbox = task["sandbox"].as_str().expect("a running task has a sandbox").to_owned();
    let stdout = PathBuf::from(&sandbox).join(".logs/hello/0/stdout");
    eventually("hello world in the sandbox's stdout", Duration::from_secs(10), || {
        std::fs::read_to_string(&stdout).ok().filter(|text| text.contains("hello world"))
    });
    let groups = process_groups(&sandbox);
    assert_eq!(groups.len(), 1, "one process, one group");
    assert!(group_alive(groups[0]));

    // A scheduler restart leaves the task running; the agent reconnects and reconciles.
    cluster.scheduler.take().expect("scheduler running").stop();
    cluster.start_scheduler(10);
    let status = cluster.status(HELLO);
    assert_eq!(instance(&status, 0)["status"], "RUNNING", "{status}");
    assert_eq!(instance(&status, 0)["task_id"], task["task_id"], "the same run, not a new one: {status}");
    assert!(group_alive(groups[0]), "the task's processes outlive the scheduler");

    let again = cluster.job(&["create", HELLO, &hello_file()]);
    assert_eq!(again.status.code(), Some(4), "{}", printed(&again));
    assert!(printed(&again).contains("Job devcluster/www-data/devel/hello already exists"), "{}", printed(&again));

    let no_such = cluster.job(&["kill", &format!("{HELLO}/3")]);
    assert_eq!(no_such.status.code(), Some(6), "{}", printed(&no_such));
    assert!(printed(&no_such).contains("has no instance 3"), "{}", printed(&no_such));

    let killed = cluster.job(&["kill", &format!("{HELLO}/0")]);
    assert!(killed.status.success(), "kill failed: {}", printed(&killed));
    assert_eq!(instance(&cluster.status(HELLO), 0)["status"], "KILLED");
    eventually("the task's process group to be gone", Duration::from_secs(10), || {
        (!group_alive(groups[0])).then_some(())
    });

    let scheduler = cluster.scheduler.take().expect("scheduler running");
    assert!(scheduler.stop().success(), "the scheduler exits cleanly on SIGTERM");
    cluster.start_scheduler(10);
    let status = cluster.status(HELLO);
    assert_eq!(instance(&status, 0)["status"], "KILLED", "the job and its task are back: {status}");
    let listed = cluster.job(&["list", "devcluster", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("job list --json prints JSON");
    assert_eq!(listed["jobs"][0]["job"], HELLO);
    let killed = cluster.job(&["killall", HELLO]);
    assert!(killed.status.success(), "{}", printed(&killed));
}

#[test]
fn a_crashed_agent_loses_its_task_and_the_service_moves_to_the_other_agent() {
    let mut cluster = Cluster::start(2);
    let created = cluster.job(&["create", HELLO, &hello_file(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "create failed: {}", printed(&created));
    let first = instance(&cluster.status(HELLO), 0).clone();
    let host = first["host"].as_str().unwrap().to_owned();
    let sandbox = PathBuf::from(first["sandbox"].as_str().unwrap());

    let index = cluster.agents.iter().position(|a| a.name == host).expect("the task's agent");
    cluster.agents.remove(index).crash();
    // The executor outlives its agent by design; this test cleans it up itself.
    let moved = eventually("the service to run on the other agent", Duration::from_secs(30), || {
        let status = cluster.status(HELLO);
        let task = instance(&status, 0).clone();
        (task["status"] == "RUNNING" && task["host"] != host.as_str()).then_some(task)
    });
    kill_sandbox_processes(&sandbox);
    assert_ne!(moved["task_id"], first["task_id"]);

    let killall = cluster.job(&["killall", HELLO]);
    assert!(killall.status.success(), "{}", printed(&killall));
}

#[test]
fn bad_input_gets_aurora_exit_codes_and_names_the_problem() {
    let cluster = Cluster::start(10);

    let unknown = cluster.job(&["status", "devcluster/www-data/devel/nope"]);
    assert_eq!(unknown.status.code(), Some(10), "{}", printed(&unknown));
    assert!(printed(&unknown).contains("devcluster/www-data/devel/nope"), "{}", printed(&unknown));

    let malformed = cluster.job(&["status", "devcluster/www-data/nope"]);
    assert_eq!(malformed.status.code(), Some(6), "{}", printed(&malformed));
    assert!(printed(&malformed).contains("CLUSTER/ROLE/ENV/NAME"), "{}", printed(&malformed));

    let dead = format!("http://127.0.0.1:{}", atoll_tests::free_port());
    let unreachable = atoll(&["job", "list", "devcluster", "--scheduler", &dead]);
    assert_eq!(unreachable.status.code(), Some(7), "{}", printed(&unreachable));
    assert!(printed(&unreachable).contains(&dead), "{}", printed(&unreachable));

    let broken = cluster.dir.path().join("broken.rhai");
    std::fs::write(&broken, "let jobs = [\n  Service(#{ cluster: \"devcluster\" role: 1 })\n];\n").unwrap();
    let invalid = cluster.job(&["create", HELLO, broken.to_str().unwrap()]);
    assert_eq!(invalid.status.code(), Some(3), "{}", printed(&invalid));
    assert!(printed(&invalid).contains(&format!("{}:2:", broken.display())), "{}", printed(&invalid));

    let other = cluster.job(&["create", "devcluster/www-data/devel/other", &hello_file()]);
    assert_eq!(other.status.code(), Some(3), "{}", printed(&other));
    assert!(printed(&other).contains("defines no job devcluster/www-data/devel/other"), "{}", printed(&other));

    let mut bad_agent = Daemon::start(
        "bad-agent",
        cluster.dir.path(),
        &["agent", "--scheduler", &cluster.url, "--work-dir", "/tmp/unused", "--resources", "cpus:4;mem:lots;disk:1"],
    );
    let exit = bad_agent.wait(Duration::from_secs(10));
    assert_eq!(exit.code(), Some(6));
    assert!(bad_agent.log().contains("'mem:lots'"), "{}", bad_agent.log());

    let data = cluster.dir.path().join("scheduler");
    let mut second = Daemon::start(
        "second-scheduler",
        cluster.dir.path(),
        &["scheduler", "--data-dir", data.to_str().unwrap(), "--grpc", "127.0.0.1:0"],
    );
    let exit = second.wait(Duration::from_secs(10));
    assert_eq!(exit.code(), Some(4));
    assert!(second.log().contains("in use by another scheduler"), "{}", second.log());
}

#[test]
fn atoll_dev_runs_the_job_and_ctrl_c_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let port = atoll_tests::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let grpc = format!("127.0.0.1:{port}");
    let mut dev = Daemon::start(
        "dev",
        dir.path(),
        &["dev", "--grpc", &grpc, "--http", "127.0.0.1:0", "--agents", "2", &hello_file()],
    );
    let task = eventually("hello to run under atoll dev", Duration::from_secs(30), || {
        let output = atoll(&["job", "status", HELLO, "--json", "--scheduler", &url]);
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        let task = instance(&status, 0).clone();
        (task["status"] == "RUNNING").then_some(task)
    });
    let sandbox = PathBuf::from(task["sandbox"].as_str().unwrap());
    let groups = eventually("the task's process group", Duration::from_secs(10), || {
        Some(process_groups(sandbox.to_str().unwrap())).filter(|g| !g.is_empty())
    });

    eventually("atoll dev to show the instance RUNNING", Duration::from_secs(10), || {
        dev.log().contains("RUNNING").then_some(())
    });
    dev.signal(atoll_tests::Signal::SIGINT);
    let exit = dev.wait(Duration::from_secs(60));
    assert!(exit.success(), "atoll dev exits 0 on Ctrl-C: {}", dev.log());
    assert!(dev.log().contains("Stopped."), "{}", dev.log());
    eventually("every task process to be gone", Duration::from_secs(10), || {
        groups.iter().all(|g| !group_alive(*g)).then_some(())
    });
    assert!(!sandbox.exists(), "the temporary data directory is removed: {}", sandbox.display());
}

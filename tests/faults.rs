//! Faults an operator meets, through the real binary: a second agent started under the name
//! of a live one is refused and takes none of its tasks; an executor whose agent never comes
//! back ends its task LOST after the recovery timeout and exits; finished tasks' sandboxes are
//! removed past their retention and count, at start too; and the test harness itself ends
//! every task a test leaves behind.

use std::path::Path;
use std::time::Duration;

use atoll_tests::{Cluster, eventually, executor_status, group_alive, printed};
use serde_json::Value;

const HELLO: &str = "devcluster/www-data/devel/hello";

fn running(cluster: &Cluster) -> Value {
    let created = cluster.job(&["create", HELLO, &cluster.sleeping_service(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    cluster.status(HELLO)["instances"][0].clone()
}

fn process_group(sandbox: &str) -> i32 {
    let status = executor_status(Path::new(sandbox)).expect("a status line");
    status["process_groups"][0].as_i64().expect("a process group") as i32
}

#[test]
fn a_second_agent_under_a_live_agents_name_is_refused_and_takes_none_of_its_tasks() {
    let cluster = Cluster::start(10);
    let task = running(&cluster);
    let host = task["host"].as_str().unwrap().to_owned();
    let work = cluster.dir.path().join("impostor");
    let mut impostor = cluster.start_extra_agent(&host, &work, "cpus:1;mem:512;disk:512", &[]);
    let exited = impostor.wait(Duration::from_secs(30));
    assert!(!exited.success(), "refused agents exit with an error");
    let log = impostor.log();
    assert!(
        log.contains(&format!("the scheduler refused this agent: agent id '{host}' is in use by another agent"))
            && log.contains("give this agent a name of its own with --hostname"),
        "{log}"
    );
    let after = cluster.status(HELLO)["instances"][0].clone();
    assert_eq!((&after["task_id"], &after["status"]), (&task["task_id"], &Value::from("RUNNING")), "{after}");
    assert!(group_alive(process_group(task["sandbox"].as_str().unwrap())), "the task runs on");
    // The first agent is still the one the scheduler talks to: a kill reaches its task.
    let killed = cluster.job(&["killall", HELLO]);
    assert!(killed.status.success(), "{}", printed(&killed));
}

#[test]
fn an_executor_whose_agent_never_comes_back_ends_its_task_lost_and_exits() {
    let mut cluster = Cluster::start_with_agent_flags(60, &["--executor-recovery-timeout-secs", "2"]);
    let task = running(&cluster);
    let sandbox = task["sandbox"].as_str().unwrap().to_owned();
    let status = executor_status(Path::new(&sandbox)).expect("a status line");
    let executor = status["executor_pid"].as_i64().expect("an executor pid") as i32;
    let group = process_group(&sandbox);

    cluster.crash_agent(task["host"].as_str().unwrap());
    let ended = eventually("the executor to give the task up", Duration::from_secs(30), || {
        executor_status(Path::new(&sandbox)).filter(|s| s["state"] == "LOST")
    });
    let message = ended["message"].as_str().unwrap();
    assert!(message.contains("longer than the executor's recovery timeout of 2s"), "{message}");
    eventually("the task's processes to be gone", Duration::from_secs(10), || (!group_alive(group)).then_some(()));
    eventually("the executor to exit", Duration::from_secs(10), || {
        let state = std::fs::read_to_string(format!("/proc/{executor}/stat")).unwrap_or_default();
        let exited =
            state.is_empty() || state.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        exited.then_some(())
    });
}

#[test]
fn the_harness_ends_the_tasks_a_test_leaves_behind() {
    let mut cluster = Cluster::start(10);
    let task = running(&cluster);
    let group = process_group(task["sandbox"].as_str().unwrap());
    // A crashed agent leaves its executor and task running, as a failing test might.
    cluster.crash_agent(task["host"].as_str().unwrap());
    assert!(group_alive(group), "the task outlives its agent");
    drop(cluster);
    eventually("the left task to be gone", Duration::from_secs(10), || (!group_alive(group)).then_some(()));
}

/// The sandboxes in agent `index`'s work directory whose end the scheduler acknowledged.
fn finished_sandboxes(cluster: &Cluster, index: u32) -> Vec<String> {
    let dir = cluster.dir.path().join(format!("agent-{index}/sandboxes"));
    let entries = std::fs::read_dir(dir).map(|e| e.flatten().collect::<Vec<_>>()).unwrap_or_default();
    entries
        .into_iter()
        .filter(|e| e.path().join(".executor/acknowledged").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn finished_sandboxes_are_removed_past_their_count_and_age_and_running_ones_stay() {
    let mut cluster = Cluster::start_with_agent_flags(10, &["--sandbox-retention-secs", "4", "--sandboxes-kept", "1"]);
    let service = running(&cluster);
    let service_sandbox = service["sandbox"].as_str().unwrap().to_owned();
    let file = cluster.dir.path().join("batch.rhai");
    std::fs::write(
        &file,
        r#"let p = Process(#{ name: "done", cmdline: "echo done" });
let t = SequentialTask(#{ processes: [p], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "batch", instances: 6, task: t }) ];
"#,
    )
    .unwrap();
    let batch = "devcluster/www-data/devel/batch";
    let created = cluster.job(&["create", batch, file.to_str().unwrap(), "--wait-until", "FINISHED"]);
    assert!(created.status.success(), "{}", printed(&created));
    // Six finished, at most one kept on each agent, then none once four seconds have passed.
    eventually("at most one finished sandbox on each agent", Duration::from_secs(20), || {
        [1, 2].iter().all(|&i| finished_sandboxes(&cluster, i).len() <= 1).then_some(())
    });
    eventually("no finished sandbox past the retention", Duration::from_secs(20), || {
        [1, 2].iter().all(|&i| finished_sandboxes(&cluster, i).is_empty()).then_some(())
    });
    assert!(Path::new(&service_sandbox).is_dir(), "a running task's sandbox stays");
    assert_eq!(cluster.status(HELLO)["instances"][0]["status"], "RUNNING");
    let logs = atoll_tests::atoll(&["task", "logs", &format!("{batch}/0"), "--scheduler", &cluster.url]);
    assert!(!logs.status.success());
    assert!(printed(&logs).contains("it ended and its sandbox was removed"), "{}", printed(&logs));

    // An agent starting over a work directory of many finished sandboxes keeps only its count.
    let host = service["host"].as_str().unwrap().to_owned();
    let index: u32 = host.trim_start_matches("agent-").parse().unwrap();
    cluster.crash_agent(&host);
    for n in 0..50 {
        let old = cluster.dir.path().join(format!("{host}/sandboxes/www-data-devel-old-{n}/.executor"));
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("acknowledged"), "FINISHED").unwrap();
    }
    cluster.restart_agent(index);
    eventually("the restarted agent to keep one finished sandbox", Duration::from_secs(10), || {
        (finished_sandboxes(&cluster, index).len() <= 1).then_some(())
    });
    assert!(Path::new(&service_sandbox).is_dir(), "the adopted task's sandbox stays");
    assert_eq!(cluster.status(HELLO)["instances"][0]["task_id"], service["task_id"], "adopted, not restarted");
}

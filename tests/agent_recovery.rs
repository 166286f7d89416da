//! Agent recovery through the real binary: after `kill -9` of an agent its tasks keep running;
//! the restarted agent adopts every live executor without restarting its task, reports the real
//! end of a task that ended meanwhile, and reports LOST for an executor that died with it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use atoll_tests::{Cluster, eventually, executor_status, group_alive, kill_sandbox_processes, printed};
use serde_json::Value;

const HELLO: &str = "devcluster/www-data/devel/hello";

fn hello_file() -> String {
    atoll_tests::workspace_root().join("examples/hello_world.rhai").display().to_string()
}

fn instance(cluster: &Cluster, job: &str) -> Value {
    cluster.status(job)["instances"][0].clone()
}

/// Creates `job` from `file` and waits until it runs; returns its status entry.
fn running(cluster: &Cluster, job: &str, file: &str) -> Value {
    let created = cluster.job(&["create", job, file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    instance(cluster, job)
}

fn last_status(sandbox: &str) -> Value {
    executor_status(Path::new(sandbox)).expect("a status line")
}

fn agent_index(host: &str) -> u32 {
    host.trim_start_matches("agent-").parse().expect("agents are named agent-N")
}

#[test]
fn a_restarted_agent_adopts_running_tasks_without_restarting_them() {
    let mut cluster = Cluster::start(10);
    let task = running(&cluster, HELLO, &hello_file());
    let host = task["host"].as_str().unwrap().to_owned();
    let sandbox = task["sandbox"].as_str().unwrap().to_owned();
    let group = last_status(&sandbox)["process_groups"][0].as_i64().expect("a process group") as i32;

    cluster.crash_agent(&host);
    std::thread::sleep(Duration::from_millis(300));
    assert!(group_alive(group), "the task outlives its agent");
    cluster.restart_agent(agent_index(&host));
    eventually("the restarted agent to adopt the executor", Duration::from_secs(5), || {
        cluster
            .agents
            .iter()
            .find(|a| a.name == host)
            .filter(|a| a.log().contains("adopting a running executor"))
            .map(|_| ())
    });
    let after = instance(&cluster, HELLO);
    assert_eq!(after["task_id"], task["task_id"], "the same run goes on");
    assert_eq!(after["status"], "RUNNING");
    assert!(group_alive(group), "not restarted");

    let killed = cluster.job(&["kill", &format!("{HELLO}/0"), "--wait-timeout-secs", "20"]);
    assert!(killed.status.success(), "the adopted task is killed through its agent: {}", printed(&killed));
    eventually("the task's processes to be gone", Duration::from_secs(10), || (!group_alive(group)).then_some(()));
}

#[test]
fn a_task_that_ended_while_its_agent_was_down_keeps_its_real_end() {
    let mut cluster = Cluster::start(10);
    let file = cluster.dir.path().join("short.rhai");
    std::fs::write(
        &file,
        r#"let p = Process(#{ name: "short", cmdline: "sleep 2; exit 0" });
let t = SequentialTask(#{ processes: [p], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "short", task: t }) ];
"#,
    )
    .unwrap();
    let job = "devcluster/www-data/devel/short";
    let task = running(&cluster, job, file.to_str().unwrap());
    let host = task["host"].as_str().unwrap().to_owned();
    cluster.crash_agent(&host);
    let sandbox = task["sandbox"].as_str().unwrap().to_owned();
    eventually("the task to finish unseen", Duration::from_secs(10), || {
        (last_status(&sandbox)["state"] == "FINISHED").then_some(())
    });
    cluster.restart_agent(agent_index(&host));
    let ended = eventually("the scheduler to hear the real end", Duration::from_secs(10), || {
        let entry = instance(&cluster, job);
        (entry["status"] != "RUNNING").then_some(entry)
    });
    assert_eq!(ended["status"], "FINISHED", "{ended}");
    assert_eq!(ended["exit_code"], 0);
    assert_eq!(ended["task_id"], task["task_id"], "not LOST and run again");

    // Once the agent has the scheduler's acknowledgement (recorded in the sandbox), restarting
    // it once more does not report the end a second time. (A crash before the acknowledgement
    // arrives reports it again, harmlessly: delivery is at least once.)
    let acknowledged = Path::new(&sandbox).join(".executor/acknowledged");
    eventually("the agent to record the acknowledgement", Duration::from_secs(10), || {
        acknowledged.exists().then_some(())
    });
    cluster.crash_agent(&host);
    cluster.restart_agent(agent_index(&host));
    std::thread::sleep(Duration::from_secs(1));
    let agent = cluster.agents.iter().find(|a| a.name == host).unwrap();
    assert!(!agent.log().contains("found a task that ended"), "{}", agent.log());
}

#[test]
fn an_executor_that_died_with_its_agent_is_reported_lost_and_the_service_runs_again() {
    let mut cluster = Cluster::start(10);
    let task = running(&cluster, HELLO, &hello_file());
    let host = task["host"].as_str().unwrap().to_owned();
    let sandbox = PathBuf::from(task["sandbox"].as_str().unwrap());
    cluster.crash_agent(&host);
    kill_sandbox_processes(&sandbox);
    cluster.restart_agent(agent_index(&host));
    let again = eventually("the service to run again", Duration::from_secs(20), || {
        let entry = instance(&cluster, HELLO);
        (entry["status"] == "RUNNING" && entry["task_id"] != task["task_id"]).then_some(entry)
    });
    assert_ne!(again["task_id"], task["task_id"]);
    let agent = cluster.agents.iter().find(|a| a.name == host).unwrap();
    assert!(agent.log().contains("its executor died while the agent was away"), "{}", agent.log());
    let _ = cluster.job(&["killall", HELLO]);
}

/// A cluster running `HELLO` whose agent was just crashed: the task's status entry, host,
/// sandbox and process group.
fn hello_with_its_agent_crashed() -> (Cluster, Value, String, PathBuf, i32) {
    let mut cluster = Cluster::start(10);
    let task = running(&cluster, HELLO, &hello_file());
    let host = task["host"].as_str().unwrap().to_owned();
    let sandbox = PathBuf::from(task["sandbox"].as_str().unwrap());
    let group = last_status(sandbox.to_str().unwrap())["process_groups"][0].as_i64().expect("a group") as i32;
    cluster.crash_agent(&host);
    (cluster, task, host, sandbox, group)
}

/// Rewrites a sandbox's launch file and status lines as the release before launch format 2
/// wrote them: no `format_version`, no `config_version`, and in place of the whole config the
/// parts that release kept (the task's spec, health check, lifecycle and announcer).
fn as_the_release_before(sandbox: &Path) {
    let launch = sandbox.join(".executor/launch.json");
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(&launch).unwrap()).unwrap();
    let object = file.as_object_mut().unwrap();
    assert_eq!(object.remove("format_version"), Some(Value::from(6)), "this build writes format 6");
    object.remove("config_version");
    object.remove("user");
    object.remove("agent_watch");
    let config = object.remove("config").expect("format 6 carries the whole config");
    for (kept_as, in_config) in [
        ("spec", "task"),
        ("health_check", "health_check_config"),
        ("lifecycle", "lifecycle"),
        ("announce", "announce"),
    ] {
        object.insert(kept_as.to_owned(), config[in_config].clone());
    }
    std::fs::write(&launch, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    let status = sandbox.join(".executor/status.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&status)
        .unwrap()
        .lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("format_version");
            format!("{value}\n")
        })
        .collect();
    std::fs::write(&status, lines.concat()).unwrap();
}

#[test]
fn an_agent_upgraded_under_executors_of_the_release_before_adopts_them() {
    let (mut cluster, task, host, sandbox, group) = hello_with_its_agent_crashed();
    as_the_release_before(&sandbox);
    cluster.restart_agent(agent_index(&host));
    eventually("the upgraded agent to adopt the executor", Duration::from_secs(5), || {
        let agent = cluster.agents.iter().find(|a| a.name == host)?;
        agent.log().contains("adopting a running executor").then_some(())
    });
    let after = instance(&cluster, HELLO);
    assert_eq!((after["task_id"].clone(), after["status"].as_str()), (task["task_id"].clone(), Some("RUNNING")));
    assert!(group_alive(group), "not restarted");
    let killed = cluster.job(&["kill", &format!("{HELLO}/0"), "--wait-timeout-secs", "20"]);
    assert!(killed.status.success(), "{}", printed(&killed));
    eventually("the adopted task's processes to be gone", Duration::from_secs(10), || {
        (!group_alive(group)).then_some(())
    });
}

#[test]
fn an_unreadable_sandbox_is_reported_with_its_path_and_its_task_runs_again() {
    let (mut cluster, task, host, sandbox, group) = hello_with_its_agent_crashed();
    let launch = sandbox.join(".executor/launch.json");
    std::fs::write(&launch, "{ not a launch file").unwrap();
    cluster.restart_agent(agent_index(&host));
    let again = eventually("the task to run again", Duration::from_secs(20), || {
        let entry = instance(&cluster, HELLO);
        (entry["status"] == "RUNNING" && entry["task_id"] != task["task_id"]).then_some(entry)
    });
    assert_ne!(again["task_id"], task["task_id"]);
    let agent = cluster.agents.iter().find(|a| a.name == host).unwrap();
    let log = agent.log();
    assert!(log.contains("unreadable sandbox") && log.contains(&launch.display().to_string()), "{log}");
    eventually("the unwatchable task's processes to be ended", Duration::from_secs(10), || {
        (!group_alive(group)).then_some(())
    });
    let ended = old_run_events(&cluster, task["task_id"].as_str().unwrap());
    let (state, message) = ended.last().cloned().expect("events");
    assert_eq!(state, atoll_proto::v1::TaskState::Lost as i32);
    assert!(message.contains("unreadable sandbox") && message.contains(&launch.display().to_string()), "{message}");
    let _ = cluster.job(&["killall", HELLO]);
}

/// The events (state, message) of one run of `HELLO`, from the scheduler's kept history.
fn old_run_events(cluster: &Cluster, task_id: &str) -> Vec<(i32, String)> {
    use atoll_proto::v1;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut client =
            v1::scheduler_service_client::SchedulerServiceClient::connect(cluster.url.clone()).await.unwrap();
        let key: Vec<&str> = HELLO.split('/').collect();
        let job =
            v1::JobKey { cluster: key[0].into(), role: key[1].into(), environment: key[2].into(), name: key[3].into() };
        let request = v1::GetTasksRequest { job: Some(job), include_history: true };
        let tasks = client.get_tasks(request).await.unwrap().into_inner().tasks;
        let run = tasks.into_iter().find(|t| t.task_id == task_id).expect("the old run is kept");
        run.events.into_iter().map(|e| (e.state, e.message)).collect()
    })
}

//! The executor end to end, with real `bash` processes in a temporary sandbox.

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};

use atoll_model::{JobKey, ProcessSpec, Resources, TaskSpec, TaskState};
use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::sync::oneshot;

use super::*;

/// Long enough for any test task here; a hung executor fails the test instead of hanging it.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

fn process(name: &str, cmdline: &str) -> ProcessSpec {
    ProcessSpec { min_duration: 0, ..ProcessSpec::new(name, cmdline) }
}

fn launch(processes: Vec<ProcessSpec>, order: &[&[&str]]) -> LaunchFile {
    LaunchFile {
        task_id: "www-data-devel-hello-3-abc".into(),
        job: JobKey::new("devcluster", "www-data", "devel", "hello").expect("valid job key"),
        instance: 3,
        hostname: "host1".into(),
        ports: BTreeMap::from([("http".to_owned(), 31000), ("admin-v2".to_owned(), 31001)]),
        spec: TaskSpec {
            name: "hello".into(),
            processes,
            order: order.iter().map(|chain| chain.iter().map(|name| (*name).to_owned()).collect()).collect(),
            resources: Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
            max_failures: 1,
            max_concurrency: 0,
            finalization_wait: 30,
            user: None,
        },
    }
}

fn sandbox_with(launch: &LaunchFile) -> (TempDir, Sandbox) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(dir.path());
    sandbox.write_launch(launch).expect("write launch file");
    (dir, sandbox)
}

/// Runs the task to its end without a shutdown request.
async fn run_to_end(launch: &LaunchFile) -> (TempDir, Sandbox, ExecutorStatus) {
    let (dir, sandbox) = sandbox_with(launch);
    let status = tokio::time::timeout(TEST_TIMEOUT, run_task(&sandbox, pending()))
        .await
        .expect("task ends in time")
        .expect("executor runs");
    assert_eq!(sandbox.read_status().expect("read status"), Some(status.clone()), "the file has the final status");
    (dir, sandbox, status)
}

fn log(sandbox: &Sandbox, process: &str, run: u32, stream: &str) -> String {
    let path = sandbox.process_log_dir(process, run).join(stream);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

fn group_is_gone(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None) == Err(Errno::ESRCH)
}

/// Waits for the group to vanish. Its dead members that bash left to init stay zombies, still
/// in the group, until init reaps them, which some inits do only every second or so.
async fn group_vanishes(pgid: i32) -> bool {
    for _ in 0..150 {
        if group_is_gone(pgid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn echo_finishes_with_rendered_templates_and_environment_in_its_log() {
    let cmdline = "echo hello port={{thermos.ports[http]}} instance={{mesos.instance}} task={{thermos.task_id}} \
                   user={{thermos.user}} host={{mesos.hostname}}; \
                   echo env=$PORT_HTTP,$PORT_ADMIN_V2,$ATOLL_INSTANCE,$ATOLL_TASK_ID,$ATOLL_SANDBOX; echo oops >&2";
    let (dir, sandbox, status) = run_to_end(&launch(vec![process("hello", cmdline)], &[])).await;
    assert_eq!(
        (status.state, status.exit_code, status.process_groups, status.executor_pid),
        (TaskState::Finished, Some(0), vec![], std::process::id())
    );
    let expected = format!(
        "hello port=31000 instance=3 task=www-data-devel-hello-3-abc user=www-data host=host1\n\
         env=31000,31001,3,www-data-devel-hello-3-abc,{}\n",
        dir.path().display()
    );
    assert_eq!(log(&sandbox, "hello", 0, "stdout"), expected);
    assert_eq!(log(&sandbox, "hello", 0, "stderr"), "oops\n");
}

#[tokio::test]
async fn failing_process_fails_the_task_with_its_exit_code() {
    let (_dir, sandbox, status) = run_to_end(&launch(vec![process("hello", "echo trying; exit 3")], &[])).await;
    assert_eq!(status.state, TaskState::Failed);
    assert_eq!(status.exit_code, Some(3));
    assert_eq!(status.message, "process 'hello' failed with exit code 3");
    assert_eq!(log(&sandbox, "hello", 0, "stdout"), "trying\n");
    assert!(!sandbox.process_log_dir("hello", 1).exists(), "max_failures 1 means a single run");
}

#[tokio::test]
async fn failing_process_is_retried_up_to_its_max_failures() {
    let hello = ProcessSpec { max_failures: 2, ..process("hello", "echo trying; exit 3") };
    let (_dir, sandbox, status) = run_to_end(&launch(vec![hello], &[])).await;
    assert_eq!((status.state, status.exit_code), (TaskState::Failed, Some(3)));
    assert_eq!(log(&sandbox, "hello", 0, "stdout"), "trying\n");
    assert_eq!(log(&sandbox, "hello", 1, "stdout"), "trying\n");
    assert!(!sandbox.process_log_dir("hello", 2).exists());
}

#[tokio::test]
async fn process_killed_by_a_signal_is_reported_by_signal_name() {
    let (_dir, _sandbox, status) = run_to_end(&launch(vec![process("crash", "kill -KILL $$")], &[])).await;
    assert_eq!((status.state, status.exit_code), (TaskState::Failed, None));
    assert_eq!(status.message, "process 'crash' was killed by signal SIGKILL");
}

#[tokio::test]
async fn ordered_process_sees_what_its_predecessor_made() {
    let a = process("a", "sleep 0.2; echo from-a > made_by_a");
    let b = process("b", "cat made_by_a");
    let (_dir, sandbox, status) = run_to_end(&launch(vec![b, a], &[&["a", "b"]])).await;
    assert_eq!(status.state, TaskState::Finished);
    assert_eq!(log(&sandbox, "b", 0, "stdout"), "from-a\n");
}

#[tokio::test]
async fn unordered_processes_run_at_the_same_time() {
    // Each succeeds only if it sees the other's marker while it is still running.
    let meet = |me: &str, other: &str| {
        format!("touch {me}; for i in $(seq 100); do test -e {other} && echo met && exit 0; sleep 0.05; done; exit 1")
    };
    let processes = vec![process("a", &meet("a_up", "b_up")), process("b", &meet("b_up", "a_up"))];
    let (_dir, sandbox, status) = run_to_end(&launch(processes, &[])).await;
    assert_eq!(status.state, TaskState::Finished, "{}", status.message);
    assert_eq!((log(&sandbox, "a", 0, "stdout"), log(&sandbox, "b", 0, "stdout")), ("met\n".into(), "met\n".into()));
}

/// Runs the task until its status shows a live process group, requests shutdown, and returns
/// that group, the final status and how long the shutdown took.
async fn shut_down_while_running(launch: &LaunchFile) -> (i32, ExecutorStatus, Duration) {
    let (_dir, sandbox) = sandbox_with(launch);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        // A dropped sender also means stop.
        let _ = stopped.await;
    };
    let watch = async {
        loop {
            if let Some(status) = sandbox.read_status().expect("read status")
                && let [pgid] = status.process_groups[..]
            {
                assert_eq!(status.state, TaskState::Running);
                assert!(!group_is_gone(pgid), "the reported group is alive");
                // Let bash start its children before the signal.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let requested = Instant::now();
                stop.send(()).expect("executor is listening");
                return (pgid, requested);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let ((pgid, requested), result) =
        tokio::time::timeout(TEST_TIMEOUT, async { tokio::join!(watch, run_task(&sandbox, shutdown)) })
            .await
            .expect("shutdown completes in time");
    (pgid, result.expect("executor runs"), requested.elapsed())
}

#[tokio::test]
async fn shutdown_terminates_the_whole_process_group() {
    let (pgid, status, took) =
        shut_down_while_running(&launch(vec![process("sleepy", "sleep 1000 & sleep 1000")], &[])).await;
    assert_eq!(
        (status.state, status.message.as_str(), status.exit_code),
        (TaskState::Killed, "killed by request", None)
    );
    assert!(took < Duration::from_secs(5), "SIGTERM suffices, no need to wait 30s: took {took:?}");
    assert!(group_vanishes(pgid).await, "no process of group {pgid} survives");
}

#[tokio::test]
async fn process_ignoring_sigterm_is_killed_after_finalization_wait() {
    let mut stubborn = launch(vec![process("stubborn", "trap '' TERM; sleep 1000")], &[]);
    stubborn.spec.finalization_wait = 1;
    let (pgid, status, took) = shut_down_while_running(&stubborn).await;
    assert_eq!(status.state, TaskState::Killed);
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(5), "took {took:?}");
    assert!(group_vanishes(pgid).await, "no process of group {pgid} survives");
}

#[tokio::test]
async fn unreadable_launch_file_is_an_error_naming_it_and_reported_as_failed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(dir.path());
    let error = run_task(&sandbox, pending()).await.expect_err("there is no launch file").to_string();
    assert!(error.contains(&sandbox.launch_file().display().to_string()), "{error}");
    let status = sandbox.read_status().expect("read status").expect("a status was written");
    assert_eq!((status.state, status.message), (TaskState::Failed, error));
}

//! A custom executor end to end: `echo-executor` (the example, built here) as the executor
//! command of a framework's task on a real scheduler and two agents, the framework speaking the
//! gRPC framework API as any would. The task must be RUNNING with the executor's message, a
//! framework message must reach the executor and its echo come back as a MESSAGE event, a kill
//! must end the task KILLED, and the executor's lines must be in the task's log. A task giving
//! both a command and an executor command is refused, and so is a message to a task that runs
//! no custom executor.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use atoll_proto::v1;
use atoll_proto::v1::framework_event::Event;
use atoll_tests::framework_client::{TestFramework, framework_task, instance_of};
use atoll_tests::{Cluster, build_binary, printed};

static ECHO: OnceLock<PathBuf> = OnceLock::new();

/// Builds the example executor once per test binary, as the harness builds `atoll`, and returns
/// its absolute path.
fn echo_executor() -> &'static Path {
    ECHO.get_or_init(|| build_binary("atoll-example-echo-executor", "echo-executor", false))
}

fn task(id: &str, command: &str, executor_command: &str, data: &[u8]) -> v1::TaskInfo {
    v1::TaskInfo {
        executor_command: executor_command.into(),
        data: data.to_vec(),
        ..framework_task(id, 0.1, 32, command)
    }
}

#[test]
fn a_custom_executor_runs_its_task_echoes_messages_both_ways_and_ends_it_when_killed() {
    let echo = echo_executor();
    let executor_command = format!("'{}'", echo.display());
    let cluster = Cluster::start(10);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let url = cluster.url.clone();
    let (echo_update, plain_update) = runtime.block_on(async {
        let mut framework = TestFramework::subscribe(&url, "echoes", "www-data", None, None).await.expect("subscribed");
        let offers = framework.offers().await;
        let offer = &offers[0];

        // Both a command and an executor command: refused, launching nothing.
        let both = task("both", "true", &executor_command, b"");
        let refused = framework.accept(&[offer], vec![both]).await.expect_err("a command or an executor, not both");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains("executor_command"), "the refusal names it: {}", refused.message());

        let tasks = vec![task("echo", "", &executor_command, b"hello"), task("plain", "exec sleep 600", "", b"")];
        let ids = framework.accept(&[offer], tasks).await.expect("accepted");
        assert_eq!(ids.len(), 2, "{ids:?}");
        let running = [("echo", v1::TaskState::Running), ("plain", v1::TaskState::Running)];
        let mut reached = framework.updates(&running).await;
        let echo_running = reached.remove("echo").expect("echo runs");
        let plain_running = reached.remove("plain").expect("plain runs");
        assert!(echo_running.message.contains("echo executor up"), "the executor's own words: {echo_running:?}");

        // A message there, and its echo back, from the task's executor on the task's agent.
        framework.message("echo", b"ping").await.expect("the message is taken");
        let answer = framework
            .next_where("the executor's answer", Duration::from_secs(20), |e| match e {
                Event::Message(m) => Some(m.clone()),
                _ => None,
            })
            .await;
        assert_eq!(
            (answer.task_id.as_str(), answer.agent_id.as_str(), answer.data.as_slice()),
            ("echo", echo_running.agent_id.as_str(), b"echo: ping".as_slice())
        );

        // A task under Atoll's own executor takes no messages.
        let refused = framework.message("plain", b"ping").await.expect_err("plain runs no custom executor");
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");

        let kill = v1::FrameworkKillRequest { call: framework.call(), task_id: "echo".into() };
        framework.client.kill(kill).await.expect("killed");
        let killed = framework.update("echo", v1::TaskState::Killed, true).await;
        assert!(!killed.message.is_empty(), "{killed:?}");

        let teardown = v1::TeardownRequest { call: framework.call() };
        framework.client.teardown(teardown).await.expect("torn down");
        (echo_running, plain_running)
    });

    // The executor's stdout is the task's log, as any task's output is.
    let logs = |update: &v1::TaskUpdate, stream: &[&str]| {
        let instance = instance_of(update);
        let output =
            atoll_tests::atoll(&[&["task", "logs", instance.as_str()], stream, &["--scheduler", &url]].concat());
        assert!(output.status.success(), "atoll task logs {instance}: {}", printed(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let lines = [
        "echo executor registered: framework ",
        r#"launched task echo with data "hello""#,
        r#"message from the framework: "ping""#,
        r#"answered: "echo: ping""#,
        "killing task echo",
        "echo executor exits",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let stdout = loop {
        let stdout = logs(&echo_update, &[]);
        if lines.iter().all(|line| stdout.contains(line)) {
            break stdout;
        }
        assert!(
            Instant::now() < deadline,
            "the executor's lines are not all in its log.\nstdout:\n{stdout}\nstderr:\n{}",
            logs(&echo_update, &["--stderr"])
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let order: Vec<usize> = lines.iter().map(|line| stdout.find(line).expect("found above")).collect();
    assert!(order.is_sorted(), "in the order they happened:\n{stdout}");
    assert_ne!(instance_of(&echo_update), instance_of(&plain_update), "two tasks, two instances");
    println!("the executor's log:\n{stdout}");
}

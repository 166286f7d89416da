//! The executor end to end, with real `bash` processes in a temporary sandbox.

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};

use atoll_model::{JobKey, ProcessSpec, Resources, TaskConfig, TaskId, TaskSpec, TaskState};
use atoll_sandbox::Launch;
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

pub(crate) fn launch(processes: Vec<ProcessSpec>, order: &[&[&str]]) -> LaunchFile {
    let spec = TaskSpec {
        name: "hello".into(),
        processes,
        order: order.iter().map(|chain| chain.iter().map(|name| (*name).to_owned()).collect()).collect(),
        resources: Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
        max_failures: 1,
        max_concurrency: 0,
        finalization_wait: 30,
        user: None,
    };
    let launch = Launch {
        task_id: TaskId("www-data-devel-hello-3-abc".into()),
        job: JobKey::new("devcluster", "www-data", "devel", "hello").expect("valid job key"),
        instance: 3,
        ports: BTreeMap::from([("http".to_owned(), 31000), ("admin-v2".to_owned(), 31001)]),
        config: TaskConfig::new(spec),
        config_version: None,
    };
    LaunchFile::new(launch, "host1".into(), Vec::new(), None, None, None)
}

/// A sandbox holding `launch`, its task's home made, as the agent leaves it.
fn sandbox_with(launch: &LaunchFile) -> (TempDir, Sandbox) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(dir.path());
    sandbox.write_launch(launch).expect("write launch file");
    sandbox.prepare_task_home(launch).expect("make the task's home");
    (dir, sandbox)
}

/// The task's home in the sandbox at `dir`: where its processes run.
fn home(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join(atoll_sandbox::TASK_HOME)
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
        home(&dir).display()
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
    stubborn.launch.config.task.finalization_wait = 1;
    let (pgid, status, took) = shut_down_while_running(&stubborn).await;
    assert_eq!(status.state, TaskState::Killed);
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(5), "took {took:?}");
    assert!(group_vanishes(pgid).await, "no process of group {pgid} survives");
}

#[tokio::test]
async fn a_task_whose_agent_stops_pulsing_is_ended_lost_after_the_recovery_timeout() {
    let pulse_dir = tempfile::tempdir().expect("temp dir");
    let pulse_file = pulse_dir.path().join("agent.pulse");
    let mut file = launch(vec![process("sleepy", "sleep 1000")], &[]);
    file.agent_watch = Some(atoll_sandbox::AgentWatch { pulse_file: pulse_file.clone(), recovery_timeout_secs: 1 });
    let (_dir, sandbox) = sandbox_with(&file);
    // The agent pulses for a while, then stops, as a crashed agent does.
    let pulsing = async {
        let mut pulses = Vec::new();
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            fs::write(&pulse_file, b"").expect("pulse");
            pulses.push(Instant::now());
        }
        pulses
    };
    let executor = async {
        let status = run_task(&sandbox, pending()).await;
        (status, Instant::now())
    };
    let (pulses, (status, ended)) = tokio::time::timeout(TEST_TIMEOUT, async { tokio::join!(pulsing, executor) })
        .await
        .expect("the executor gives up in time");
    let status = status.expect("executor runs");
    assert_eq!(status.state, TaskState::Lost, "{status:?}");
    assert!(status.message.contains("longer than the executor's recovery timeout of 1s"), "{}", status.message);
    // Never sooner than the timeout after the last pulse it could have seen (a loaded machine
    // may space the pulses out; what counts is the silence before the end).
    let last_seen = pulses.iter().filter(|pulse| **pulse <= ended).max().expect("a pulse before the end");
    assert!(ended - *last_seen >= Duration::from_secs(1), "ended {:?} after a pulse", ended - *last_seen);
    assert_eq!(sandbox.read_status().expect("read status"), Some(status), "the file has the final status");
}

#[tokio::test]
async fn a_task_whose_sandbox_was_removed_is_ended_and_its_executor_exits() {
    let file = launch(vec![process("sleepy", "sleep 1000")], &[]);
    let (dir, sandbox) = sandbox_with(&file);
    let remove = async {
        loop {
            if let Some(status) = sandbox.read_status().expect("read status")
                && let [pgid] = status.process_groups[..]
            {
                fs::remove_dir_all(dir.path()).expect("remove the sandbox");
                return pgid;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (pgid, result) =
        tokio::time::timeout(TEST_TIMEOUT, async { tokio::join!(remove, run_task(&sandbox, pending())) })
            .await
            .expect("the executor gives up in time");
    let error = result.expect_err("no status can be written in a removed sandbox");
    assert!(error.to_string().contains(".executor: No such file or directory"), "{error}");
    assert!(!dir.path().exists(), "the sandbox stays removed");
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

/// A small HTTP server for health and lifecycle tests: `GET` answers "ok" once the sandbox has
/// a `healthy` file (else "not yet"); every `POST` path is appended to `posted`, and
/// `/quitquitquit` makes it exit 0 unless the sandbox has a `stubborn` file.
const TEST_SERVER: &str = r#"
import http.server, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if os.path.exists("healthy") else b"not yet"
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        with open("posted", "a") as f: f.write(self.path + "\n")
        self.send_response(200); self.end_headers(); self.wfile.write(b"bye")
        if self.path == "/quitquitquit" and not os.path.exists("stubborn"): os._exit(0)
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// A task serving `TEST_SERVER` on its `health` port, checked every 100 ms.
fn served_launch(max_consecutive_failures: u32) -> LaunchFile {
    let mut launch = launch(vec![process("server", "exec python3 server.py {{thermos.ports[health]}}")], &[]);
    launch.launch.ports = BTreeMap::from([("health".to_owned(), free_port())]);
    let config = &mut launch.launch.config;
    config.health_check_config.initial_interval_secs = 0.2;
    config.health_check_config.interval_secs = 0.1;
    config.health_check_config.max_consecutive_failures = max_consecutive_failures;
    if let Some(http) = config.lifecycle.http.as_mut() {
        http.graceful_shutdown_wait_secs = 1;
        http.shutdown_wait_secs = 1;
    }
    launch
}

fn start_served(
    launch: &LaunchFile,
) -> (TempDir, Sandbox, oneshot::Sender<()>, tokio::task::JoinHandle<ExecutorStatus>) {
    let (dir, sandbox) = sandbox_with(launch);
    fs::write(home(&dir).join("server.py"), TEST_SERVER).expect("write server");
    let (stop, stopped) = oneshot::channel::<()>();
    let runner = Sandbox::new(dir.path());
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        run_task(&runner, shutdown).await.expect("executor runs")
    });
    (dir, sandbox, stop, task)
}

async fn state_within(sandbox: &Sandbox, wanted: TaskState, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if sandbox.read_status().ok().flatten().is_some_and(|s| s.state == wanted) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_task_with_a_health_port_runs_only_once_healthy_and_stops_on_quitquitquit() {
    let launch = served_launch(100);
    let (dir, sandbox, stop, task) = start_served(&launch);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let status = sandbox.read_status().expect("read").expect("written");
    assert_eq!(status.state, TaskState::Starting, "not healthy yet: {status:?}");
    assert_eq!(status.message, "waiting for the health check to pass");
    fs::write(home(&dir).join("healthy"), "").expect("make healthy");
    assert!(state_within(&sandbox, TaskState::Running, Duration::from_secs(5)).await, "healthy means RUNNING");

    let started = Instant::now();
    let _ = stop.send(());
    let status = tokio::time::timeout(TEST_TIMEOUT, task).await.expect("ends in time").expect("joins");
    assert_eq!(status.state, TaskState::Killed, "{status:?}");
    assert!(started.elapsed() < Duration::from_millis(900), "ended at once, well before the graceful wait");
    assert_eq!(fs::read_to_string(home(&dir).join("posted")).expect("posted"), "/quitquitquit\n");
}

#[tokio::test]
async fn a_task_that_ignores_quitquitquit_gets_abortabortabort_then_signals() {
    let launch = served_launch(100);
    let (dir, sandbox, stop, task) = start_served(&launch);
    fs::write(home(&dir).join("healthy"), "").expect("make healthy");
    fs::write(home(&dir).join("stubborn"), "").expect("make stubborn");
    assert!(state_within(&sandbox, TaskState::Running, Duration::from_secs(5)).await);
    let started = Instant::now();
    let _ = stop.send(());
    let status = tokio::time::timeout(TEST_TIMEOUT, task).await.expect("ends in time").expect("joins");
    assert_eq!(status.state, TaskState::Killed, "{status:?}");
    assert!(started.elapsed() >= Duration::from_secs(2), "both lifecycle waits passed first");
    assert_eq!(fs::read_to_string(home(&dir).join("posted")).expect("posted"), "/quitquitquit\n/abortabortabort\n");
}

#[tokio::test]
async fn a_task_that_never_gets_healthy_fails_with_the_reason() {
    let mut launch = served_launch(1);
    // Checks start once the server surely listens, even on a loaded machine, so the one failure
    // allowed is its "not yet", not a refused connection (seen under CI load with 0.2 s).
    launch.launch.config.health_check_config.initial_interval_secs = 3.0;
    let (_dir, _sandbox, _stop, task) = start_served(&launch);
    let status = tokio::time::timeout(TEST_TIMEOUT, task).await.expect("ends in time").expect("joins");
    assert_eq!(status.state, TaskState::Failed, "{status:?}");
    assert!(status.message.starts_with("Failed health check! GET /health answered \"not yet\""), "{}", status.message);
}

/// The task's environment is the documented set and nothing of the executor's (cargo's
/// variables, say, which this test process has).
#[tokio::test]
async fn processes_get_only_the_documented_environment() {
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some(), "cargo runs this test with its variables");
    let launch = launch(vec![process("env", "env | cut -d= -f1 | sort | tr '\\n' ' '")], &[]);
    let (_dir, sandbox, status) = run_to_end(&launch).await;
    assert_eq!(status.state, TaskState::Finished);
    let names = log(&sandbox, "env", 0, "stdout");
    assert_eq!(
        names.split_whitespace().collect::<Vec<_>>(),
        [
            "ATOLL_INSTANCE",
            "ATOLL_SANDBOX",
            "ATOLL_TASK_ID",
            "HOME",
            "LOGNAME",
            "MESOS_DIRECTORY",
            "MESOS_SANDBOX",
            "MESOS_TASK_ID",
            "PATH",
            "PORT_ADMIN_V2",
            "PORT_HTTP",
            "PWD",
            "SHLVL",
            "USER",
            "_"
        ]
    );
}

#[tokio::test]
async fn processes_get_home_user_path_and_the_task_profile() {
    let launch = launch(vec![process("env", "echo \"$HOME|$USER|$LOGNAME|${PATH:+path}|$FROM_PROFILE\"")], &[]);
    let (dir, sandbox) = sandbox_with(&launch);
    fs::write(home(&dir).join(".thermos_profile"), "export FROM_PROFILE=profiled\n").expect("write profile");
    let status =
        tokio::time::timeout(TEST_TIMEOUT, run_task(&sandbox, pending())).await.expect("in time").expect("runs");
    assert_eq!(status.state, TaskState::Finished);
    let line = log(&sandbox, "env", 0, "stdout");
    let fields: Vec<&str> = line.trim().split('|').collect();
    assert_eq!(fields.len(), 5, "{line}");
    assert_eq!(fields[0], home(&dir).display().to_string(), "HOME is the task's home: {line}");
    assert!(!fields[1].is_empty(), "{line}");
    assert_eq!(fields[1], fields[2], "USER and LOGNAME agree: {line}");
    assert_eq!(&fields[3..], ["path", "profiled"], "{line}");
}

/// Connects to a Unix socket, as a custom executor's gRPC client does.
#[derive(Clone)]
struct UnixConnector(std::path::PathBuf);

impl tower::Service<tonic::codegen::http::Uri> for UnixConnector {
    type Response = hyper_util::rt::TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: tonic::codegen::http::Uri) -> Self::Future {
        let socket = self.0.clone();
        Box::pin(async move { tokio::net::UnixStream::connect(socket).await.map(hyper_util::rt::TokioIo::new) })
    }
}

/// A client of the executor API on `socket`, as a custom executor connects.
async fn executor_api(
    socket: std::path::PathBuf,
) -> v1::executor_service_client::ExecutorServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(UnixConnector(socket))
        .await
        .expect("connect to the executor API");
    v1::executor_service_client::ExecutorServiceClient::new(channel)
}

#[tokio::test]
async fn a_custom_executor_reports_its_tasks_state_and_passes_messages_both_ways() {
    // The process stands in for a custom executor: it says where the socket is and waits; the
    // test speaks the API for it.
    let mut file = launch(vec![process("task", "echo \"$ATOLL_EXECUTOR_SOCKET\" > socket; exec sleep 30")], &[]);
    file.launch.job = JobKey::new("devcluster", "www-data", "framework", "fw-1").unwrap();
    file.launch.task_id = TaskId::new(&file.launch.job, 3, "echo");
    file.launch.config.custom_executor = Some(atoll_model::job::CustomExecutor { data: b"payload".to_vec() });
    let (dir, sandbox) = sandbox_with(&file);
    let runner_sandbox = sandbox.clone();
    let task = tokio::spawn(async move { run_task(&runner_sandbox, pending()).await });
    let socket_file = home(&dir).join("socket");
    let socket = wait_for(|| fs::read_to_string(&socket_file).ok().filter(|s| s.ends_with('\n'))).await;
    let socket = std::path::PathBuf::from(socket.trim());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600, "the task user's alone");
    let mut api = executor_api(socket.clone()).await;
    let mut events = api.subscribe(v1::ExecutorSubscribeRequest {}).await.unwrap().into_inner();
    use v1::executor_event::Event;
    assert!(matches!(next_event(&mut events).await, Event::Subscribed(s) if s.framework_id == "fw-1"));
    let Event::Launch(launched) = next_event(&mut events).await else { panic!("LAUNCH second") };
    assert_eq!((launched.task_id.as_str(), launched.data.as_slice()), ("echo", b"payload".as_slice()));
    assert_eq!(sandbox.read_status().unwrap().unwrap().state, TaskState::Starting, "STARTING until it says RUNNING");
    let update = |state: v1::TaskState, message: &str, uuid: &str| v1::ExecutorUpdateRequest {
        task_id: "echo".into(),
        state: state as i32,
        message: message.into(),
        uuid: uuid.into(),
    };
    api.update(update(v1::TaskState::Running, "serving", "u1")).await.unwrap();
    assert!(matches!(next_event(&mut events).await, Event::Acknowledged(a) if a.uuid == "u1"));
    let status = sandbox.read_status().unwrap().unwrap();
    assert_eq!((status.state, status.message.as_str()), (TaskState::Running, "serving"), "written before acknowledged");
    // A framework's message comes through the inbox; one for the framework goes to the outbox.
    sandbox.put_message(atoll_sandbox::MessageBox::Inbox, b"ping").unwrap();
    assert!(matches!(next_event(&mut events).await, Event::Message(m) if m.data == b"ping"));
    api.message(v1::ExecutorMessageRequest { data: b"pong".to_vec() }).await.unwrap();
    let out =
        wait_for(|| sandbox.take_messages(atoll_sandbox::MessageBox::Outbox).ok().filter(|m| !m.is_empty())).await;
    assert_eq!(out, [b"pong".to_vec()]);
    let refused = api.update(update(v1::TaskState::Lost, "", "u2")).await.expect_err("not the executor's to say");
    assert!(refused.message().contains("RUNNING, FINISHED, FAILED or KILLED"), "{}", refused.message());
    // Its end: acknowledged, SHUTDOWN, and the task ends so once the process is gone.
    api.update(update(v1::TaskState::Finished, "all done", "u3")).await.unwrap();
    assert!(matches!(next_event(&mut events).await, Event::Acknowledged(a) if a.uuid == "u3"));
    assert!(matches!(next_event(&mut events).await, Event::Shutdown(_)));
    let ended = tokio::time::timeout(TEST_TIMEOUT, task).await.expect("ends in time").unwrap().expect("runs");
    assert_eq!((ended.state, ended.message.as_str()), (TaskState::Finished, "all done"));
    assert!(!socket.exists(), "the socket goes with the task");
}

/// The custom executor's next event, within the test timeout.
async fn next_event(events: &mut tonic::Streaming<v1::ExecutorEvent>) -> v1::executor_event::Event {
    let event = tokio::time::timeout(TEST_TIMEOUT, events.message()).await.expect("an event in time");
    event.expect("the stream is healthy").expect("the stream goes on").event.expect("an event")
}

/// Polls `probe` every 20 ms until it answers, for at most the test timeout.
async fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TEST_TIMEOUT;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "waited too long");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

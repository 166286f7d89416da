//! The executor driver against a scripted ExecutorService on a Unix socket in a temporary
//! directory: each test plays Atoll's executor step by step (the events it sends, the calls it
//! expects) and checks what the custom executor's callbacks saw and what the driver sent:
//! subscription, launch, updates with uuids of their own and their acknowledgements, messages
//! both ways, kill, shutdown, reports from a clone of the driver, a stop, a refused update sent
//! again, the stream's end, a broken stream, a wrong first event, a refused subscription, and a
//! socket that starts listening late.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use atoll_framework::v1::executor_event::Event;
use atoll_framework::v1::executor_service_server::{ExecutorService, ExecutorServiceServer};
use atoll_framework::v1::*;
use atoll_framework::{Executor, ExecutorDriver, ExecutorEnd, ExecutorError};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Code, Request, Response, Status};

/// How long any one step may take before the test fails (never slept: only waited on).
const STEP: Duration = Duration::from_secs(10);

type EventSender = mpsc::Sender<Result<ExecutorEvent, Status>>;

/// A call the scripted executor API received.
#[derive(Debug)]
enum Call {
    Update(ExecutorUpdateRequest),
    Message(ExecutorMessageRequest),
}

/// Atoll's executor's side: every Subscribe and call goes to the test.
struct Scripted {
    subscriptions: mpsc::Sender<EventSender>,
    calls: mpsc::Sender<Call>,
    refuse_subscribe: Option<Code>,
    /// Refuse the next Update (once).
    refuse_an_update: Arc<AtomicBool>,
}

#[tonic::async_trait]
impl ExecutorService for Scripted {
    type SubscribeStream = ReceiverStream<Result<ExecutorEvent, Status>>;

    async fn subscribe(&self, _: Request<ExecutorSubscribeRequest>) -> Result<Response<Self::SubscribeStream>, Status> {
        if let Some(code) = self.refuse_subscribe {
            return Err(Status::new(code, "not for you"));
        }
        let (events, stream) = mpsc::channel(16);
        self.subscriptions.send(events).await.expect("the test listens for subscriptions");
        Ok(Response::new(ReceiverStream::new(stream)))
    }

    async fn update(
        &self,
        request: Request<ExecutorUpdateRequest>,
    ) -> Result<Response<ExecutorUpdateResponse>, Status> {
        self.calls.send(Call::Update(request.into_inner())).await.expect("the test listens for calls");
        if self.refuse_an_update.swap(false, Ordering::SeqCst) {
            return Err(Status::unavailable("the status file is busy"));
        }
        Ok(Response::new(ExecutorUpdateResponse {}))
    }

    async fn message(
        &self,
        request: Request<ExecutorMessageRequest>,
    ) -> Result<Response<ExecutorMessageResponse>, Status> {
        self.calls.send(Call::Message(request.into_inner())).await.expect("the test listens for calls");
        Ok(Response::new(ExecutorMessageResponse {}))
    }
}

/// The test's end of a scripted executor API.
struct Script {
    /// Holds the socket's directory.
    _dir: tempfile::TempDir,
    socket: PathBuf,
    subscriptions: mpsc::Receiver<EventSender>,
    calls: mpsc::Receiver<Call>,
    refuse_an_update: Arc<AtomicBool>,
}

impl Script {
    /// A script whose socket listens after `listen_after`.
    async fn start(refuse_subscribe: Option<Code>, listen_after: Duration) -> Script {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let socket = dir.path().join("executor.sock");
        let (subscriptions_sender, subscriptions) = mpsc::channel(4);
        let (calls_sender, calls) = mpsc::channel(64);
        let refuse_an_update = Arc::new(AtomicBool::new(false));
        let service = Scripted {
            subscriptions: subscriptions_sender,
            calls: calls_sender,
            refuse_subscribe,
            refuse_an_update: refuse_an_update.clone(),
        };
        let path = socket.clone();
        tokio::spawn(async move {
            tokio::time::sleep(listen_after).await;
            let listener = tokio::net::UnixListener::bind(&path).expect("bind the socket");
            tonic::transport::Server::builder()
                .add_service(ExecutorServiceServer::new(service))
                .serve_with_incoming(UnixListenerStream::new(listener))
                .await
        });
        Script { _dir: dir, socket, subscriptions, calls, refuse_an_update }
    }

    async fn next_subscription(&mut self) -> EventSender {
        tokio::time::timeout(STEP, self.subscriptions.recv())
            .await
            .expect("a subscription in time")
            .expect("the script still runs")
    }

    async fn next_call(&mut self) -> Call {
        tokio::time::timeout(STEP, self.calls.recv()).await.expect("a call in time").expect("the script still runs")
    }

    async fn next_update(&mut self) -> ExecutorUpdateRequest {
        match self.next_call().await {
            Call::Update(update) => update,
            other => panic!("an Update, not {other:?}"),
        }
    }
}

fn event(event: Event) -> Result<ExecutorEvent, Status> {
    Ok(ExecutorEvent { event: Some(event) })
}

fn subscribed() -> Result<ExecutorEvent, Status> {
    event(Event::Subscribed(ExecutorSubscribed {
        framework_id: "fw-1".into(),
        agent_id: "agent-1".into(),
        hostname: "host-1".into(),
        sandbox: "/sandboxes/t".into(),
    }))
}

fn launch(task_id: &str, data: &[u8]) -> Result<ExecutorEvent, Status> {
    event(Event::Launch(ExecutorLaunch {
        task_id: task_id.into(),
        resources: Some(Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 }),
        data: data.to_vec(),
        ports: [("http".to_owned(), 31000)].into(),
    }))
}

/// What the executor does on LAUNCH.
#[derive(Clone, Copy, Default, PartialEq)]
enum OnLaunch {
    /// Reports RUNNING with the task's data.
    #[default]
    ReportRunning,
    /// Reports RUNNING, and if that is refused, reports it again.
    ReportRunningTwice,
    /// Hands a clone of the driver to a task of its own that reports FINISHED, tries RUNNING
    /// after it, and stops the run.
    FinishElsewhere,
}

/// An executor that writes down every callback and answers as told.
#[derive(Default)]
struct Recorder {
    seen: Vec<String>,
    on_launch: OnLaunch,
    /// Filled by the task [`OnLaunch::FinishElsewhere`] starts.
    elsewhere: Option<tokio::task::JoinHandle<Vec<String>>>,
}

impl Recorder {
    async fn report(&mut self, driver: &ExecutorDriver, state: TaskState, message: String) {
        match driver.update(state, message).await {
            Ok(uuid) => self.seen.push(format!("reported {} as {uuid}", state.as_str_name())),
            Err(error) => self.seen.push(format!("report refused: {error}")),
        }
    }
}

impl Executor for Recorder {
    async fn registered(&mut self, driver: &ExecutorDriver, info: ExecutorSubscribed) {
        self.seen.push(format!("registered for {} on {} in {}", info.framework_id, info.hostname, info.sandbox));
        assert_eq!(driver.subscribed(), Some(info));
        assert_eq!(driver.task_id(), None, "no task before LAUNCH");
    }

    async fn launch_task(&mut self, driver: &ExecutorDriver, task: ExecutorLaunch) {
        let data = String::from_utf8_lossy(&task.data).into_owned();
        self.seen.push(format!("launch {} with {data:?}, port {:?}", task.task_id, task.ports.get("http")));
        assert_eq!(driver.task_id().as_deref(), Some(task.task_id.as_str()));
        match self.on_launch {
            OnLaunch::ReportRunning => self.report(driver, TaskState::Running, format!("up: {data}")).await,
            OnLaunch::ReportRunningTwice => {
                self.report(driver, TaskState::Running, "first try".into()).await;
                self.report(driver, TaskState::Running, "second try".into()).await;
                self.seen.push(format!("unacknowledged {:?}", driver.unacknowledged()));
            }
            OnLaunch::FinishElsewhere => {
                let driver = driver.clone();
                self.elsewhere = Some(tokio::spawn(async move {
                    let mut seen = Vec::new();
                    seen.push(format!("{:?}", driver.update(TaskState::Finished, "done elsewhere").await));
                    let after = driver.update(TaskState::Running, "too late").await;
                    seen.push(after.map_err(|e| e.to_string()).expect_err("nothing after the end"));
                    driver.stop();
                    seen
                }));
            }
        }
    }

    async fn kill_task(&mut self, driver: &ExecutorDriver, task_id: &str, grace: Duration) {
        self.seen.push(format!("kill {task_id} within {grace:?}"));
        self.report(driver, TaskState::Killed, "killed as asked".into()).await;
    }

    async fn framework_message(&mut self, driver: &ExecutorDriver, data: Vec<u8>) {
        self.seen.push(format!("message {:?}", String::from_utf8_lossy(&data)));
        let answer = [b"echo: ".as_slice(), &data].concat();
        driver.message(answer).await.expect("the answer is taken");
    }

    async fn acknowledged(&mut self, driver: &ExecutorDriver, task_id: &str, uuid: &str) {
        self.seen.push(format!("acknowledged {task_id} {uuid}; still unacknowledged {:?}", driver.unacknowledged()));
    }

    async fn shutdown(&mut self, driver: &ExecutorDriver, grace: Duration) {
        self.seen.push(format!("shutdown within {grace:?}; unacknowledged {:?}", driver.unacknowledged()));
    }

    async fn error(&mut self, _driver: &ExecutorDriver, message: &str) {
        self.seen.push(format!("error: {message}"));
    }
}

type Outcome = (Result<ExecutorEnd, ExecutorError>, Recorder);

/// Runs `recorder` against `socket` on a task of its own: join it for the outcome and the record.
fn run(socket: &Path, mut recorder: Recorder) -> tokio::task::JoinHandle<Outcome> {
    let socket = socket.to_owned();
    tokio::spawn(async move {
        let outcome = ExecutorDriver::run_on(socket, &mut recorder).await;
        (outcome, recorder)
    })
}

async fn finished(handle: tokio::task::JoinHandle<Outcome>) -> Outcome {
    tokio::time::timeout(STEP, handle).await.expect("the driver ends in time").expect("the driver does not panic")
}

#[tokio::test]
async fn an_executor_registers_runs_its_task_answers_messages_is_killed_and_shuts_down() {
    let mut script = Script::start(None, Duration::ZERO).await;
    let driver = run(&script.socket, Recorder::default());

    let events = script.next_subscription().await;
    events.send(subscribed()).await.unwrap();
    events.send(launch("echo", b"hello")).await.unwrap();
    let running = script.next_update().await;
    assert_eq!(
        (running.task_id.as_str(), running.state(), running.message.as_str(), running.uuid.as_str()),
        ("echo", TaskState::Running, "up: hello", "echo-1")
    );
    let acknowledged = ExecutorAcknowledged { task_id: "echo".into(), uuid: "echo-1".into() };
    events.send(event(Event::Acknowledged(acknowledged))).await.unwrap();
    events.send(event(Event::Message(ExecutorFrameworkMessage { data: b"ping".to_vec() }))).await.unwrap();
    let Call::Message(answer) = script.next_call().await else { panic!("a Message") };
    assert_eq!(answer.data, b"echo: ping");
    events.send(event(Event::Kill(ExecutorKill { task_id: "echo".into(), grace_secs: 2.5 }))).await.unwrap();
    let killed = script.next_update().await;
    assert_eq!((killed.state(), killed.uuid.as_str()), (TaskState::Killed, "echo-2"));
    events.send(event(Event::Shutdown(ExecutorShutdown { grace_secs: 1.0 }))).await.unwrap();

    let (outcome, recorder) = finished(driver).await;
    assert_eq!(outcome.unwrap(), ExecutorEnd::Shutdown { grace: Duration::from_secs(1) });
    assert_eq!(
        recorder.seen,
        [
            "registered for fw-1 on host-1 in /sandboxes/t",
            r#"launch echo with "hello", port Some(31000)"#,
            "reported TASK_STATE_RUNNING as echo-1",
            "acknowledged echo echo-1; still unacknowledged []",
            r#"message "ping""#,
            "kill echo within 2.5s",
            "reported TASK_STATE_KILLED as echo-2",
            r#"shutdown within 1s; unacknowledged ["echo-2"]"#,
        ]
    );
    drop(events);
    assert!(script.calls.try_recv().is_err(), "no other call");
}

#[tokio::test]
async fn a_clone_of_the_driver_reports_the_end_from_its_own_task_and_stops_the_run() {
    let mut script = Script::start(None, Duration::ZERO).await;
    let driver = run(&script.socket, Recorder { on_launch: OnLaunch::FinishElsewhere, ..Recorder::default() });

    let events = script.next_subscription().await;
    events.send(subscribed()).await.unwrap();
    events.send(launch("batch", b"")).await.unwrap();
    let finished_update = script.next_update().await;
    assert_eq!(
        (finished_update.state(), finished_update.message.as_str(), finished_update.uuid.as_str()),
        (TaskState::Finished, "done elsewhere", "batch-1")
    );

    let (outcome, mut recorder) = finished(driver).await;
    assert_eq!(outcome.unwrap(), ExecutorEnd::Stopped, "stopped with the stream still open");
    let elsewhere = recorder.elsewhere.take().expect("a task was started").await.expect("it did not panic");
    assert_eq!(
        elsewhere,
        [r#"Ok("batch-1")"#, "task batch has already ended (FINISHED): nothing can be reported after its end"]
    );
    assert!(script.calls.try_recv().is_err(), "the update after the end was not sent");
    drop(events);
}

#[tokio::test]
async fn a_refused_update_can_be_sent_again_and_the_streams_end_ends_the_run() {
    let mut script = Script::start(None, Duration::ZERO).await;
    script.refuse_an_update.store(true, Ordering::SeqCst);
    let driver = run(&script.socket, Recorder { on_launch: OnLaunch::ReportRunningTwice, ..Recorder::default() });

    let events = script.next_subscription().await;
    events.send(subscribed()).await.unwrap();
    events.send(launch("web", b"")).await.unwrap();
    let first = script.next_update().await;
    let second = script.next_update().await;
    assert_eq!((first.uuid.as_str(), second.uuid.as_str()), ("web-1", "web-2"), "a new uuid for the second try");
    assert_eq!(second.message, "second try");
    drop(events);

    let (outcome, recorder) = finished(driver).await;
    assert_eq!(outcome.unwrap(), ExecutorEnd::StreamEnded);
    assert_eq!(
        recorder.seen[2..],
        [
            "report refused: Update failed (Unavailable): the status file is busy",
            "reported TASK_STATE_RUNNING as web-2",
            r#"unacknowledged ["web-2"]"#,
        ]
    );
}

#[tokio::test]
async fn a_broken_stream_or_a_stream_not_beginning_with_subscribed_ends_the_run_with_an_error() {
    let mut script = Script::start(None, Duration::ZERO).await;
    let driver = run(&script.socket, Recorder::default());
    let events = script.next_subscription().await;
    events.send(subscribed()).await.unwrap();
    events.send(Err(Status::internal("the sandbox is gone"))).await.unwrap();
    let (outcome, recorder) = finished(driver).await;
    let error = outcome.expect_err("a broken stream");
    assert!(matches!(error, ExecutorError::StreamBroke { code: Code::Internal, .. }), "{error}");
    assert_eq!(
        recorder.seen.last().map(String::as_str),
        Some("error: the executor API's event stream broke (Internal): the sandbox is gone")
    );

    let driver = run(&script.socket, Recorder::default());
    let events = script.next_subscription().await;
    events.send(launch("early", b"")).await.unwrap();
    let (outcome, recorder) = finished(driver).await;
    let error = outcome.expect_err("LAUNCH before SUBSCRIBED");
    assert_eq!(
        error.to_string(),
        "Atoll's executor broke the executor API: the event stream did not begin with SUBSCRIBED"
    );
    assert_eq!(recorder.seen, [format!("error: {error}")], "no LAUNCH callback");
}

#[tokio::test]
async fn a_refused_subscription_ends_at_once_and_a_socket_that_listens_late_is_waited_for() {
    let script = Script::start(Some(Code::PermissionDenied), Duration::ZERO).await;
    // Wait for the socket, so the refusal is the script's and not a missing file's.
    tokio::time::timeout(STEP, async {
        while !script.socket.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the socket appears");
    let (outcome, recorder) = finished(run(&script.socket, Recorder::default())).await;
    match outcome {
        Err(ExecutorError::Subscribe { socket, code: Code::PermissionDenied, message }) => {
            assert_eq!((socket, message.as_str()), (script.socket.display().to_string(), "not for you"));
        }
        other => panic!("refused, not {other:?}"),
    }
    assert!(recorder.seen.is_empty());

    let mut late = Script::start(None, Duration::from_millis(500)).await;
    let driver = run(&late.socket, Recorder::default());
    let events = late.next_subscription().await;
    events.send(subscribed()).await.unwrap();
    events.send(event(Event::Shutdown(ExecutorShutdown { grace_secs: -3.0 }))).await.unwrap();
    let (outcome, recorder) = finished(driver).await;
    assert_eq!(outcome.unwrap(), ExecutorEnd::Shutdown { grace: Duration::ZERO }, "a negative grace is none");
    assert_eq!(recorder.seen.len(), 2, "{:?}", recorder.seen);
}

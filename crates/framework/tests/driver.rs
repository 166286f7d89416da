//! The driver against a scripted FrameworkService on loopback: each test plays the scheduler's
//! side step by step (the events it sends on each subscription, the calls it expects) and
//! checks what the framework's callbacks saw and what the driver sent: registration,
//! launches naming the subscription, implicit acknowledgements and repeats, messages to and
//! from a task's custom executor, resubscribing with the framework's id after the stream ends
//! or goes quiet, teardown, refusals, and the framework's end.

use std::net::SocketAddr;
use std::time::Duration;

use atoll_framework::v1::framework_event::Event;
use atoll_framework::v1::framework_service_server::{FrameworkService, FrameworkServiceServer};
use atoll_framework::v1::{self, *};
use atoll_framework::{DriverConfig, FrameworkError, Scheduler, SchedulerDriver, Stopped, TaskRequest, fit};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Code, Request, Response, Status};

/// How long any one step may take before the test fails (never slept: only waited on).
const STEP: Duration = Duration::from_secs(10);

type EventSender = mpsc::Sender<Result<FrameworkEvent, Status>>;

/// A call the scripted scheduler received.
#[derive(Debug)]
enum Call {
    Accept(AcceptRequest),
    Decline(DeclineRequest),
    Kill(FrameworkKillRequest),
    Acknowledge(AcknowledgeRequest),
    Reconcile(ReconcileRequest),
    Message(FrameworkMessageRequest),
    Teardown(TeardownRequest),
    Other(&'static str, Option<FrameworkCall>),
}

/// The scheduler's side: every Subscribe and call goes to the test, which answers.
struct Scripted {
    subscriptions: mpsc::Sender<(FrameworkSubscribeRequest, EventSender)>,
    calls: mpsc::Sender<Call>,
    refuse_subscribe: Option<Code>,
    /// Every Subscribe that reached the scheduler, refused ones included.
    attempts: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Scripted {
    async fn record(&self, call: Call) {
        self.calls.send(call).await.expect("the test listens for calls");
    }
}

#[tonic::async_trait]
impl FrameworkService for Scripted {
    type SubscribeStream = ReceiverStream<Result<FrameworkEvent, Status>>;

    async fn subscribe(
        &self,
        request: Request<FrameworkSubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(code) = self.refuse_subscribe {
            return Err(Status::new(code, "not for you"));
        }
        let (events, stream) = mpsc::channel(16);
        self.subscriptions.send((request.into_inner(), events)).await.expect("the test listens for subscriptions");
        Ok(Response::new(ReceiverStream::new(stream)))
    }

    async fn accept(&self, request: Request<AcceptRequest>) -> Result<Response<AcceptResponse>, Status> {
        let request = request.into_inner();
        let atoll_task_ids = request.tasks.iter().map(|t| format!("atoll/{}", t.task_id)).collect();
        self.record(Call::Accept(request)).await;
        Ok(Response::new(AcceptResponse { atoll_task_ids }))
    }

    async fn decline(&self, request: Request<DeclineRequest>) -> Result<Response<DeclineResponse>, Status> {
        self.record(Call::Decline(request.into_inner())).await;
        Ok(Response::new(DeclineResponse {}))
    }

    async fn revive(&self, request: Request<FrameworkCall>) -> Result<Response<FrameworkCallResponse>, Status> {
        self.record(Call::Other("Revive", Some(request.into_inner()))).await;
        Ok(Response::new(FrameworkCallResponse {}))
    }

    async fn suppress(&self, request: Request<FrameworkCall>) -> Result<Response<FrameworkCallResponse>, Status> {
        self.record(Call::Other("Suppress", Some(request.into_inner()))).await;
        Ok(Response::new(FrameworkCallResponse {}))
    }

    async fn kill(&self, request: Request<FrameworkKillRequest>) -> Result<Response<FrameworkCallResponse>, Status> {
        self.record(Call::Kill(request.into_inner())).await;
        Ok(Response::new(FrameworkCallResponse {}))
    }

    async fn acknowledge(
        &self,
        request: Request<AcknowledgeRequest>,
    ) -> Result<Response<FrameworkCallResponse>, Status> {
        self.record(Call::Acknowledge(request.into_inner())).await;
        Ok(Response::new(FrameworkCallResponse {}))
    }

    async fn reconcile(&self, request: Request<ReconcileRequest>) -> Result<Response<FrameworkCallResponse>, Status> {
        self.record(Call::Reconcile(request.into_inner())).await;
        Ok(Response::new(FrameworkCallResponse {}))
    }

    async fn message(
        &self,
        request: Request<FrameworkMessageRequest>,
    ) -> Result<Response<FrameworkCallResponse>, Status> {
        let request = request.into_inner();
        let refusal = (request.task_id != "web").then(|| Status::failed_precondition("no custom executor"));
        self.record(Call::Message(request)).await;
        refusal.map_or(Ok(Response::new(FrameworkCallResponse {})), Err)
    }

    async fn teardown(&self, request: Request<TeardownRequest>) -> Result<Response<FrameworkCallResponse>, Status> {
        self.record(Call::Teardown(request.into_inner())).await;
        Ok(Response::new(FrameworkCallResponse {}))
    }

    async fn list_frameworks(
        &self,
        _: Request<ListFrameworksRequest>,
    ) -> Result<Response<ListFrameworksResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn get_framework(&self, _: Request<GetFrameworkRequest>) -> Result<Response<GetFrameworkResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }
}

/// The test's end of a scripted scheduler.
struct Script {
    address: String,
    subscriptions: mpsc::Receiver<(FrameworkSubscribeRequest, EventSender)>,
    calls: mpsc::Receiver<Call>,
    attempts: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Script {
    async fn start(refuse_subscribe: Option<Code>) -> Script {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let address: SocketAddr = listener.local_addr().expect("local address");
        let (subscriptions_sender, subscriptions) = mpsc::channel(4);
        let (calls_sender, calls) = mpsc::channel(64);
        let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let service = Scripted {
            subscriptions: subscriptions_sender,
            calls: calls_sender,
            refuse_subscribe,
            attempts: attempts.clone(),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(FrameworkServiceServer::new(service))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Script { address: format!("http://{address}"), subscriptions, calls, attempts }
    }

    async fn next_subscription(&mut self) -> (FrameworkSubscribeRequest, EventSender) {
        tokio::time::timeout(STEP, self.subscriptions.recv())
            .await
            .expect("a subscription in time")
            .expect("the scheduler still runs")
    }

    async fn next_call(&mut self) -> Call {
        tokio::time::timeout(STEP, self.calls.recv()).await.expect("a call in time").expect("the scheduler still runs")
    }
}

fn info() -> FrameworkInfo {
    FrameworkInfo { name: "recorder".into(), role: "tests".into(), failover_timeout_secs: Some(60.0) }
}

fn event(event: Event) -> Result<FrameworkEvent, Status> {
    Ok(FrameworkEvent { event: Some(event) })
}

fn subscribed(framework_id: &str, stream_id: &str, heartbeat_interval_secs: f64) -> Result<FrameworkEvent, Status> {
    event(Event::Subscribed(Subscribed {
        framework_id: framework_id.into(),
        stream_id: stream_id.into(),
        heartbeat_interval_secs,
        resubscribed: false,
        offer_timeout_secs: 30.0,
    }))
}

fn offer(id: &str) -> Offer {
    Offer {
        id: id.into(),
        agent_id: "agent-1".into(),
        hostname: "host-1".into(),
        resources: Some(Resources { cpu: 1.0, ram_mb: 512, disk_mb: 512, gpu: 0 }),
        ports: vec![PortRange { begin: 31000, end: 31009 }],
        attributes: Default::default(),
    }
}

fn update(task_id: &str, state: TaskState, uuid: &str) -> Result<FrameworkEvent, Status> {
    event(Event::Update(TaskUpdate {
        task_id: task_id.into(),
        state: state.into(),
        uuid: uuid.into(),
        hostname: "host-1".into(),
        ..TaskUpdate::default()
    }))
}

fn call_of(framework_id: &str, stream_id: &str) -> Option<FrameworkCall> {
    Some(FrameworkCall { framework_id: framework_id.into(), stream_id: stream_id.into() })
}

/// A framework that writes down every callback, launches a task `web` with a port on each
/// offer, and stops as told once it has subscribed again.
#[derive(Default)]
struct Recorder {
    seen: Vec<String>,
    /// On `reregistered`: stop, with failover or not.
    stop_when_reregistered: Option<bool>,
    /// Acknowledge each update with a uuid itself (explicit acknowledgements).
    acknowledge: bool,
    /// On `registered`: make every other call once.
    call_everything: bool,
}

impl Recorder {
    async fn call_everything(&mut self, driver: &mut SchedulerDriver) {
        let outcome = |result: Result<(), FrameworkError>| result.map_or_else(|e| e.to_string(), |()| "ok".to_owned());
        let declined = driver.decline(&["o-8".into(), "o-9".into()], Some(Duration::from_secs(90))).await;
        self.seen.push(format!("decline: {}", outcome(declined)));
        self.seen.push(format!("kill: {}", outcome(driver.kill("web").await)));
        self.seen.push(format!("suppress: {}", outcome(driver.suppress().await)));
        self.seen.push(format!("suppressed: {}", driver.is_suppressed()));
        self.seen.push(format!("revive: {}", outcome(driver.revive().await)));
        self.seen.push(format!("suppressed: {}", driver.is_suppressed()));
        self.seen.push(format!("reconcile: {}", outcome(driver.reconcile(&["web".into()]).await)));
        self.seen.push(format!("message: {}", outcome(driver.message("web", b"hi".to_vec()).await)));
        self.seen.push(format!("message: {}", outcome(driver.message("plain", b"hi".to_vec()).await)));
        self.seen.push(format!("offer timeout: {:?}", driver.offer_timeout()));
    }
}

impl Scheduler for Recorder {
    async fn registered(&mut self, driver: &mut SchedulerDriver, framework_id: &str) {
        self.seen.push(format!("registered {framework_id}"));
        if self.call_everything {
            self.call_everything(driver).await;
        }
    }

    async fn reregistered(&mut self, driver: &mut SchedulerDriver, framework_id: &str) {
        self.seen.push(format!("reregistered {framework_id}"));
        if let Some(failover) = self.stop_when_reregistered {
            driver.stop(failover);
        }
    }

    async fn disconnected(&mut self, driver: &mut SchedulerDriver) {
        let kill = driver.kill("web").await;
        self.seen.push(format!("disconnected; a kill meanwhile: {}", kill.map_err(|e| e.to_string()).unwrap_err()));
    }

    async fn resource_offers(&mut self, driver: &mut SchedulerDriver, offers: Vec<Offer>) {
        for offer in offers {
            let web =
                TaskRequest::new("web", "serve", Resources { cpu: 0.5, ram_mb: 64, disk_mb: 8, gpu: 0 }).port("http");
            let (tasks, _) = fit(&offer, vec![web]);
            let launched = driver.launch(std::slice::from_ref(&offer.id), tasks, Some(Duration::from_secs(7))).await;
            self.seen.push(format!("offer {}: launched {:?}", offer.id, launched.expect("the launch is accepted")));
        }
    }

    async fn status_update(&mut self, driver: &mut SchedulerDriver, update: TaskUpdate) {
        self.seen.push(format!("update {} {} {:?}", update.task_id, update.state().as_str_name(), update.uuid));
        if self.acknowledge {
            if let Err(error) = driver.acknowledge(&update).await {
                self.seen.push(format!("acknowledge refused: {error}"));
            }
        } else if !update.uuid.is_empty() {
            let refused = driver.acknowledge(&update).await.expect_err("implicit acknowledgements");
            assert!(matches!(refused, FrameworkError::ImplicitAcknowledgements), "{refused}");
        }
    }

    async fn framework_message(&mut self, _driver: &mut SchedulerDriver, task_id: &str, agent_id: &str, data: Vec<u8>) {
        self.seen.push(format!("message from {task_id} on {agent_id}: {}", String::from_utf8_lossy(&data)));
    }

    async fn agent_lost(&mut self, _driver: &mut SchedulerDriver, agent_id: &str, hostname: &str) {
        self.seen.push(format!("agent lost {agent_id} {hostname}"));
    }

    async fn error(&mut self, _driver: &mut SchedulerDriver, message: &str) {
        self.seen.push(format!("error {message}"));
    }
}

/// Runs `recorder` with `config` on a task of its own: join it for the outcome and the record.
fn run(
    config: DriverConfig,
    mut recorder: Recorder,
) -> tokio::task::JoinHandle<(Result<Stopped, FrameworkError>, Vec<String>)> {
    tokio::spawn(async move {
        let outcome = SchedulerDriver::run(config, &mut recorder).await;
        (outcome, recorder.seen)
    })
}

async fn finished(
    handle: tokio::task::JoinHandle<(Result<Stopped, FrameworkError>, Vec<String>)>,
) -> (Result<Stopped, FrameworkError>, Vec<String>) {
    tokio::time::timeout(STEP, handle).await.expect("the driver ends in time").expect("the driver does not panic")
}

#[tokio::test]
async fn a_framework_registers_launches_acknowledges_resubscribes_with_its_id_and_tears_itself_down() {
    let mut script = Script::start(None).await;
    let recorder = Recorder { stop_when_reregistered: Some(false), ..Recorder::default() };
    let driver =
        run(DriverConfig::new(&script.address, info()).reconnect_backoff(Duration::ZERO, Duration::ZERO), recorder);

    let (first, events) = script.next_subscription().await;
    assert_eq!(first.info, Some(info()));
    assert_eq!(first.framework_id, "", "a new framework");
    events.send(subscribed("fw-1", "s-1", 10.0)).await.unwrap();
    events.send(event(Event::Offers(Offers { offers: vec![offer("o-1")] }))).await.unwrap();
    let Call::Accept(accept) = script.next_call().await else { panic!("an Accept") };
    assert_eq!(accept.call, call_of("fw-1", "s-1"), "calls name the subscription");
    assert_eq!(accept.offer_ids, ["o-1"]);
    assert_eq!(accept.refuse_seconds, Some(7.0));
    assert_eq!(accept.tasks.len(), 1);
    assert_eq!(accept.tasks[0].ports.get("http"), Some(&31000), "the port comes from the offer");

    // An update is acknowledged once its callback returns; a repeat is acknowledged again but
    // not handed over; a reconciliation answer (no uuid) is handed over and not acknowledged.
    events.send(update("web", TaskState::Running, "u-1")).await.unwrap();
    let Call::Acknowledge(ack) = script.next_call().await else { panic!("an Acknowledge") };
    assert_eq!((ack.call, ack.task_id.as_str(), ack.uuid.as_str()), (call_of("fw-1", "s-1"), "web", "u-1"));
    events.send(update("web", TaskState::Running, "u-1")).await.unwrap();
    let Call::Acknowledge(again) = script.next_call().await else { panic!("the repeat acknowledged") };
    assert_eq!(again.uuid, "u-1");
    events.send(update("web", TaskState::Running, "")).await.unwrap();
    let echoed = ExecutorMessage { task_id: "web".into(), agent_id: "agent-1".into(), data: b"echo: hi".to_vec() };
    events.send(event(Event::Message(echoed))).await.unwrap();
    events
        .send(event(Event::Failure(AgentFailure { agent_id: "agent-2".into(), hostname: "host-2".into() })))
        .await
        .unwrap();
    events.send(event(Event::Heartbeat(Heartbeat {}))).await.unwrap();

    // The stream ends: the driver subscribes again as fw-1.
    drop(events);
    let (second, events) = script.next_subscription().await;
    assert_eq!(second.framework_id, "fw-1", "resubscribed with its id");
    events.send(subscribed("fw-1", "s-2", 10.0)).await.unwrap();
    let Call::Teardown(teardown) = script.next_call().await else { panic!("a Teardown") };
    assert_eq!(teardown.call, call_of("fw-1", "s-2"), "the new subscription's");

    let (outcome, seen) = finished(driver).await;
    assert_eq!(outcome.unwrap(), Stopped { framework_id: Some("fw-1".into()), torn_down: true });
    assert_eq!(
        seen,
        [
            "registered fw-1",
            r#"offer o-1: launched ["atoll/web"]"#,
            r#"update web TASK_STATE_RUNNING "u-1""#,
            r#"update web TASK_STATE_RUNNING """#,
            "message from web on agent-1: echo: hi",
            "agent lost agent-2 host-2",
            "disconnected; a kill meanwhile: Kill needs a subscription, and the driver has none just now",
            "reregistered fw-1",
        ]
    );
}

#[tokio::test]
async fn every_call_names_the_subscription_and_carries_its_arguments() {
    let mut script = Script::start(None).await;
    let config = DriverConfig::new(&script.address, info()).subscribe_suppressed();
    let stop = config.stop_handle();
    let driver = run(config, Recorder { call_everything: true, ..Recorder::default() });

    let (request, events) = script.next_subscription().await;
    assert!(request.suppressed, "subscribed suppressed");
    events.send(subscribed("fw-4", "s-1", 10.0)).await.unwrap();
    let Call::Decline(decline) = script.next_call().await else { panic!("a Decline") };
    assert_eq!(
        (decline.call, decline.offer_ids, decline.refuse_seconds),
        (call_of("fw-4", "s-1"), vec!["o-8".into(), "o-9".into()], Some(90.0))
    );
    let Call::Kill(kill) = script.next_call().await else { panic!("a Kill") };
    assert_eq!((kill.call, kill.task_id.as_str()), (call_of("fw-4", "s-1"), "web"));
    let Call::Other(name, call) = script.next_call().await else { panic!("a Suppress") };
    assert_eq!((name, call), ("Suppress", call_of("fw-4", "s-1")));
    let Call::Other(name, call) = script.next_call().await else { panic!("a Revive") };
    assert_eq!((name, call), ("Revive", call_of("fw-4", "s-1")));
    let Call::Reconcile(reconcile) = script.next_call().await else { panic!("a Reconcile") };
    assert_eq!((reconcile.call, reconcile.task_ids), (call_of("fw-4", "s-1"), vec!["web".to_owned()]));
    let Call::Message(message) = script.next_call().await else { panic!("a Message") };
    assert_eq!(
        (message.call, message.task_id.as_str(), message.data.as_slice()),
        (call_of("fw-4", "s-1"), "web", b"hi".as_slice())
    );
    let Call::Message(refused) = script.next_call().await else { panic!("another Message") };
    assert_eq!(refused.task_id, "plain");
    stop.stop(true);

    let (outcome, seen) = finished(driver).await;
    assert_eq!(outcome.unwrap(), Stopped { framework_id: Some("fw-4".into()), torn_down: false });
    assert_eq!(
        seen,
        [
            "registered fw-4",
            "decline: ok",
            "kill: ok",
            "suppress: ok",
            "suppressed: true",
            "revive: ok",
            "suppressed: false",
            "reconcile: ok",
            "message: ok",
            "message: Message failed (FailedPrecondition): no custom executor",
            "offer timeout: Some(30s)",
        ]
    );
}

#[tokio::test]
async fn missed_heartbeats_count_as_a_disconnect_and_a_failover_stop_leaves_the_framework() {
    let mut script = Script::start(None).await;
    let recorder = Recorder { stop_when_reregistered: Some(true), ..Recorder::default() };
    let config = DriverConfig::new(&script.address, info())
        .missed_heartbeats(3)
        .reconnect_backoff(Duration::ZERO, Duration::ZERO);
    let driver = run(config, recorder);

    let (_, events) = script.next_subscription().await;
    // Heartbeats every 50 ms that never come: 150 ms of silence ends the subscription, though
    // the stream is still open.
    events.send(subscribed("fw-7", "s-1", 0.05)).await.unwrap();
    let (again, second_events) = script.next_subscription().await;
    assert_eq!(again.framework_id, "fw-7");
    second_events.send(subscribed("fw-7", "s-2", 10.0)).await.unwrap();

    let (outcome, seen) = finished(driver).await;
    assert_eq!(outcome.unwrap(), Stopped { framework_id: Some("fw-7".into()), torn_down: false });
    assert_eq!(seen[0], "registered fw-7");
    assert!(seen[1].starts_with("disconnected"), "{seen:?}");
    assert_eq!(seen[2], "reregistered fw-7");
    drop(events);
    assert!(script.calls.try_recv().is_err(), "a failover stop makes no call");
}

#[tokio::test]
async fn explicit_acknowledgements_are_the_frameworks_and_an_update_without_a_uuid_needs_none() {
    let mut script = Script::start(None).await;
    let recorder = Recorder { acknowledge: true, ..Recorder::default() };
    let config = DriverConfig::new(&script.address, info()).explicit_acknowledgements();
    let stop = config.stop_handle();
    let driver = run(config, recorder);

    let (_, events) = script.next_subscription().await;
    events.send(subscribed("fw-2", "s-1", 10.0)).await.unwrap();
    events.send(update("web", TaskState::Finished, "")).await.unwrap();
    events.send(update("web", TaskState::Finished, "u-9")).await.unwrap();
    let Call::Acknowledge(ack) = script.next_call().await else { panic!("an Acknowledge") };
    assert_eq!(ack.uuid, "u-9");
    stop.stop(false);
    let Call::Teardown(teardown) = script.next_call().await else { panic!("a Teardown") };
    assert_eq!(teardown.call, call_of("fw-2", "s-1"));

    let (outcome, seen) = finished(driver).await;
    assert!(outcome.unwrap().torn_down);
    assert_eq!(
        seen,
        [
            "registered fw-2",
            r#"update web TASK_STATE_FINISHED """#,
            "acknowledge refused: the update of task web carries no uuid (a reconciliation answer), so there is nothing to acknowledge",
            r#"update web TASK_STATE_FINISHED "u-9""#,
        ]
    );
}

#[tokio::test]
async fn an_error_event_ends_the_framework_after_its_callback() {
    let mut script = Script::start(None).await;
    let driver = run(DriverConfig::new(&script.address, info()), Recorder::default());
    let (_, events) = script.next_subscription().await;
    events.send(subscribed("fw-3", "s-1", 10.0)).await.unwrap();
    let replaced = "replaced by a newer subscription".to_owned();
    events.send(event(Event::Error(v1::FrameworkError { message: replaced.clone() }))).await.unwrap();
    let (outcome, seen) = finished(driver).await;
    match outcome {
        Err(atoll_framework::FrameworkError::Ended { message }) => assert_eq!(message, replaced),
        other => panic!("ended, not {other:?}"),
    }
    assert_eq!(seen, ["registered fw-3", "error replaced by a newer subscription"]);
}

#[tokio::test]
async fn a_refused_subscription_is_not_tried_again_and_an_absent_scheduler_is_given_up_on() {
    let script = Script::start(Some(Code::PermissionDenied)).await;
    let (outcome, seen) = finished(run(DriverConfig::new(&script.address, info()), Recorder::default())).await;
    match outcome {
        Err(atoll_framework::FrameworkError::SubscribeRefused { code: Code::PermissionDenied, message, .. }) => {
            assert_eq!(message, "not for you")
        }
        other => panic!("refused, not {other:?}"),
    }
    assert!(seen.is_empty());
    let attempts = script.attempts.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(attempts, 1, "a refusal is final: subscribed once, not again");

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let config = DriverConfig::new(&closed, info())
        .reconnect_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .give_up_after(Duration::from_millis(200));
    let (outcome, _) = finished(run(config, Recorder::default())).await;
    match outcome {
        Err(atoll_framework::FrameworkError::Unreachable { address, waited, .. }) => {
            assert_eq!(address, closed);
            assert!(waited >= Duration::from_millis(200), "{waited:?}");
        }
        other => panic!("unreachable, not {other:?}"),
    }
}

//! The scheduler's gRPC surface over a real loopback connection: health and reflection for
//! other languages' clients, refusals of malformed requests with the right status codes, and a
//! store failure that leaves nothing half-written.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use atoll_proto::v1::{
    self, agent_service_client::AgentServiceClient, scheduler_service_client::SchedulerServiceClient,
};
use atoll_state::{Changes, Durable};
use atoll_storage::{MemoryStore, Store, StoreError};
use tonic::transport::Channel;

/// A memory store whose writes fail while `failing` is set, like a full disk, and whose
/// flushes fail while `flush_failing` is, or take 2 s while `flush_slow` is.
struct FlakyStore {
    inner: MemoryStore,
    failing: Arc<AtomicBool>,
    flush_failing: Arc<AtomicBool>,
    flush_slow: Arc<AtomicBool>,
}

fn full() -> StoreError {
    StoreError::Io { dir: "/full".into(), detail: "No space left on device".into() }
}

impl Store for FlakyStore {
    fn load(&self) -> Result<Durable, StoreError> {
        self.inner.load()
    }

    fn write(&self, changes: &Changes) -> Result<u64, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(full());
        }
        self.inner.write(changes)
    }

    fn flush(&self) -> Result<(), StoreError> {
        if self.flush_failing.load(Ordering::SeqCst) {
            return Err(full());
        }
        if self.flush_slow.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        self.inner.flush()
    }
}

struct Served {
    channel: Channel,
    failing: Arc<AtomicBool>,
    flush_failing: Arc<AtomicBool>,
    flush_slow: Arc<AtomicBool>,
    _stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), atoll_server::ServerError>>,
}

async fn start() -> (Channel, Arc<AtomicBool>, tokio::sync::oneshot::Sender<()>) {
    let served = start_flaky().await;
    (served.channel, served.failing, served._stop)
}

async fn start_flaky() -> Served {
    let failing = Arc::new(AtomicBool::new(false));
    let flush_failing = Arc::new(AtomicBool::new(false));
    let flush_slow = Arc::new(AtomicBool::new(false));
    let store = FlakyStore {
        inner: MemoryStore::default(),
        failing: failing.clone(),
        flush_failing: flush_failing.clone(),
        flush_slow: flush_slow.clone(),
    };
    let (channel, stop, serving) = support::serve(Box::new(store)).await;
    Served { channel, failing, flush_failing, flush_slow, _stop: stop, serving }
}

fn hello() -> v1::JobConfig {
    v1::JobConfig {
        key: Some(v1::JobKey {
            cluster: "devcluster".into(),
            role: "www-data".into(),
            environment: "devel".into(),
            name: "hello".into(),
        }),
        task: Some(v1::TaskConfig {
            name: "hello".into(),
            processes: vec![v1::ProcessConfig {
                name: "hello".into(),
                cmdline: "echo hi".into(),
                max_failures: 1,
                ..Default::default()
            }],
            resources: Some(v1::Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 }),
            max_failures: 1,
            ..Default::default()
        }),
        instances: 1,
        service: true,
        max_task_failures: 1,
        ..Default::default()
    }
}

#[tokio::test]
async fn serves_grpc_health_and_reflection() {
    let (channel, _, _stop) = start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "atoll.v1.SchedulerService", "atoll.v1.AgentService"] {
        let answer = health.check(tonic_health::pb::HealthCheckRequest { service: service.into() }).await.unwrap();
        assert_eq!(answer.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    }

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"atoll.v1.SchedulerService".to_owned()), "{names:?}");
    assert!(names.contains(&"atoll.v1.AgentService".to_owned()), "{names:?}");
}

#[tokio::test]
async fn malformed_requests_are_refused_with_a_message_naming_the_problem() {
    let (channel, _, _stop) = start().await;
    let mut client = SchedulerServiceClient::new(channel.clone());

    let missing = client.create_job(v1::CreateJobRequest { job: None }).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::InvalidArgument);

    let mut bad_key = hello();
    bad_key.key.as_mut().unwrap().role = "www data".into();
    let refused = client.create_job(v1::CreateJobRequest { job: Some(bad_key) }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("'www data'"), "{}", refused.message());

    let mut no_ram = hello();
    no_ram.task.as_mut().unwrap().resources.as_mut().unwrap().ram_mb = 0;
    let refused = client.create_job(v1::CreateJobRequest { job: Some(no_ram) }).await.unwrap_err();
    assert!(refused.message().contains("Must specify ram and disk resources"), "{}", refused.message());

    client.create_job(v1::CreateJobRequest { job: Some(hello()) }).await.unwrap();
    let exists = client.create_job(v1::CreateJobRequest { job: Some(hello()) }).await.unwrap_err();
    assert_eq!(exists.code(), tonic::Code::AlreadyExists);
    assert_eq!(exists.message(), "Job devcluster/www-data/devel/hello already exists");

    let unknown = client
        .get_tasks(v1::GetTasksRequest {
            job: Some(v1::JobKey { name: "nope".into(), ..hello().key.unwrap() }),
            include_history: false,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert!(unknown.message().contains("devcluster/www-data/devel/nope"), "{}", unknown.message());

    let mut agents = AgentServiceClient::new(channel);
    let no_resources =
        agents.register(v1::RegisterRequest { agent_id: "a".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(no_resources.code(), tonic::Code::InvalidArgument);
    let bad_state = agents
        .update_task_status(v1::UpdateTaskStatusRequest {
            agent_id: "a".into(),
            task_id: "t".into(),
            state: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(bad_state.message().contains("unknown value 99"), "{}", bad_state.message());
    let scheduler_only = agents
        .update_task_status(v1::UpdateTaskStatusRequest {
            agent_id: "a".into(),
            task_id: "t".into(),
            state: v1::TaskState::Killing as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(scheduler_only.message().contains("not KILLING"), "{}", scheduler_only.message());
    let unregistered = agents.commands(v1::CommandsRequest { agent_id: "ghost".into() }).await.unwrap_err();
    assert_eq!(unregistered.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test]
async fn a_failed_commit_changes_nothing_and_says_so() {
    let (channel, failing, _stop) = start().await;
    let mut client = SchedulerServiceClient::new(channel);
    failing.store(true, Ordering::SeqCst);
    let refused = client.create_job(v1::CreateJobRequest { job: Some(hello()) }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Internal);
    // The client tells the scheduler's answers from its own reports of a broken connection by
    // the response's headers, which an answer carries.
    assert!(!refused.metadata().is_empty(), "an answer carries the response's headers: {:?}", refused.metadata());
    assert!(
        refused.message().contains("nothing was changed") && refused.message().contains("No space left"),
        "{}",
        refused.message()
    );
    let listed =
        client.list_jobs(v1::ListJobsRequest { cluster: "devcluster".into(), ..Default::default() }).await.unwrap();
    assert!(listed.into_inner().jobs.is_empty(), "the refused job must not linger in memory");

    failing.store(false, Ordering::SeqCst);
    client.create_job(v1::CreateJobRequest { job: Some(hello()) }).await.expect("works once the store does");
}

#[tokio::test]
async fn a_failed_flush_fails_the_change_sends_nothing_of_it_and_stops_the_scheduler() {
    let served = start_flaky().await;
    let mut client = SchedulerServiceClient::new(served.channel.clone());
    let mut events = v1::event_service_client::EventServiceClient::new(served.channel.clone());
    let request =
        v1::SubscribeRequest { cluster: "devcluster".into(), from_index: Some(0), follow: true, ..Default::default() };
    let mut stream = events.subscribe(request).await.unwrap().into_inner();
    served.flush_failing.store(true, Ordering::SeqCst);
    let refused = client.create_job(v1::CreateJobRequest { job: Some(hello()) }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Internal, "{refused:?}");
    assert!(
        refused.message().contains("could not make the change durable (")
            && refused.message().contains("No space left on device")
            && refused.message().contains("is stopping"),
        "{}",
        refused.message()
    );
    // Nothing of the change went out, and the scheduler stops, saying why.
    let next = tokio::time::timeout(std::time::Duration::from_millis(500), stream.message()).await;
    assert!(next.is_err(), "no event of a change that failed: {next:?}");
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(15), served.serving)
        .await
        .expect("the scheduler stops")
        .expect("the serving task");
    let error = stopped.expect_err("stopped for its disk").to_string();
    assert!(
        error.contains("the data directory's disk did not take a change") && error.contains("No space left on device"),
        "{error}"
    );
}

#[tokio::test]
async fn a_change_whose_flush_is_slow_says_so_in_time_and_lands_when_the_flush_completes() {
    let served = start_flaky().await;
    let mut client = SchedulerServiceClient::new(served.channel.clone());
    served.flush_slow.store(true, Ordering::SeqCst);
    // The flush takes 2 s, past the scheduler's durable wait (1 s here).
    let refused = client.create_job(v1::CreateJobRequest { job: Some(hello()) }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::DeadlineExceeded, "{refused:?}");
    assert!(
        refused.message().contains("not yet on disk (its flush took longer than 1 s)")
            && refused.message().contains("look before trying again"),
        "{}",
        refused.message()
    );
    served.flush_slow.store(false, Ordering::SeqCst);
    let mut events = v1::event_service_client::EventServiceClient::new(served.channel.clone());
    let request =
        v1::SubscribeRequest { cluster: "devcluster".into(), from_index: Some(0), follow: true, ..Default::default() };
    let mut stream = events.subscribe(request).await.unwrap().into_inner();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.message()).await.unwrap().unwrap();
    assert!(first.is_some(), "the job's events once durable");
    let listed =
        client.list_jobs(v1::ListJobsRequest { cluster: "devcluster".into(), ..Default::default() }).await.unwrap();
    assert_eq!(listed.into_inner().jobs.len(), 1, "the change landed");
}

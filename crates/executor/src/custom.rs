//! The executor API (`atoll.v1.ExecutorService`) for a framework's custom executor: a task
//! launched with one runs the executor's command as its one process, and this executor serves
//! it the API on a Unix socket named in the process's environment ([`SOCKET_VARIABLE`]).
//!
//! The socket is a short path in the temporary directory (a sandbox path may exceed a socket
//! address's 108 bytes), made the task user's alone (0600), removed when the task ends. The
//! service hands the custom executor its SUBSCRIBED and LAUNCH events and then what the runner
//! sends ([`CustomExecutor::send`]); what the custom executor calls (its task's state, messages
//! for its framework) goes to the runner as [`CustomCall`]s. One subscription at a time: a newer
//! one replaces the older, whose stream ends.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use atoll_model::TaskState;
use atoll_proto::v1;
use atoll_proto::v1::executor_service_server::{ExecutorService, ExecutorServiceServer};
use atoll_sandbox::LaunchFile;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status};

/// The variable the custom executor finds the socket in.
pub const SOCKET_VARIABLE: &str = "ATOLL_EXECUTOR_SOCKET";

/// Events a subscriber's stream holds before sends to it are dropped (it reads too slowly).
const SUBSCRIBER_BUFFER: usize = 1024;

/// Tells apart the sockets of tasks run by one process (tests run many).
static SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The largest message the custom executor may send its framework.
const MAX_MESSAGE: usize = 1024 * 1024;

/// What the custom executor asked for.
#[derive(Debug, PartialEq)]
pub enum CustomCall {
    /// Its task's state (RUNNING, or an end), with the uuid to acknowledge.
    Update { state: TaskState, message: String, uuid: String },
    /// Data for its framework.
    Message(Vec<u8>),
}

/// The served API, as the runner holds it.
pub struct CustomExecutor {
    shared: Arc<Shared>,
    socket: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    task_id: String,
    first_events: Vec<v1::ExecutorEvent>,
    subscriber: Mutex<Option<mpsc::Sender<Result<v1::ExecutorEvent, Status>>>>,
    calls: mpsc::UnboundedSender<CustomCall>,
}

impl CustomExecutor {
    /// Serves the API for `file`'s task (one launched with a custom executor), whose framework
    /// calls it `task_id`, on a new socket; returns it, and the receiver of what it is asked.
    pub fn start(
        file: &LaunchFile,
        task_id: &str,
        data: Vec<u8>,
        sandbox: &Path,
    ) -> Result<(CustomExecutor, mpsc::UnboundedReceiver<CustomCall>), String> {
        let served = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = std::env::temp_dir().join(format!("atoll-executor-{}-{served}.sock", std::process::id()));
        // A socket left by an earlier process of the same pid.
        let _ = std::fs::remove_file(&socket);
        let listener = tokio::net::UnixListener::bind(&socket)
            .map_err(|e| format!("could not serve the executor API on {}: {e}", socket.display()))?;
        restrict_to_task_user(&socket, file)?;
        let launch = &file.launch;
        let subscribed = v1::ExecutorSubscribed {
            framework_id: launch.job.name.clone(),
            agent_id: file.hostname.clone(),
            hostname: file.hostname.clone(),
            sandbox: sandbox.display().to_string(),
        };
        let launched = v1::ExecutorLaunch {
            task_id: task_id.to_owned(),
            resources: Some(v1::Resources::from(&launch.config.task.resources)),
            data,
            ports: launch.ports.iter().map(|(name, port)| (name.clone(), u32::from(*port))).collect(),
        };
        use v1::executor_event::Event;
        let first_events = [Event::Subscribed(subscribed), Event::Launch(launched)]
            .into_iter()
            .map(|event| v1::ExecutorEvent { event: Some(event) })
            .collect();
        let (calls, received) = mpsc::unbounded_channel();
        let shared =
            Arc::new(Shared { task_id: task_id.to_owned(), first_events, subscriber: Mutex::new(None), calls });
        let service = ExecutorServiceServer::new(Api { shared: shared.clone() });
        let server = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(UnixListenerStream::new(listener))
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the executor API stopped");
            }
        });
        Ok((CustomExecutor { shared, socket, server }, received))
    }

    /// Where the API is served.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Whether a custom executor is subscribed.
    pub fn subscribed(&self) -> bool {
        self.lock().as_ref().is_some_and(|s| !s.is_closed())
    }

    /// Sends an event to the subscribed custom executor, if there is one; false if there is
    /// none, or it reads too slowly to take it.
    pub fn send(&self, event: v1::executor_event::Event) -> bool {
        let subscriber = self.lock();
        let Some(sender) = subscriber.as_ref() else { return false };
        sender.try_send(Ok(v1::ExecutorEvent { event: Some(event) })).is_ok()
    }

    /// The framework's id of the task.
    pub fn task_id(&self) -> &str {
        &self.shared.task_id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<Result<v1::ExecutorEvent, Status>>>> {
        self.shared.subscriber.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for CustomExecutor {
    /// Stops serving and removes the socket.
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Makes the socket the task user's alone, when the task runs as a user of its own.
fn restrict_to_task_user(socket: &Path, file: &LaunchFile) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let refused =
        |e: &dyn std::fmt::Display| format!("could not give the executor API's socket to the task's user: {e}");
    if let Some(user) = &file.user {
        nix::unistd::chown(
            socket,
            Some(nix::unistd::Uid::from_raw(user.uid)),
            Some(nix::unistd::Gid::from_raw(user.gid)),
        )
        .map_err(|e| refused(&e))?;
    }
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).map_err(|e| refused(&e))
}

struct Api {
    shared: Arc<Shared>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<v1::ExecutorEvent, Status>> + Send>>;

#[tonic::async_trait]
impl ExecutorService for Api {
    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        _request: Request<v1::ExecutorSubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let (sender, receiver) = mpsc::channel(SUBSCRIBER_BUFFER);
        for event in &self.shared.first_events {
            // A new channel holds these.
            let _ = sender.try_send(Ok(event.clone()));
        }
        // The older subscription's sender goes, and its stream ends.
        *self.shared.subscriber.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(sender);
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn update(
        &self,
        request: Request<v1::ExecutorUpdateRequest>,
    ) -> Result<Response<v1::ExecutorUpdateResponse>, Status> {
        let request = request.into_inner();
        if request.task_id != self.shared.task_id {
            return Err(Status::invalid_argument(format!(
                "this executor runs task {}, not {}",
                self.shared.task_id, request.task_id
            )));
        }
        let state = match v1::TaskState::try_from(request.state) {
            Ok(v1::TaskState::Running) => TaskState::Running,
            Ok(v1::TaskState::Finished) => TaskState::Finished,
            Ok(v1::TaskState::Failed) => TaskState::Failed,
            Ok(v1::TaskState::Killed) => TaskState::Killed,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "a custom executor reports RUNNING, FINISHED, FAILED or KILLED, not state {}",
                    request.state
                )));
            }
        };
        let call = CustomCall::Update { state, message: request.message, uuid: request.uuid };
        self.shared.calls.send(call).map_err(|_| Status::unavailable("the task is ending"))?;
        Ok(Response::new(v1::ExecutorUpdateResponse {}))
    }

    async fn message(
        &self,
        request: Request<v1::ExecutorMessageRequest>,
    ) -> Result<Response<v1::ExecutorMessageResponse>, Status> {
        let data = request.into_inner().data;
        if data.len() > MAX_MESSAGE {
            return Err(Status::invalid_argument(format!("a message of {} bytes; at most 1 MiB", data.len())));
        }
        self.shared.calls.send(CustomCall::Message(data)).map_err(|_| Status::unavailable("the task is ending"))?;
        Ok(Response::new(v1::ExecutorMessageResponse {}))
    }
}

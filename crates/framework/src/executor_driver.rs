//! The executor driver: [`ExecutorDriver::run`] connects to Atoll's executor over the Unix
//! socket named by `$ATOLL_EXECUTOR_SOCKET`, subscribes to the executor API, hands each event
//! to the custom [`Executor`], and returns once SHUTDOWN came, the stream ended, or a stop was
//! asked for. The driver makes the executor's calls: report the task's state (each update with
//! a uuid of its own, acknowledged later), send the framework a message, and stop. It is
//! cheap to clone, so that work running beside the callbacks can report too.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use atoll_proto::v1::executor_event::Event;
use atoll_proto::v1::executor_service_client::ExecutorServiceClient;
use atoll_proto::v1::{
    ExecutorEvent, ExecutorMessageRequest, ExecutorSubscribeRequest, ExecutorSubscribed, ExecutorUpdateRequest,
    TaskState,
};
use tokio::sync::watch;
use tonic::Streaming;
use tonic::transport::{Channel, Endpoint};

use crate::reports::Reports;
use crate::{Executor, ExecutorError};

/// The environment variable that names the executor API's socket, an absolute path.
pub const SOCKET_VARIABLE: &str = "ATOLL_EXECUTOR_SOCKET";

/// How long each call (Update, Message) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to keep trying to subscribe while Atoll's executor cannot be reached (its socket
/// not listening yet, say).
const SUBSCRIBE_PATIENCE: Duration = Duration::from_secs(10);

/// How long to wait between those attempts.
const SUBSCRIBE_RETRY: Duration = Duration::from_millis(100);

/// How a driver's run ended without an error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExecutorEnd {
    /// SHUTDOWN came (and [`Executor::shutdown`] has run): exit within `grace`.
    Shutdown { grace: Duration },
    /// [`ExecutorDriver::stop`] was called.
    Stopped,
    /// Atoll's executor ended the stream without SHUTDOWN: it is going away, or a newer
    /// subscription replaced this one.
    StreamEnded,
}

/// The driver of one custom executor: made by [`ExecutorDriver::run`], which hands it to every
/// callback of the [`Executor`]. Clones share one driver: any of them may report the task's
/// state, message the framework or stop the run, from any tokio task.
#[derive(Clone, Debug)]
pub struct ExecutorDriver {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    socket: PathBuf,
    /// For calls, each limited to [`CALL_TIMEOUT`].
    calls: ExecutorServiceClient<Channel>,
    /// For the event stream, which has no time limit.
    events: ExecutorServiceClient<Channel>,
    state: Mutex<State>,
    /// Set once a stop is asked for.
    stop: watch::Sender<bool>,
}

/// What the driver has heard so far.
#[derive(Debug, Default)]
struct State {
    subscribed: Option<ExecutorSubscribed>,
    /// From LAUNCH on.
    reports: Option<Reports>,
}

impl ExecutorDriver {
    /// Runs `executor` against the executor API on the socket `$ATOLL_EXECUTOR_SOCKET` names
    /// (as Atoll's executor runs a task's `executor_command`), until SHUTDOWN comes, the
    /// stream ends, or a stop is asked for. Returns with an error if the variable is not set,
    /// no subscription could be had, or the stream broke (after [`Executor::error`]).
    pub async fn run<E: Executor>(executor: &mut E) -> Result<ExecutorEnd, ExecutorError> {
        let socket = socket_from(std::env::var_os(SOCKET_VARIABLE))?;
        ExecutorDriver::run_on(socket, executor).await
    }

    /// [`run`](ExecutorDriver::run), against the executor API on the Unix socket `socket`.
    pub async fn run_on<E: Executor>(
        socket: impl Into<PathBuf>,
        executor: &mut E,
    ) -> Result<ExecutorEnd, ExecutorError> {
        let driver = ExecutorDriver::new(socket.into())?;
        let mut events = driver.subscribe().await?;
        driver.follow(&mut events, executor).await
    }

    /// The socket the driver speaks to.
    pub fn socket(&self) -> &Path {
        &self.shared.socket
    }

    /// What SUBSCRIBED said (the framework, the agent, its hostname, the task's sandbox), once
    /// it came.
    pub fn subscribed(&self) -> Option<ExecutorSubscribed> {
        self.state().subscribed.clone()
    }

    /// The task's id, once LAUNCH came.
    pub fn task_id(&self) -> Option<String> {
        self.state().reports.as_ref().map(|r| r.task_id().to_owned())
    }

    /// The uuids of the updates sent and not yet acknowledged, oldest first.
    pub fn unacknowledged(&self) -> Vec<String> {
        self.state().reports.as_ref().map(|r| r.unacknowledged().to_vec()).unwrap_or_default()
    }

    /// Reports the task's state: RUNNING (the task is STARTING until then), or its end,
    /// FINISHED, FAILED or KILLED, after which nothing more can be reported and Atoll's
    /// executor tells the process to shut down. `message` is the update's, for people.
    /// Returns the update's uuid, which comes back in an ACKNOWLEDGED event
    /// ([`Executor::acknowledged`]) once the update is recorded.
    pub async fn update(&self, state: TaskState, message: impl Into<String>) -> Result<String, ExecutorError> {
        const CALL: &str = "Update";
        let (task_id, uuid) = {
            let mut guard = self.state();
            let reports = guard.reports.as_mut().ok_or(ExecutorError::NoTask { call: CALL })?;
            (reports.task_id().to_owned(), reports.prepare(state)?)
        };
        let request =
            ExecutorUpdateRequest { task_id, state: state.into(), message: message.into(), uuid: uuid.clone() };
        if let Err(status) = self.shared.calls.clone().update(request).await {
            if let Some(reports) = self.state().reports.as_mut() {
                reports.not_sent(&uuid, state);
            }
            return Err(ExecutorError::call(CALL, &status));
        }
        Ok(uuid)
    }

    /// Sends `data` to the task's framework, as a MESSAGE event on its subscription
    /// ([`Scheduler::framework_message`](crate::Scheduler::framework_message)). Best effort:
    /// lost if the framework is not subscribed just then.
    pub async fn message(&self, data: impl Into<Vec<u8>>) -> Result<(), ExecutorError> {
        const CALL: &str = "Message";
        let request = ExecutorMessageRequest { data: data.into() };
        self.shared.calls.clone().message(request).await.map_err(|s| ExecutorError::call(CALL, &s))?;
        Ok(())
    }

    /// Stops the run once the callback under way returns (or at once, from outside the
    /// callbacks): [`run`](ExecutorDriver::run) returns [`ExecutorEnd::Stopped`].
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }

    /// A driver for the socket `socket`, not connected yet.
    fn new(socket: PathBuf) -> Result<ExecutorDriver, ExecutorError> {
        let bad_socket = |detail: String| ExecutorError::BadSocket { socket: socket.display().to_string(), detail };
        let path = socket.to_str().ok_or_else(|| bad_socket("the path is not UTF-8".to_owned()))?;
        let endpoint = Endpoint::from_shared(format!("unix:{path}"))
            .map_err(|e| bad_socket(e.to_string()))?
            .connect_timeout(Duration::from_secs(3));
        let events = ExecutorServiceClient::new(endpoint.connect_lazy());
        let calls = ExecutorServiceClient::new(endpoint.timeout(CALL_TIMEOUT).connect_lazy());
        let shared =
            Shared { socket, calls, events, state: Mutex::new(State::default()), stop: watch::Sender::new(false) };
        Ok(ExecutorDriver { shared: Arc::new(shared) })
    }

    /// The driver's state. Never held across an await; a callback that panicked while holding
    /// it left nothing half-changed worth refusing.
    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens the event stream, trying again for a while when Atoll's executor cannot be
    /// reached.
    async fn subscribe(&self) -> Result<Streaming<ExecutorEvent>, ExecutorError> {
        let started = Instant::now();
        loop {
            let status = match self.shared.events.clone().subscribe(ExecutorSubscribeRequest {}).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) => status,
            };
            if status.code() != tonic::Code::Unavailable || started.elapsed() >= SUBSCRIBE_PATIENCE {
                return Err(ExecutorError::Subscribe {
                    socket: self.shared.socket.display().to_string(),
                    code: status.code(),
                    message: status.message().to_owned(),
                });
            }
            tracing::debug!(socket = %self.shared.socket.display(), "subscribing again: {}", status.message());
            tokio::time::sleep(SUBSCRIBE_RETRY).await;
        }
    }

    /// Reads `events` and calls back for each until the run ends.
    async fn follow<E: Executor>(
        &self,
        events: &mut Streaming<ExecutorEvent>,
        executor: &mut E,
    ) -> Result<ExecutorEnd, ExecutorError> {
        let mut stop_requests = self.shared.stop.subscribe();
        loop {
            if *stop_requests.borrow_and_update() {
                return Ok(ExecutorEnd::Stopped);
            }
            let received = tokio::select! {
                received = events.message() => received,
                // The sender lives as long as `self`, so this only ever wakes for a stop.
                _ = stop_requests.changed() => continue,
            };
            let event = match received {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(ExecutorEnd::StreamEnded),
                Err(status) => {
                    let error =
                        ExecutorError::StreamBroke { code: status.code(), message: status.message().to_owned() };
                    executor.error(self, &error.to_string()).await;
                    return Err(error);
                }
            };
            let first = self.state().subscribed.is_none();
            if first && !matches!(event.event, Some(Event::Subscribed(_))) {
                let error = ExecutorError::Protocol { detail: "the event stream did not begin with SUBSCRIBED".into() };
                executor.error(self, &error.to_string()).await;
                return Err(error);
            }
            if let Some(end) = self.dispatch(event, executor).await {
                return Ok(end);
            }
        }
    }

    /// Hands one event to the executor; the run's end, if the event ends it.
    async fn dispatch<E: Executor>(&self, event: ExecutorEvent, executor: &mut E) -> Option<ExecutorEnd> {
        match event.event {
            Some(Event::Subscribed(subscribed)) => {
                tracing::info!(framework_id = %subscribed.framework_id, agent_id = %subscribed.agent_id, "subscribed");
                self.state().subscribed = Some(subscribed.clone());
                executor.registered(self, subscribed).await;
            }
            Some(Event::Launch(launch)) => {
                self.state().reports = Some(Reports::new(launch.task_id.clone()));
                executor.launch_task(self, launch).await;
            }
            Some(Event::Kill(kill)) => executor.kill_task(self, &kill.task_id, grace(kill.grace_secs)).await,
            Some(Event::Acknowledged(acknowledged)) => {
                if let Some(reports) = self.state().reports.as_mut() {
                    reports.acknowledged(&acknowledged.uuid);
                }
                executor.acknowledged(self, &acknowledged.task_id, &acknowledged.uuid).await;
            }
            Some(Event::Message(message)) => executor.framework_message(self, message.data).await,
            Some(Event::Shutdown(shutdown)) => {
                let grace = grace(shutdown.grace_secs);
                executor.shutdown(self, grace).await;
                return Some(ExecutorEnd::Shutdown { grace });
            }
            None => tracing::debug!("an event of a kind this driver does not know; passed over"),
        }
        None
    }
}

/// The socket named by the environment variable's `value`.
fn socket_from(value: Option<OsString>) -> Result<PathBuf, ExecutorError> {
    value.filter(|v| !v.is_empty()).map(PathBuf::from).ok_or(ExecutorError::NoSocket)
}

/// A grace period given in seconds; none for a negative or not finite one.
fn grace(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_comes_from_the_environment_and_an_empty_one_is_none() {
        assert_eq!(
            socket_from(Some("/sandbox/.executor/api.sock".into())).unwrap(),
            Path::new("/sandbox/.executor/api.sock")
        );
        for missing in [None, Some(OsString::new())] {
            let error = socket_from(missing).expect_err("no socket");
            assert!(error.to_string().starts_with("$ATOLL_EXECUTOR_SOCKET is not set"), "{error}");
        }
    }

    #[test]
    fn grace_periods_are_never_negative_or_endless() {
        assert_eq!(grace(2.5), Duration::from_millis(2500));
        assert_eq!(grace(0.0), Duration::ZERO);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(grace(bad), Duration::ZERO, "{bad}");
        }
    }

    #[tokio::test]
    async fn calls_before_launch_are_refused_without_reaching_the_socket() {
        let driver = ExecutorDriver::new("/nonexistent/api.sock".into()).expect("a driver");
        let refused = driver.update(TaskState::Running, "up").await.expect_err("no task yet");
        assert_eq!(refused.to_string(), "Update before LAUNCH: there is no task to report on yet");
        assert_eq!((driver.task_id(), driver.subscribed()), (None, None));
        assert!(driver.unacknowledged().is_empty());
        assert_eq!(driver.socket(), Path::new("/nonexistent/api.sock"));
    }
}

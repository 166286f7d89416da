//! The scheduler driver: [`SchedulerDriver::run`] subscribes to FrameworkService, keeps the
//! event stream, hands each event to the framework's [`Scheduler`], acknowledges status
//! updates, and subscribes again with the framework's id when the stream is lost (it ends,
//! breaks, or several heartbeat intervals pass without an event), backing off with jitter.
//! Inside callbacks the driver makes the framework's calls: launch, decline, kill, revive,
//! suppress, reconcile, acknowledge, message a task's custom executor, read a task's log, and
//! stop.

use std::time::{Duration, Instant};

use atoll_proto::v1::framework_event::Event;
use atoll_proto::v1::framework_service_client::FrameworkServiceClient;
use atoll_proto::v1::log_service_client::LogServiceClient;
use atoll_proto::v1::{
    AcceptRequest, AcknowledgeRequest, DeclineRequest, FrameworkCall, FrameworkEvent, FrameworkInfo,
    FrameworkKillRequest, FrameworkMessageRequest, FrameworkSubscribeRequest, JobKey, LogStream, ReconcileRequest,
    Subscribed, TaskInfo, TaskLogsRequest, TaskUpdate, TeardownRequest,
};
use atoll_proto::{Authorized, Bearer, TlsIdentity};
use tokio::sync::watch;
use tonic::Streaming;
use tonic::transport::Endpoint;

use crate::acks::{Delivery, UpdateLedger};
use crate::config::Stop;
use crate::{DriverConfig, FrameworkError, Scheduler};

/// How long to wait for SUBSCRIBED once the stream is open, before a heartbeat interval is
/// known.
const FIRST_EVENT_WAIT: Duration = Duration::from_secs(30);

/// How many handled updates the driver remembers, to acknowledge their repeats again.
const HANDLED_UPDATES_KEPT: usize = 10_000;

/// How a driver's run ended without an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// The framework's id; None if the driver stopped before it ever subscribed. After a
    /// failover stop, [`DriverConfig::framework_id`] resumes it.
    pub framework_id: Option<String>,
    /// Whether the framework was torn down (stopped without failover).
    pub torn_down: bool,
}

/// The framework's side of one subscription.
#[derive(Clone, Debug)]
struct Subscription {
    stream_id: String,
    /// None when the scheduler sends no heartbeats.
    heartbeat_interval: Option<Duration>,
    offer_timeout: Option<Duration>,
}

/// How following a stream ended.
enum StreamEnd {
    /// A stop was asked for.
    Stop(Stop),
    /// The scheduler ended the framework with an ERROR event.
    Ended(String),
    /// The stream ended, broke, or went quiet.
    Lost(String),
}

/// What waiting for the next event brought.
#[expect(clippy::large_enum_variant, reason = "one lives at a time, on the stack, for one match")]
enum Wait {
    Received(Result<Option<FrameworkEvent>, tonic::Status>),
    /// Nothing within the quiet limit.
    Quiet,
    StopAsked,
}

/// What a callback's event did to the stream.
enum Dispatched {
    Continue,
    Ended(String),
}

/// The driver of one framework: made by [`SchedulerDriver::run`], which hands it to every
/// callback of the framework's [`Scheduler`] to make calls with.
#[derive(Debug)]
pub struct SchedulerDriver {
    address: String,
    /// For calls, each limited to the call timeout.
    calls: FrameworkServiceClient<Authorized>,
    /// For the event stream and log reads, which have no time limit.
    streams: Authorized,
    info: FrameworkInfo,
    framework_id: Option<String>,
    subscription: Option<Subscription>,
    suppressed: bool,
    explicit_acknowledgements: bool,
    missed_heartbeats: u32,
    ledger: UpdateLedger,
    stop: Option<Stop>,
}

impl SchedulerDriver {
    /// Runs framework `scheduler` as `config` says until it stops: subscribes, calls back
    /// for every event, and subscribes again after every disconnect. Returns once a callback
    /// (or a [`StopHandle`](crate::StopHandle)) stopped it; with an error once the
    /// scheduler refused the subscription or ended the framework, or no subscription could
    /// be had within [`DriverConfig::give_up_after`].
    pub async fn run<S: Scheduler>(config: DriverConfig, scheduler: &mut S) -> Result<Stopped, FrameworkError> {
        let DriverConfig {
            scheduler: address,
            info,
            framework_id,
            token,
            ca_pem,
            identity,
            suppressed,
            explicit_acknowledgements,
            missed_heartbeats,
            first_backoff,
            most_backoff,
            give_up_after,
            call_timeout,
            stop: stop_sender,
        } = config;
        let bearer = Bearer::new(token.as_deref())?;
        let tls = Tls { ca_pem: ca_pem.as_deref(), identity: identity.as_ref() };
        let calls = FrameworkServiceClient::new(bearer.clone().wrap(channel(&address, Some(call_timeout), &tls)?));
        let streams = bearer.wrap(channel(&address, None, &tls)?);
        let mut driver = SchedulerDriver {
            address,
            calls,
            streams,
            info,
            framework_id,
            subscription: None,
            suppressed,
            explicit_acknowledgements,
            missed_heartbeats,
            ledger: UpdateLedger::new(HANDLED_UPDATES_KEPT),
            stop: None,
        };
        // The sender stays here for the whole run, so `changed` only ever wakes for a stop.
        let mut stop_requests = stop_sender.subscribe();
        // Atoll's own reconnect waits, as the agents': a new series after each subscription.
        let mut delays = atoll_retry::delays(first_backoff, most_backoff.max(first_backoff));
        let mut ever_subscribed = false;
        let mut failing_since: Option<Instant> = None;
        loop {
            // Copied out, so the watch's lock is not held across the teardown.
            let requested = *stop_requests.borrow_and_update();
            if let Some(stop) = driver.stop.or(requested) {
                return driver.finish(stop).await;
            }
            let attempt = tokio::select! {
                attempt = driver.subscribe() => attempt,
                _ = stop_requests.changed() => continue,
            };
            let last_failure = match attempt {
                Ok(mut stream) => {
                    let (end, subscribed) =
                        driver.follow(&mut stream, scheduler, &mut stop_requests, &mut ever_subscribed).await;
                    if subscribed {
                        delays = atoll_retry::delays(first_backoff, most_backoff.max(first_backoff));
                        failing_since = None;
                    }
                    match end {
                        // Finished while the stream is open: a teardown is this subscription's call.
                        StreamEnd::Stop(stop) => return driver.finish(stop).await,
                        StreamEnd::Ended(message) => return Err(FrameworkError::Ended { message }),
                        StreamEnd::Lost(reason) => {
                            tracing::warn!(scheduler = %driver.address, "lost the subscription: {reason}");
                            if driver.subscription.take().is_some() {
                                scheduler.disconnected(&mut driver).await;
                            }
                            reason
                        }
                    }
                }
                Err(status) if refusal_is_final(status.code()) => {
                    return Err(FrameworkError::SubscribeRefused {
                        address: driver.address,
                        code: status.code(),
                        message: status.message().to_owned(),
                    });
                }
                Err(status) => format!("{:?}: {}", status.code(), status.message()),
            };
            if driver.stop.is_some() {
                // Stopped by `disconnected`: no wait first.
                continue;
            }
            let since = *failing_since.get_or_insert_with(Instant::now);
            if let Some(limit) = give_up_after
                && since.elapsed() >= limit
            {
                return Err(FrameworkError::Unreachable {
                    address: driver.address,
                    waited: since.elapsed(),
                    last: last_failure,
                });
            }
            let delay = delays.next().expect("reconnect delays never run out");
            tracing::info!(scheduler = %driver.address, "subscribing again in {delay:?} ({last_failure})");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop_requests.changed() => {}
            }
        }
    }

    /// The framework's id, once it has one.
    pub fn framework_id(&self) -> Option<&str> {
        self.framework_id.as_deref()
    }

    /// Whether the driver has a subscription now (calls need one).
    pub fn is_subscribed(&self) -> bool {
        self.subscription.is_some()
    }

    /// How long an offer of this subscription stays outstanding before it is rescinded.
    pub fn offer_timeout(&self) -> Option<Duration> {
        self.subscription.as_ref().and_then(|s| s.offer_timeout)
    }

    /// Launches `tasks` on offers `offer_ids` (all of one agent, as an
    /// [`OfferPacker`](crate::OfferPacker) placement is); what the tasks leave unused is not
    /// offered to this framework again for `refuse` (None: the scheduler's 5 s). Returns
    /// Atoll's ids of the tasks, in order. Refused, launching nothing, for an offer no longer
    /// outstanding or tasks asking for more than the offers hold.
    pub async fn launch(
        &self,
        offer_ids: &[String],
        tasks: Vec<TaskInfo>,
        refuse: Option<Duration>,
    ) -> Result<Vec<String>, FrameworkError> {
        const CALL: &str = "Accept";
        let request = AcceptRequest {
            call: Some(self.call(CALL)?),
            offer_ids: offer_ids.to_vec(),
            tasks,
            refuse_seconds: refuse.map(|d| d.as_secs_f64()),
        };
        let response = self.calls.clone().accept(request).await.map_err(|s| FrameworkError::call(CALL, &s))?;
        Ok(response.into_inner().atoll_task_ids)
    }

    /// Gives offers back; their resources are not offered to this framework again for
    /// `refuse` (None: the scheduler's 60 s) unless it revives.
    pub async fn decline(&self, offer_ids: &[String], refuse: Option<Duration>) -> Result<(), FrameworkError> {
        const CALL: &str = "Decline";
        let request = DeclineRequest {
            call: Some(self.call(CALL)?),
            offer_ids: offer_ids.to_vec(),
            refuse_seconds: refuse.map(|d| d.as_secs_f64()),
        };
        self.calls.clone().decline(request).await.map_err(|s| FrameworkError::call(CALL, &s))?;
        Ok(())
    }

    /// Kills task `task_id`; its end comes as a status update.
    pub async fn kill(&self, task_id: &str) -> Result<(), FrameworkError> {
        const CALL: &str = "Kill";
        let request = FrameworkKillRequest { call: Some(self.call(CALL)?), task_id: task_id.to_owned() };
        self.calls.clone().kill(request).await.map_err(|s| FrameworkError::call(CALL, &s))?;
        Ok(())
    }

    /// Asks for offers again, clearing every decline filter (and a suppression).
    pub async fn revive(&mut self) -> Result<(), FrameworkError> {
        const CALL: &str = "Revive";
        let request = self.call(CALL)?;
        self.calls.clone().revive(request).await.map_err(|s| FrameworkError::call(CALL, &s))?;
        self.suppressed = false;
        Ok(())
    }

    /// No more offers until the framework revives (those outstanding stay). A resubscription
    /// stays suppressed.
    pub async fn suppress(&mut self) -> Result<(), FrameworkError> {
        const CALL: &str = "Suppress";
        let request = self.call(CALL)?;
        self.calls.clone().suppress(request).await.map_err(|s| FrameworkError::call(CALL, &s))?;
        self.suppressed = true;
        Ok(())
    }

    /// Whether the framework asked for no offers (by [`suppress`](SchedulerDriver::suppress)
    /// or [`DriverConfig::subscribe_suppressed`]) and has not revived since.
    pub fn is_suppressed(&self) -> bool {
        self.suppressed
    }

    /// Asks for the latest state of tasks `task_ids`, or of all of the framework's tasks with
    /// none named. The answers come as status updates without a uuid; a task the scheduler
    /// does not know is answered LOST.
    pub async fn reconcile(&self, task_ids: &[String]) -> Result<(), FrameworkError> {
        const CALL: &str = "Reconcile";
        let request = ReconcileRequest { call: Some(self.call(CALL)?), task_ids: task_ids.to_vec() };
        self.calls.clone().reconcile(request).await.map_err(|s| FrameworkError::call(CALL, &s))?;
        Ok(())
    }

    /// Acknowledges `update`, with [`DriverConfig::explicit_acknowledgements`] only (the
    /// driver acknowledges updates itself otherwise). An update not acknowledged is sent
    /// again, and handed over again, until it is.
    pub async fn acknowledge(&mut self, update: &TaskUpdate) -> Result<(), FrameworkError> {
        if !self.explicit_acknowledgements {
            return Err(FrameworkError::ImplicitAcknowledgements);
        }
        if update.uuid.is_empty() {
            return Err(FrameworkError::NothingToAcknowledge { task_id: update.task_id.clone() });
        }
        match self.send_acknowledgement(&update.task_id, &update.uuid).await {
            Ok(()) => {
                self.ledger.handled(&update.uuid);
                Ok(())
            }
            Err(error) => {
                self.ledger.acknowledgement_failed(&update.uuid);
                Err(error)
            }
        }
    }

    /// Sends `data` to the custom executor of task `task_id` (launched with
    /// [`TaskRequest::with_executor`](crate::TaskRequest::with_executor)), as a MESSAGE event
    /// there ([`Executor::framework_message`](crate::Executor::framework_message)). Best
    /// effort: accepted for an active task, but neither kept nor sent again if the executor
    /// cannot take it. Refused (a [`FrameworkError::Call`], FAILED_PRECONDITION) for a task that
    /// runs no custom executor.
    pub async fn message(&self, task_id: &str, data: Vec<u8>) -> Result<(), FrameworkError> {
        const CALL: &str = "Message";
        let request = FrameworkMessageRequest { call: Some(self.call(CALL)?), task_id: task_id.to_owned(), data };
        self.calls.clone().message(request).await.map_err(|s| FrameworkError::call(CALL, &s))?;
        Ok(())
    }

    /// The whole of one output (`stream`) of a task's first process, as far as it is written,
    /// read through the scheduler's LogService from the agent that ran the task. A task is
    /// named as a status update names it: its `job` and `instance`. Needs no subscription.
    pub async fn task_log(&self, job: &JobKey, instance: u32, stream: LogStream) -> Result<Vec<u8>, FrameworkError> {
        const CALL: &str = "TaskLogs";
        let request = TaskLogsRequest {
            job: Some(job.clone()),
            instance,
            process: String::new(),
            stream: stream.into(),
            start: None,
            follow: false,
        };
        let mut logs = LogServiceClient::new(self.streams.clone());
        let mut chunks = logs.task_logs(request).await.map_err(|s| FrameworkError::call(CALL, &s))?.into_inner();
        let mut output = Vec::new();
        while let Some(chunk) = chunks.message().await.map_err(|s| FrameworkError::call(CALL, &s))? {
            output.extend_from_slice(&chunk.data);
        }
        Ok(output)
    }

    /// Stops the driver once the callback under way returns. With `failover` the framework
    /// stays registered and its tasks run on, for its failover timeout, for a later run to
    /// resume ([`DriverConfig::framework_id`]); without it the framework is torn down: its
    /// tasks are killed and the scheduler forgets it. The first stop asked for counts.
    pub fn stop(&mut self, failover: bool) {
        self.stop.get_or_insert(Stop::new(failover));
    }

    /// Opens a subscription's event stream.
    async fn subscribe(&self) -> Result<Streaming<FrameworkEvent>, tonic::Status> {
        let request = FrameworkSubscribeRequest {
            info: Some(self.info.clone()),
            framework_id: self.framework_id.clone().unwrap_or_default(),
            suppressed: self.suppressed,
        };
        let mut client = FrameworkServiceClient::new(self.streams.clone());
        Ok(client.subscribe(request).await?.into_inner())
    }

    /// Reads `stream` and calls back for each event until it ends, breaks or goes quiet, the
    /// framework is ended, or a stop is asked for; and whether it got SUBSCRIBED.
    async fn follow<S: Scheduler>(
        &mut self,
        stream: &mut Streaming<FrameworkEvent>,
        scheduler: &mut S,
        stop_requests: &mut watch::Receiver<Option<Stop>>,
        ever_subscribed: &mut bool,
    ) -> (StreamEnd, bool) {
        let mut subscribed = false;
        loop {
            // Each wait starts afresh, so time spent in callbacks never counts as silence.
            let quiet_limit = match &self.subscription {
                None => Some(FIRST_EVENT_WAIT),
                Some(subscription) => {
                    subscription.heartbeat_interval.and_then(|h| h.checked_mul(self.missed_heartbeats))
                }
            };
            let next = async {
                match quiet_limit {
                    Some(limit) => {
                        tokio::time::timeout(limit, stream.message()).await.map_or(Wait::Quiet, Wait::Received)
                    }
                    None => Wait::Received(stream.message().await),
                }
            };
            let waited = tokio::select! {
                waited = next => waited,
                _ = stop_requests.changed() => Wait::StopAsked,
            };
            let event = match waited {
                Wait::Received(Ok(Some(event))) => event,
                Wait::Received(Ok(None)) => {
                    return (StreamEnd::Lost("the scheduler ended the stream".to_owned()), subscribed);
                }
                Wait::Received(Err(status)) => {
                    let reason = format!("the stream broke ({:?}: {})", status.code(), status.message());
                    return (StreamEnd::Lost(reason), subscribed);
                }
                Wait::StopAsked => {
                    let requested = *stop_requests.borrow();
                    match self.stop.or(requested) {
                        Some(stop) => return (StreamEnd::Stop(stop), subscribed),
                        None => continue,
                    }
                }
                Wait::Quiet => {
                    let reason = match (&self.subscription, quiet_limit) {
                        (Some(_), Some(limit)) => {
                            format!("no event for {limit:?}, {} heartbeat intervals", self.missed_heartbeats)
                        }
                        _ => format!("no SUBSCRIBED within {FIRST_EVENT_WAIT:?}"),
                    };
                    return (StreamEnd::Lost(reason), subscribed);
                }
            };
            let is_subscribed = matches!(event.event, Some(Event::Subscribed(_)));
            if !is_subscribed && self.subscription.is_none() {
                return (StreamEnd::Lost("the stream did not begin with SUBSCRIBED".to_owned()), subscribed);
            }
            subscribed |= is_subscribed;
            if let Dispatched::Ended(message) = self.dispatch(event, scheduler, ever_subscribed).await {
                return (StreamEnd::Ended(message), subscribed);
            }
            if let Some(stop) = self.stop {
                return (StreamEnd::Stop(stop), subscribed);
            }
        }
    }

    /// Hands one event to the framework.
    async fn dispatch<S: Scheduler>(
        &mut self,
        event: FrameworkEvent,
        scheduler: &mut S,
        ever_subscribed: &mut bool,
    ) -> Dispatched {
        match event.event {
            Some(Event::Subscribed(subscribed)) => {
                let framework_id = subscribed.framework_id.clone();
                self.subscribed(subscribed);
                if std::mem::replace(ever_subscribed, true) {
                    scheduler.reregistered(self, &framework_id).await;
                } else {
                    scheduler.registered(self, &framework_id).await;
                }
            }
            Some(Event::Offers(offers)) => scheduler.resource_offers(self, offers.offers).await,
            Some(Event::Rescind(rescind)) => scheduler.offer_rescinded(self, &rescind.offer_id).await,
            Some(Event::Update(update)) => self.deliver_update(update, scheduler).await,
            Some(Event::Failure(failure)) => scheduler.agent_lost(self, &failure.agent_id, &failure.hostname).await,
            Some(Event::Error(error)) => {
                scheduler.error(self, &error.message).await;
                return Dispatched::Ended(error.message);
            }
            Some(Event::Heartbeat(_)) => {}
            Some(Event::Message(message)) => {
                scheduler.framework_message(self, &message.task_id, &message.agent_id, message.data).await;
            }
            None => tracing::debug!("an event of a kind this driver does not know; passed over"),
        }
        Dispatched::Continue
    }

    fn subscribed(&mut self, subscribed: Subscribed) {
        let positive = |secs: f64| Duration::try_from_secs_f64(secs).ok().filter(|d| !d.is_zero());
        tracing::info!(
            framework_id = %subscribed.framework_id,
            resubscribed = subscribed.resubscribed,
            "subscribed"
        );
        self.framework_id = Some(subscribed.framework_id);
        self.subscription = Some(Subscription {
            stream_id: subscribed.stream_id,
            heartbeat_interval: positive(subscribed.heartbeat_interval_secs),
            offer_timeout: positive(subscribed.offer_timeout_secs),
        });
        self.ledger.resubscribed();
    }

    /// Hands a status update over unless it is a repeat, and acknowledges it (implicit
    /// acknowledgements) once the callback returns.
    async fn deliver_update<S: Scheduler>(&mut self, update: TaskUpdate, scheduler: &mut S) {
        let (task_id, uuid) = (update.task_id.clone(), update.uuid.clone());
        match self.ledger.receive(&uuid) {
            Delivery::AwaitingAcknowledgement => {
                tracing::debug!(%task_id, %uuid, "a repeat of an update awaiting acknowledgement; passed over");
            }
            Delivery::Reacknowledge => self.acknowledge_implicitly(&task_id, &uuid).await,
            Delivery::Deliver => {
                scheduler.status_update(self, update).await;
                if !self.explicit_acknowledgements && !uuid.is_empty() {
                    self.acknowledge_implicitly(&task_id, &uuid).await;
                }
            }
        }
    }

    /// Acknowledges an update the framework has handled. If that fails the scheduler sends it
    /// again, and the repeat is acknowledged again without being handed over.
    async fn acknowledge_implicitly(&mut self, task_id: &str, uuid: &str) {
        if let Err(error) = self.send_acknowledgement(task_id, uuid).await {
            tracing::warn!(%task_id, %uuid, "could not acknowledge a status update (it will come again): {error}");
        }
        self.ledger.handled(uuid);
    }

    async fn send_acknowledgement(&self, task_id: &str, uuid: &str) -> Result<(), FrameworkError> {
        const CALL: &str = "Acknowledge";
        let request =
            AcknowledgeRequest { call: Some(self.call(CALL)?), task_id: task_id.to_owned(), uuid: uuid.to_owned() };
        self.calls.clone().acknowledge(request).await.map_err(|s| FrameworkError::call(CALL, &s))?;
        Ok(())
    }

    /// What a call of the current subscription names.
    fn call(&self, call: &'static str) -> Result<FrameworkCall, FrameworkError> {
        match (&self.framework_id, &self.subscription) {
            (Some(framework_id), Some(subscription)) => {
                Ok(FrameworkCall { framework_id: framework_id.clone(), stream_id: subscription.stream_id.clone() })
            }
            _ => Err(FrameworkError::NotSubscribed { call }),
        }
    }

    /// Ends the run as `stop` says: a teardown names the subscription when there is one, else
    /// only the framework (as an operator's does, which the role's permission allows).
    async fn finish(self, stop: Stop) -> Result<Stopped, FrameworkError> {
        let framework_id = self.framework_id.clone();
        let Some(id) = framework_id.clone().filter(|_| stop == Stop::Teardown) else {
            return Ok(Stopped { framework_id, torn_down: false });
        };
        const CALL: &str = "Teardown";
        let stream_id = self.subscription.as_ref().map(|s| s.stream_id.clone()).unwrap_or_default();
        let request = TeardownRequest { call: Some(FrameworkCall { framework_id: id, stream_id }) };
        self.calls.clone().teardown(request).await.map_err(|s| FrameworkError::call(CALL, &s))?;
        tracing::info!(framework_id = ?framework_id, "torn down");
        Ok(Stopped { framework_id, torn_down: true })
    }
}

/// Whether a refused Subscribe would be refused again: anything but a scheduler that is away
/// or busy.
fn refusal_is_final(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::Unimplemented
            | Code::FailedPrecondition
            | Code::OutOfRange
    )
}

/// The TLS settings a channel is made with.
struct Tls<'a> {
    ca_pem: Option<&'a [u8]>,
    identity: Option<&'a TlsIdentity>,
}

/// A channel to `address` that connects on first use (and again after a failure), its calls
/// limited to `timeout` when given.
fn channel(
    address: &str,
    timeout: Option<Duration>,
    tls: &Tls<'_>,
) -> Result<tonic::transport::Channel, FrameworkError> {
    let bad_address = |detail: String| FrameworkError::BadAddress { address: address.to_owned(), detail };
    let mut endpoint = Endpoint::from_shared(address.to_owned())
        .map_err(|e| bad_address(e.to_string()))?
        .connect_timeout(Duration::from_secs(3));
    if let Some(timeout) = timeout {
        endpoint = endpoint.timeout(timeout);
    }
    let endpoint = atoll_proto::secure(endpoint, address, tls.ca_pem, tls.identity)?;
    Ok(endpoint.connect_lazy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_away_or_busy_scheduler_is_subscribed_to_again() {
        use tonic::Code;
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::Unknown, Code::Internal, Code::Cancelled] {
            assert!(!refusal_is_final(code), "{code:?} should be tried again");
        }
        for code in [Code::PermissionDenied, Code::Unauthenticated, Code::InvalidArgument, Code::Unimplemented] {
            assert!(refusal_is_final(code), "{code:?} should end the run");
        }
    }
}

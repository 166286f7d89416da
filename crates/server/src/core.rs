//! The control plane's core: one lock around the cluster state, a store that every change is
//! written to under that lock and made durable by a group flush (`group_commit`) before anyone
//! hears of it, the links to connected agents, and the placement and housekeeping loops.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use atoll_model::event::{ClusterEvent, EventFilter};
use atoll_model::{AgentId, JobKey, JobSpec};
use atoll_proto::v1;
use atoll_state::{ClusterState, Effect, Outcome, StateError};
use atoll_storage::{Store, StoreError};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;

use tonic::Status;

use crate::auth::Caller;
use crate::frameworks_api::FrameworkSender;
use crate::group_commit::{GroupCommit, Release, Standing};
use crate::metrics::SchedulerMetrics;
use crate::{Clock, ServerConfig};

/// A shared handle to the running scheduler.
#[derive(Clone)]
pub struct ControlPlane {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    state: Mutex<ClusterState>,
    store: Box<dyn Store>,
    clock: Arc<dyn Clock>,
    links: Mutex<BTreeMap<AgentId, AgentLink>>,
    /// Each subscribed framework's stream: the subscription's id and its sender.
    framework_links: Mutex<BTreeMap<String, (String, FrameworkSender)>>,
    placement_wanted: Notify,
    allocation_wanted: Notify,
    /// Every event once it is durable, to the event stream's subscribers.
    events: broadcast::Sender<Arc<ClusterEvent>>,
    /// The index after the last event let go: journal reads stop before it, so no subscriber
    /// sees an event before it is durable.
    released_events: AtomicU64,
    /// Changes written and not yet durable, and what each lets go once it is.
    commits: GroupCommit,
    /// Held while releases are let go, so that they leave in order.
    releasing: Mutex<()>,
    /// Woken at every flush.
    flushed: Notify,
    /// Woken when a flush fails and the scheduler must stop.
    store_failed: Notify,
    metrics: SchedulerMetrics,
}

/// How many events the broadcast holds for a subscriber that has not read them yet; one that
/// falls further behind catches up from the state's journal.
const EVENT_BUFFER: usize = 4096;

/// The command channel to one agent. The receiver waits here until the agent opens its
/// Commands stream; commands sent before that are buffered.
struct AgentLink {
    sender: mpsc::UnboundedSender<v1::AgentCommand>,
    receiver: Option<mpsc::UnboundedReceiver<v1::AgentCommand>>,
    /// Where the agent serves its tasks' logs.
    log_endpoint: Option<LogEndpoint>,
}

/// Where an agent serves its tasks' logs, `http://HOST:PORT`, and the secret its log service
/// asks for (none from agents older than it).
#[derive(Clone, Debug)]
pub(crate) struct LogEndpoint {
    pub(crate) url: String,
    pub(crate) token: Option<String>,
}

/// Why a request failed in the core.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Refused(#[from] StateError),
    #[error("the scheduler could not store the change, so nothing was changed: {0}")]
    Storage(StoreError),
    #[error(
        "the change is made but not yet on disk ({0}): it is kept if the flush under way completes; \
         look before trying again"
    )]
    NotDurable(String),
    #[error(
        "the scheduler could not make the change durable ({0}) and is stopping, to be started again \
         once its disk is well; whether the change was kept shows then: look before trying again"
    )]
    StoreFailed(String),
}

/// Stops the background loops when dropped or aborted.
pub struct Loops(Vec<JoinHandle<()>>);

impl Loops {
    pub fn abort(self) {
        for handle in self.0 {
            handle.abort();
        }
    }
}

impl ControlPlane {
    /// Restores the state from `store` and returns a scheduler ready to serve.
    pub fn start(
        config: ServerConfig,
        store: Box<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<ControlPlane, StoreError> {
        let durable = store.load()?;
        let state = ClusterState::restore(config.state.clone(), durable, clock.now_ms());
        let released_events = AtomicU64::new(state.next_event_index());
        Ok(ControlPlane {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
                store,
                clock,
                links: Mutex::new(BTreeMap::new()),
                framework_links: Mutex::new(BTreeMap::new()),
                placement_wanted: Notify::new(),
                allocation_wanted: Notify::new(),
                events: broadcast::channel(EVENT_BUFFER).0,
                released_events,
                commits: GroupCommit::default(),
                releasing: Mutex::new(()),
                flushed: Notify::new(),
                store_failed: Notify::new(),
                metrics: SchedulerMetrics::new(crate::metrics::served_methods()),
            }),
        })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// A change to job `key` asked for by `caller`: refused unless they may manage its role
    /// (`verb` names the action for the refusal), made through [`ControlPlane::mutate`], and
    /// recorded in the audit log as `call` either way.
    pub(crate) async fn change_job<T>(
        &self,
        caller: &Caller,
        key: &JobKey,
        verb: &str,
        call: &str,
        f: impl FnOnce(&mut ClusterState, u64) -> Result<(T, Outcome), StateError>,
    ) -> Result<T, Status> {
        let result = match caller.may_manage(&key.role, verb) {
            Ok(()) => self.mutate(f).await.map_err(crate::scheduler_api::core_status),
            Err(refused) => Err(refused),
        };
        self.audit(caller, call, &key.to_string(), &result);
        result
    }

    /// A change that puts `spec` in place (create, update, cron schedule): as
    /// [`ControlPlane::change_job`], and a task whose Unix user is not its job's role also
    /// needs that user among the caller's roles ([`Caller::may_run_as`]).
    pub(crate) async fn put_job<T>(
        &self,
        caller: &Caller,
        spec: &JobSpec,
        verb: &str,
        call: &str,
        f: impl FnOnce(&mut ClusterState, u64) -> Result<(T, Outcome), StateError>,
    ) -> Result<T, Status> {
        if let Err(refused) = caller.may_run_as(spec) {
            let refused: Result<T, Status> = Err(refused);
            self.audit(caller, call, &spec.key.to_string(), &refused);
            return refused;
        }
        self.change_job(caller, &spec.key, verb, call, f).await
    }

    /// Records a call that changes something in the audit log, if there is one.
    pub(crate) fn audit<T>(&self, caller: &Caller, call: &str, subject: &str, result: &Result<T, Status>) {
        if let Some(log) = &self.inner.config.audit {
            log.record(self.now_ms(), caller, call, subject, result.as_ref().map(|_| ()));
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    fn lock_state(&self) -> MutexGuard<'_, ClusterState> {
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_links(&self) -> MutexGuard<'_, BTreeMap<AgentId, AgentLink>> {
        self.inner.links.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A subscription to the event stream: the kept events at or after `from` (none: only
    /// later ones) that `filter` takes, the index after the last event made so far, the oldest
    /// event kept, and a receiver of every event made from then on, in order (a subscriber
    /// that falls behind it catches up with [`ControlPlane::events_since`]).
    pub(crate) fn subscribe_events(
        &self,
        from: Option<u64>,
        filter: &EventFilter,
    ) -> (Vec<ClusterEvent>, u64, Option<u64>, broadcast::Receiver<Arc<ClusterEvent>>) {
        // Subscribed first, then the journal read up to what has been let go: whatever is let
        // go in between comes both ways, and the feed drops the second copy.
        let live = self.inner.events.subscribe();
        let state = self.lock_state();
        let released = self.inner.released_events.load(Ordering::SeqCst);
        // Asked from an index not reached yet: nothing before it is offered.
        let next = released.max(from.unwrap_or(0));
        let backlog = from
            .map(|from| state.events_since(from, filter).into_iter().filter(|e| e.index < released).collect())
            .unwrap_or_default();
        (backlog, next, state.oldest_event_index(), live)
    }

    /// Every event made durable from now on, as it is (for pages that redraw on change).
    pub fn live_events(&self) -> broadcast::Receiver<Arc<ClusterEvent>> {
        self.inner.events.subscribe()
    }

    /// The kept events at or after `from` that `filter` takes, of those let go (durable).
    pub(crate) fn events_since(&self, from: u64, filter: &EventFilter) -> Vec<ClusterEvent> {
        let state = self.lock_state();
        let released = self.inner.released_events.load(Ordering::SeqCst);
        state.events_since(from, filter).into_iter().filter(|e| e.index < released).collect()
    }

    /// What the scheduler counts, to record more.
    pub(crate) fn metrics(&self) -> &SchedulerMetrics {
        &self.inner.metrics
    }

    /// Every metric, in Prometheus' text format (`atoll_metrics::CONTENT_TYPE`).
    pub fn metrics_text(&self) -> String {
        let census = self.read(ClusterState::census);
        self.inner.metrics.render(&census)
    }

    /// Reads the state without changing it.
    pub fn read<T>(&self, f: impl FnOnce(&ClusterState) -> T) -> T {
        f(&self.lock_state())
    }

    /// Changes the state with `f` and writes the outcome's changes to the store, under the state
    /// lock; then, with the lock let go, waits for the group flush that makes them durable, and
    /// only then answers. The outcome's commands to agents, events and placement wish leave once
    /// it is durable, in the order the changes were made ([`ControlPlane::release_durable`]). If
    /// the write fails, the state is reloaded from the store and the change is lost as a whole;
    /// a refusal changes nothing.
    pub async fn mutate<T>(
        &self,
        f: impl FnOnce(&mut ClusterState, u64) -> Result<(T, Outcome), StateError>,
    ) -> Result<T, CoreError> {
        let now = self.now_ms();
        let (value, ticket, bytes, started) = {
            let mut state = self.lock_state();
            if let Some(failure) = self.inner.commits.failure() {
                // The store takes nothing more and the scheduler is stopping: no change is made
                // that could not be kept.
                return Err(CoreError::StoreFailed(failure));
            }
            let (value, outcome) = f(&mut state, now)?;
            let wrote = !outcome.changes.is_empty();
            // A commit is timed from its write, not from the wait for the lock or the change.
            let started = Instant::now();
            let bytes = if wrote {
                match self.inner.store.write(&outcome.changes) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        tracing::error!(error = %e, "write failed; reloading state from the store");
                        // The reloaded state has every framework away: their streams end, and
                        // they subscribe again.
                        self.lock_framework_links().clear();
                        match self.inner.store.load() {
                            Ok(durable) => {
                                *state = ClusterState::restore(self.inner.config.state.clone(), durable, now)
                            }
                            Err(reload) => tracing::error!(error = %reload, "reloading state failed"),
                        }
                        return Err(CoreError::Storage(e));
                    }
                }
            } else {
                0
            };
            let release = Release {
                effects: outcome.effects,
                events: outcome.changes.events_put,
                placement_wanted: outcome.placement_wanted,
                allocation_wanted: outcome.allocation_wanted,
            };
            // Still under the state lock, so the line's order is the state's.
            (value, self.inner.commits.enqueue(wrote, release), wrote.then_some(bytes), started)
        };
        if ticket.start_flushing {
            self.start_flushing();
        }
        self.wait_durable(ticket.seq).await?;
        if let Some(bytes) = bytes {
            self.inner.metrics.commit(started.elapsed(), bytes);
        }
        Ok(value)
    }

    /// Waits until the change numbered `seq` is durable, letting go what is durable by then.
    async fn wait_durable(&self, seq: u64) -> Result<(), CoreError> {
        let deadline = tokio::time::Instant::now() + self.inner.config.durable_wait;
        loop {
            let flushed = self.inner.flushed.notified();
            match self.inner.commits.standing(seq) {
                Standing::Durable => {
                    // A change that wrote nothing, behind writes already durable, is let go here.
                    self.release_durable();
                    return Ok(());
                }
                Standing::Failed(error) => return Err(CoreError::StoreFailed(error)),
                Standing::Waiting => {
                    if tokio::time::timeout_at(deadline, flushed).await.is_err() {
                        let waited = self.inner.config.durable_wait.as_secs();
                        return Err(CoreError::NotDurable(format!("its flush took longer than {waited} s")));
                    }
                }
            }
        }
    }

    /// Starts the flusher: a task of its own, so no caller that goes away stops it. It flushes
    /// everything written so far, lets go what that made durable, and goes on while more was
    /// written meanwhile. A failed flush fails every change not yet durable and stops the
    /// scheduler ([`ControlPlane::store_failed`]).
    fn start_flushing(&self) {
        let control_plane = self.clone();
        tokio::spawn(async move {
            loop {
                let target = control_plane.inner.commits.flush_target();
                let flushing = control_plane.clone();
                let started = Instant::now();
                let result =
                    tokio::task::spawn_blocking(move || flushing.inner.store.flush()).await.unwrap_or_else(|e| {
                        Err(StoreError::Io { dir: "the data directory".into(), detail: e.to_string() })
                    });
                control_plane.inner.metrics.flush(started.elapsed());
                if let Err(error) = result {
                    tracing::error!(%error, "flushing the store failed; every change not yet durable fails, and the scheduler stops");
                    control_plane.inner.commits.failed(error.to_string());
                    control_plane.inner.flushed.notify_waiters();
                    control_plane.inner.store_failed.notify_one();
                    return;
                }
                let again = control_plane.inner.commits.flushed(target);
                control_plane.release_durable();
                control_plane.inner.flushed.notify_waiters();
                if !again {
                    return;
                }
            }
        });
    }

    /// Resolves with the reason once a flush has failed: the scheduler must stop.
    pub async fn store_failed(&self) -> String {
        loop {
            let failed = self.inner.store_failed.notified();
            if let Some(failure) = self.inner.commits.failure() {
                return failure;
            }
            failed.await;
        }
    }

    /// Lets go every durable change's commands, events and placement wish, in order.
    fn release_durable(&self) {
        let _in_order = self.inner.releasing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (mut placement_wanted, mut allocation_wanted) = (false, false);
        for release in self.inner.commits.take_durable() {
            self.dispatch(release.effects);
            for event in release.events {
                self.inner.metrics.event(&event);
                // First marked released, then sent: a subscriber that reads the journal up to
                // the mark meanwhile gets it twice at most, which its feed drops.
                self.inner.released_events.fetch_max(event.index + 1, Ordering::SeqCst);
                // No subscriber is fine.
                let _ = self.inner.events.send(Arc::new(event));
            }
            placement_wanted |= release.placement_wanted;
            allocation_wanted |= release.allocation_wanted;
        }
        if placement_wanted {
            self.inner.placement_wanted.notify_one();
        }
        // Room freed or asked for is offered at once, not at the next interval.
        if placement_wanted || allocation_wanted {
            self.inner.allocation_wanted.notify_one();
        }
    }

    /// Sends each effect to its agent's command channel, if the agent is connected. An agent
    /// that is not connected learns what it must run when it registers again. Lock order:
    /// releasing, then links; nothing takes the links lock and then another.
    fn dispatch(&self, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        let (to_frameworks, effects): (Vec<Effect>, Vec<Effect>) =
            effects.into_iter().partition(|e| matches!(e, Effect::Framework { .. }));
        self.tell_frameworks(to_frameworks);
        let links = self.lock_links();
        for effect in effects {
            let (agent, command) = match effect {
                Effect::Launch { agent, task } => {
                    tracing::info!(task = %task.id, %agent, config = %task.config.id().short(), "launching");
                    (agent, v1::agent_command::Command::Launch(atoll_proto::launch_to_wire(&task)))
                }
                Effect::Kill { agent, task } => {
                    tracing::info!(%task, %agent, "killing");
                    (agent, v1::agent_command::Command::Kill(v1::KillTask { task_id: task.0 }))
                }
                Effect::ExecutorMessage { agent, task, data } => {
                    (agent, v1::agent_command::Command::Message(v1::ExecutorMessageToTask { task_id: task.0, data }))
                }
                Effect::Framework { .. } => continue,
            };
            if let Some(link) = links.get(&agent) {
                // A closed channel means the agent went away; it re-registers to recover.
                let _ = link.sender.send(v1::AgentCommand { command: Some(command) });
            }
        }
    }

    fn lock_framework_links(&self) -> MutexGuard<'_, BTreeMap<String, (String, FrameworkSender)>> {
        self.inner.framework_links.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends each event to its framework's stream, if it is subscribed (one that is not hears
    /// what it must again when it subscribes: its unacknowledged updates, new offers). A
    /// framework whose stream is full is disconnected; a framework that ended is told why and
    /// its stream closed.
    fn tell_frameworks(&self, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        let mut links = self.lock_framework_links();
        for effect in effects {
            let Effect::Framework { framework, event } = effect else { continue };
            let Some((_, sender)) = links.get(&framework) else { continue };
            let sent = sender.try_send(Ok(crate::frameworks_api::event_to_wire(&event)));
            let ended = matches!(event, atoll_state::FrameworkEvent::Ended { .. });
            if let Err(mpsc::error::TrySendError::Full(_)) = &sent {
                tracing::warn!(%framework, "the framework reads its stream too slowly; disconnecting it");
            }
            if sent.is_err() || ended {
                // Its watcher sees the link gone and reports the disconnection.
                links.remove(&framework);
            }
        }
    }

    /// Makes `sender` the stream of `framework`'s subscription `stream`; an older subscription's
    /// stream is told it was replaced, and ends.
    pub(crate) fn open_framework_link(&self, framework: &str, stream: &str, sender: FrameworkSender) {
        let old = self.lock_framework_links().insert(framework.to_owned(), (stream.to_owned(), sender));
        if let Some((_, old)) = old {
            let replaced = v1::FrameworkEvent {
                event: Some(v1::framework_event::Event::Error(v1::FrameworkError {
                    message: "this subscription was replaced by a newer one of the same framework".to_owned(),
                })),
            };
            let _ = old.try_send(Ok(replaced));
        }
    }

    /// Drops the stream of subscription `stream` of `framework`, if it is still the current.
    pub(crate) fn close_framework_link(&self, framework: &str, stream: &str) {
        let mut links = self.lock_framework_links();
        if links.get(framework).is_some_and(|(current, _)| current == stream) {
            links.remove(framework);
        }
    }

    /// Sends heartbeats on subscription `stream` of `framework` until its stream ends (the
    /// framework went away, was disconnected or replaced), then tells the state machine, which
    /// ignores a subscription already replaced.
    pub(crate) async fn watch_framework_link(self, framework: String, stream: String) {
        let mut heartbeat = tokio::time::interval(crate::frameworks_api::HEARTBEAT);
        heartbeat.tick().await;
        let mut check = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    let links = self.lock_framework_links();
                    if let Some((_, sender)) = links.get(&framework).filter(|(current, _)| *current == stream) {
                        let beat = v1::FrameworkEvent { event: Some(v1::framework_event::Event::Heartbeat(v1::Heartbeat {})) };
                        let _ = sender.try_send(Ok(beat));
                    }
                }
                _ = check.tick() => {
                    let open = self
                        .lock_framework_links()
                        .get(&framework)
                        .is_some_and(|(current, sender)| *current == stream && !sender.is_closed());
                    if !open {
                        break;
                    }
                }
            }
        }
        self.close_framework_link(&framework, &stream);
        if let Err(e) = self.mutate(|state, now| Ok(((), state.framework_disconnected(&framework, &stream, now)))).await
        {
            tracing::error!(%framework, error = %e, "recording a framework's disconnection failed");
        } else {
            tracing::info!(%framework, "framework disconnected");
        }
    }

    /// Replaces the command channel of an agent that (re-)registers, and where it serves logs.
    pub(crate) fn open_link(&self, agent: &AgentId, log_endpoint: Option<LogEndpoint>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.lock_links().insert(agent.clone(), AgentLink { sender, receiver: Some(receiver), log_endpoint });
    }

    /// Where a registered agent serves its tasks' logs.
    pub(crate) fn log_endpoint(&self, agent: &AgentId) -> Option<LogEndpoint> {
        self.lock_links().get(agent).and_then(|link| link.log_endpoint.clone())
    }

    /// Hands the receiving end of an agent's command channel to its Commands stream.
    pub fn take_link(&self, agent: &AgentId) -> Option<mpsc::UnboundedReceiver<v1::AgentCommand>> {
        self.lock_links().get_mut(agent).and_then(|link| link.receiver.take())
    }

    /// Starts the placement loop (on demand, and at least every second), the housekeeping
    /// loop (timeouts, backoffs, pruning) and, with a webhook, its delivery.
    pub fn spawn_loops(&self) -> Loops {
        let placement = {
            let control_plane = self.clone();
            tokio::spawn(async move {
                loop {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), control_plane.inner.placement_wanted.notified())
                            .await;
                    let metrics = control_plane.inner.metrics.clone();
                    let round = control_plane
                        .mutate(|state, now| {
                            let started = std::time::Instant::now();
                            let outcome = state.placement_round(now);
                            let placed = outcome.effects.iter().filter(|e| matches!(e, Effect::Launch { .. })).count();
                            metrics.placement_round(started.elapsed(), placed, state.unplaced_count());
                            Ok(((), outcome))
                        })
                        .await;
                    if let Err(e) = round {
                        tracing::error!(error = %e, "placement round failed");
                    }
                }
            })
        };
        let housekeeping = {
            let control_plane = self.clone();
            let period = Duration::from_millis(self.inner.config.housekeeping_interval_ms.max(10));
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(period);
                loop {
                    interval.tick().await;
                    if let Err(e) = control_plane.mutate(|state, now| Ok(((), state.tick(now)))).await {
                        tracing::error!(error = %e, "housekeeping failed");
                    }
                }
            })
        };
        let allocation = {
            let control_plane = self.clone();
            tokio::spawn(async move {
                loop {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), control_plane.inner.allocation_wanted.notified())
                            .await;
                    if let Err(e) = control_plane.mutate(|state, now| Ok(((), state.allocation_round(now)))).await {
                        tracing::error!(error = %e, "allocation round failed");
                    }
                }
            })
        };
        let mut loops = vec![placement, housekeeping, allocation];
        if let Some(webhook) = self.inner.config.webhook.clone() {
            loops.push(tokio::spawn(crate::webhooks::deliver(self.clone(), webhook)));
        }
        Loops(loops)
    }
}

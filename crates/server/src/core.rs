//! The control plane's core: one lock around the cluster state, a store that every change is
//! committed to before anyone hears of it, the links to connected agents, and the placement
//! and housekeeping loops.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use atoll_model::event::{ClusterEvent, EventFilter};
use atoll_model::{AgentId, JobKey, JobSpec};
use atoll_proto::v1;
use atoll_state::{ClusterState, Effect, Outcome, StateError};
use atoll_storage::{Store, StoreError};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;

use tonic::Status;

use crate::auth::Caller;
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
    placement_wanted: Notify,
    /// Every event once it is durable, to the event stream's subscribers.
    events: broadcast::Sender<Arc<ClusterEvent>>,
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
        Ok(ControlPlane {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
                store,
                clock,
                links: Mutex::new(BTreeMap::new()),
                placement_wanted: Notify::new(),
                events: broadcast::channel(EVENT_BUFFER).0,
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
    pub(crate) fn change_job<T>(
        &self,
        caller: &Caller,
        key: &JobKey,
        verb: &str,
        call: &str,
        f: impl FnOnce(&mut ClusterState, u64) -> Result<(T, Outcome), StateError>,
    ) -> Result<T, Status> {
        let result =
            caller.may_manage(&key.role, verb).and_then(|()| self.mutate(f).map_err(crate::scheduler_api::core_status));
        self.audit(caller, call, &key.to_string(), &result);
        result
    }

    /// A change that puts `spec` in place (create, update, cron schedule): as
    /// [`ControlPlane::change_job`], and a task whose Unix user is not its job's role also
    /// needs that user among the caller's roles ([`Caller::may_run_as`]).
    pub(crate) fn put_job<T>(
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
        self.change_job(caller, &spec.key, verb, call, f)
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
        let state = self.lock_state();
        // Asked from an index not reached yet: nothing before it is offered.
        let next = state.next_event_index().max(from.unwrap_or(0));
        let backlog = from.map(|from| state.events_since(from, filter)).unwrap_or_default();
        (backlog, next, state.oldest_event_index(), self.inner.events.subscribe())
    }

    /// Every event made durable from now on, as it is (for pages that redraw on change).
    pub fn live_events(&self) -> broadcast::Receiver<Arc<ClusterEvent>> {
        self.inner.events.subscribe()
    }

    /// The kept events at or after `from` that `filter` takes.
    pub(crate) fn events_since(&self, from: u64, filter: &EventFilter) -> Vec<ClusterEvent> {
        self.lock_state().events_since(from, filter)
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

    /// Changes the state with `f`, makes the outcome's changes durable, then tells agents what
    /// to do and wakes placement if the outcome wants a round. If the store fails, the state is
    /// reloaded from it and the change is lost as a whole; a refusal changes nothing.
    pub fn mutate<T>(
        &self,
        f: impl FnOnce(&mut ClusterState, u64) -> Result<(T, Outcome), StateError>,
    ) -> Result<T, CoreError> {
        let now = self.now_ms();
        let mut state = self.lock_state();
        let (value, outcome) = f(&mut state, now)?;
        if !outcome.changes.is_empty() {
            let started = std::time::Instant::now();
            match self.inner.store.commit(&outcome.changes) {
                Ok(bytes) => self.inner.metrics.commit(started.elapsed(), bytes),
                Err(e) => {
                    tracing::error!(error = %e, "commit failed; reloading state from the store");
                    match self.inner.store.load() {
                        Ok(durable) => *state = ClusterState::restore(self.inner.config.state.clone(), durable, now),
                        Err(reload) => tracing::error!(error = %reload, "reloading state failed"),
                    }
                    return Err(CoreError::Storage(e));
                }
            }
        }
        // Still under the state lock, so agents get commands in the order the state made them,
        // and subscribers get events in order, after what they read from the journal.
        self.dispatch(outcome.effects);
        for event in outcome.changes.events_put {
            self.inner.metrics.event(&event);
            // No subscriber is fine.
            let _ = self.inner.events.send(Arc::new(event));
        }
        drop(state);
        if outcome.placement_wanted {
            self.inner.placement_wanted.notify_one();
        }
        Ok(value)
    }

    /// Sends each effect to its agent's command channel, if the agent is connected. An agent
    /// that is not connected learns what it must run when it registers again. Lock order:
    /// state, then links; nothing takes the links lock and then the state lock.
    fn dispatch(&self, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
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
            };
            if let Some(link) = links.get(&agent) {
                // A closed channel means the agent went away; it re-registers to recover.
                let _ = link.sender.send(v1::AgentCommand { command: Some(command) });
            }
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
                    let round = control_plane.mutate(|state, now| {
                        let started = std::time::Instant::now();
                        let outcome = state.placement_round(now);
                        let placed = outcome.effects.iter().filter(|e| matches!(e, Effect::Launch { .. })).count();
                        metrics.placement_round(started.elapsed(), placed, state.unplaced_count());
                        Ok(((), outcome))
                    });
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
                    if let Err(e) = control_plane.mutate(|state, now| Ok(((), state.tick(now)))) {
                        tracing::error!(error = %e, "housekeeping failed");
                    }
                }
            })
        };
        let mut loops = vec![placement, housekeeping];
        if let Some(webhook) = self.inner.config.webhook.clone() {
            loops.push(tokio::spawn(crate::webhooks::deliver(self.clone(), webhook)));
        }
        Loops(loops)
    }
}

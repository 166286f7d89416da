//! The control-plane state machine: every job, task and agent the scheduler knows, and every
//! rule for how they change.
//!
//! Invariants:
//! - Deterministic: every mutation takes the current time as an argument; nothing here reads a
//!   clock, does I/O or draws random numbers. Task ids come from a persisted sequence number.
//! - Tasks only move along Aurora's legal transitions ([`TaskState::can_transition_to`]);
//!   an illegal report is ignored and counted, never applied.
//! - One output per event: every method that changes the state returns an [`Outcome`] with
//!   what agents must do, every change to store ([`Changes`]), and whether a placement round is
//!   wanted. Durable records live in `Tracked` maps, which note every key changed, so nothing
//!   can change without being stored; the server makes the changes durable before it answers
//!   or tells an agent, and the simulator checks them.
//! - Every task carries its own config version ([`ConfigVersion`]); placement, launch and
//!   rescheduling read it, never the job's current config. Versions are interned by content, so
//!   tasks of one config share one copy, and a version no task or update refers to is dropped.
//! - Durable: jobs, config versions, tasks, the id sequence, host maintenance modes, role quotas,
//!   restarts and updates, and cron jobs' records (the last fire time handled, the runs kept).
//!   The cron clock is the `now` every call takes, so the simulator runs cron over virtual days. Decisions that wait on time need nothing more: a throttled task carries its
//!   `not_before_ms`, and a pending task's wait towards preemption starts at its PENDING event.
//!   Rebuilt on start: agents, from registrations and from the agents that stored tasks point at.
//!
//! [`TaskState::can_transition_to`]: atoll_model::TaskState::can_transition_to

mod agents;
mod cron;
mod durable;
mod events;
mod frameworks;
mod instances;
mod lifecycle;
mod maintenance;
mod preemption;
mod queries;
mod quota;
mod restart;
mod rounds;
mod tracked;
mod updates;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use atoll_model::job::MAX_INSTANCES_PER_JOB;
use atoll_model::{
    AgentId, AgentResources, Attributes, ConfigId, ConfigVersion, JobKey, JobSpec, ScheduledTask, TaskConfig, TaskId,
};
use atoll_placement::Policy;

use crate::tracked::Tracked;

pub use agents::Registration;
pub use atoll_model::{MaintenanceMode, ResourceAggregate};
pub use atoll_placement::{PendingReason, VetoCount};
pub use cron::{CronJob, CronRun, CronRunState, CronView, Scheduled};
pub use durable::{Changes, Durable, StoreImage};
pub use events::EVENTS_KEPT;
pub use frameworks::{
    FrameworkConfig, FrameworkError, FrameworkEvent, FrameworkView, Launch, OfferMade, Subscription, TaskUpdate,
};
pub use lifecycle::StatusReport;
pub use maintenance::HostMaintenance;
pub use queries::{Census, FrameworkCount, JobSummary};
pub use quota::QuotaUsage;
pub use restart::{RestartPlan, Restarted};
pub use updates::{
    ChangeKind, InstanceAction, InstanceChange, InstanceEvent, InstanceUpdate, JobUpdate, PlannedInstance, Progress,
    UnknownUpdateState, UpdateAction, UpdateEvent, UpdatePlan, UpdateStart, UpdateState,
};

/// Timeouts and backoffs of the state machine, in milliseconds.
#[derive(Clone, Debug)]
pub struct StateConfig {
    /// The cluster this scheduler runs; jobs for other clusters are refused.
    pub cluster: String,
    /// An agent silent this long is lost, and its tasks with it.
    pub agent_timeout_ms: u64,
    /// A task stuck in ASSIGNED or KILLING this long is lost.
    pub transient_timeout_ms: u64,
    /// A rescheduled task whose ancestor ran less than this is throttled.
    pub flapping_threshold_ms: u64,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// A task PENDING this long may preempt lower tasks to make room (Aurora's
    /// `preemption_delay`).
    pub preemption_delay_ms: u64,
    /// Terminal tasks kept per job, oldest pruned first.
    pub terminal_tasks_kept_per_job: usize,
    /// A task an update started that has not reached RUNNING this long (PENDING, ASSIGNED or
    /// STARTING) counts as a failure of its instance.
    pub update_stuck_timeout_ms: u64,
    /// Finished updates kept per job, oldest pruned first (Aurora keeps 10).
    pub finished_updates_kept_per_job: usize,
    /// The time zone of cron jobs that name none.
    pub cron_default_zone: String,
    /// How late a missed cron run may still start, for jobs that do not say.
    pub cron_starting_deadline_ms: u64,
    /// Runs kept per cron job, oldest dropped first.
    pub cron_runs_kept: usize,
    /// A role without a quota may run no production job, as in Aurora; false: such a role is
    /// not limited (what `atoll dev` uses).
    pub production_needs_quota: bool,
    pub policy: Policy,
    /// Offers, status update retries and roles' weights.
    pub frameworks: FrameworkConfig,
}

impl StateConfig {
    /// Aurora's defaults, with agents timing out after ten seconds.
    pub fn new(cluster: &str) -> StateConfig {
        StateConfig {
            cluster: cluster.to_owned(),
            agent_timeout_ms: 10_000,
            transient_timeout_ms: 5 * 60_000,
            flapping_threshold_ms: 5 * 60_000,
            initial_backoff_ms: 30_000,
            max_backoff_ms: 5 * 60_000,
            preemption_delay_ms: 3 * 60_000,
            terminal_tasks_kept_per_job: 100,
            update_stuck_timeout_ms: 5 * 60_000,
            finished_updates_kept_per_job: 10,
            cron_default_zone: atoll_cron::DEFAULT_ZONE.to_owned(),
            cron_starting_deadline_ms: 15 * 60_000,
            cron_runs_kept: 20,
            production_needs_quota: true,
            policy: Policy::default(),
            frameworks: FrameworkConfig::default(),
        }
    }
}

/// An agent the scheduler knows of.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentRecord {
    pub id: AgentId,
    pub hostname: String,
    /// None until the agent registers: after a restart the scheduler knows an agent only from
    /// the tasks it stored, and places nothing new there until it hears from it.
    pub resources: Option<AgentResources>,
    pub attributes: Attributes,
    pub last_seen_ms: u64,
    /// The random id the agent keeps in its work directory (`agent.json`): the same across
    /// its restarts, another for another agent. Known once it registers; `None` from agents
    /// older than it.
    pub incarnation: Option<String>,
    /// Tasks the agent still runs that the scheduler no longer counts there (LOST while the
    /// agent was cut off, or moved on), told to stop: their resources stay taken on the agent
    /// until it reports them ended or registers without them, so a host back from a partition
    /// is not given new work while its orphans are still being killed.
    pub orphans: BTreeMap<TaskId, Orphan>,
}

/// What an orphaned task holds on its agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Orphan {
    pub resources: atoll_model::Resources,
    /// Its ports, when the scheduler placed it on this agent.
    pub ports: Vec<u16>,
}

/// What an agent must be told to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Launch {
        agent: AgentId,
        task: Box<ScheduledTask>,
    },
    Kill {
        agent: AgentId,
        task: TaskId,
    },
    /// Something a framework must hear: offers, rescinds, status updates, lost agents,
    /// messages from its executors, its end.
    Framework {
        framework: String,
        event: FrameworkEvent,
    },
    /// Data for a task's custom executor, from its framework (best effort).
    ExecutorMessage {
        agent: AgentId,
        task: TaskId,
        data: Vec<u8>,
    },
}

/// What one event did: what agents must be told, what the store must keep, and whether a
/// placement round is wanted (a task became PENDING, capacity was freed or added, a host's
/// maintenance changed).
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use = "the changes must be stored and the effects carried out"]
pub struct Outcome {
    pub effects: Vec<Effect>,
    pub changes: Changes,
    pub placement_wanted: bool,
    /// An allocation round is wanted: a framework subscribed, revived or declined.
    pub allocation_wanted: bool,
}

/// A request the state machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("Job {0} already exists")]
    JobExists(Box<JobKey>),
    #[error(
        "agent id '{id}' is in use by another agent, on host {hostname}, heard from {silent_ms} ms ago: give \
         this agent a name of its own with --hostname (the machine's hostname by default), or stop the other one"
    )]
    AgentIdInUse { id: AgentId, hostname: String, silent_ms: u64 },
    #[error("Job {0} not found; `atoll job list {cluster}` shows the jobs there", cluster = .0.cluster)]
    JobNotFound(Box<JobKey>),
    #[error("job {job} is for cluster '{}', but this scheduler runs cluster '{cluster}'", job.cluster)]
    WrongCluster { job: Box<JobKey>, cluster: String },
    #[error("invalid job {job}: {}", problems.join("; "))]
    InvalidJob { job: Box<JobKey>, problems: Vec<String> },
    #[error("job {job} has no instance {}; its instances are 0-{}", instances.iter().map(u32::to_string).collect::<Vec<_>>().join(","), count.saturating_sub(1))]
    NoSuchInstances { job: Box<JobKey>, instances: Vec<u32>, count: u32 },
    #[error("no instances given; name instances (JOB/0,2-3) or kill them all")]
    NoInstancesGiven,
    #[error("Insufficient resource quota: {0}")]
    InsufficientQuota(String),
    #[error("Job {0} is already restarting; wait until that restart is done (`atoll job status {0}`)")]
    RestartInProgress(Box<JobKey>),
    #[error("the batch size must be at least 1")]
    ZeroBatchSize,
    #[error("the number of instances to add must be at least 1")]
    NothingToAdd,
    #[error(
        "Instance count must be between 1 and {MAX_INSTANCES_PER_JOB}, not {count}: job {job} cannot grow by that much"
    )]
    TooManyInstances { job: Box<JobKey>, count: u64 },
    #[error(
        "Updates are not supported for non-service tasks: job {0} is not a service (set service: true, or use Service())"
    )]
    NotAService(Box<JobKey>),
    #[error(
        "Job {job} is already being updated (update {id}, {state}); see `atoll update info {job}`, or pause, resume or abort it with `atoll update pause|resume|abort {job}`"
    )]
    UpdateInProgress { job: Box<JobKey>, id: u64, state: UpdateState },
    #[error("Job {0} has no update in progress; `atoll update list {cluster}` shows its updates", cluster = .0.cluster)]
    NoActiveUpdate(Box<JobKey>),
    #[error("update {id} of {job} is {state} and cannot be {action} now")]
    UpdateRefuses { job: Box<JobKey>, id: u64, state: UpdateState, action: &'static str },
    #[error("update {id} of {job} takes no pulses: its update_config has no pulse_interval_secs")]
    NotPulsed { job: Box<JobKey>, id: u64 },
    #[error(
        "Job {0} has a cron_schedule: cron jobs may only be created or replaced with `atoll cron schedule {0} FILE`"
    )]
    CronJobViaCreate(Box<JobKey>),
    #[error("Job {0} has no cron_schedule; run it once with `atoll job create {0} FILE`")]
    NotACronJob(Box<JobKey>),
    #[error("{0} is not a scheduled cron job; `atoll job list {cluster}` shows the jobs there", cluster = .0.cluster)]
    CronJobNotFound(Box<JobKey>),
    #[error("Job {0} is a cron job: change its instances in its file and replace it with `atoll cron schedule`")]
    CronJobInstances(Box<JobKey>),
    #[error(transparent)]
    Framework(FrameworkError),
}

/// The scheduler's whole in-memory state.
#[derive(Clone, Debug)]
pub struct ClusterState {
    config: StateConfig,
    jobs: Tracked<JobKey, JobSpec>,
    /// Every config version a task or an update refers to, by id: one shared copy each.
    configs: Tracked<ConfigId, ConfigVersion>,
    tasks: Tracked<TaskId, ScheduledTask>,
    agents: BTreeMap<AgentId, AgentRecord>,
    /// Why each PENDING task was not placed in the last round it took part in; tasks of a job
    /// that failed alike share one reason.
    pending_reasons: BTreeMap<TaskId, Arc<PendingReason>>,
    /// Maintenance modes other than NONE, by hostname; durable, so kept while an agent is away.
    host_modes: Tracked<String, MaintenanceMode>,
    /// Production quota per role; a role without one may run no production job (unless
    /// `production_needs_quota` is off).
    quotas: Tracked<String, ResourceAggregate>,
    /// Restarts in progress, one per job at most.
    restarts: Tracked<JobKey, RestartPlan>,
    /// Updates in progress and the finished ones kept, by id.
    updates: Tracked<u64, JobUpdate>,
    /// The update in progress of each job being updated.
    active_updates: BTreeMap<JobKey, u64>,
    /// Cron jobs' records, beside their templates in `jobs`.
    cron: Tracked<JobKey, CronJob>,
    /// Each cron job's parsed schedule, the next fire times and the jobs touched; rebuilt on
    /// start.
    cron_clocks: cron::CronClocks,
    next_update_id: u64,
    next_task_seq: u64,
    illegal_transitions: u64,
    /// A placement round is wanted: since the last outcome a task became PENDING, or capacity
    /// was freed or added.
    placement_wanted: bool,
    /// A task or update was dropped since configs were last collected: some may be unused.
    configs_released: bool,
    /// The newest events, numbered, and those not yet stored.
    events: events::EventJournal,
    /// Frameworks other than the built-in one, by id.
    frameworks: Tracked<String, atoll_model::framework::FrameworkRecord>,
    /// How many status updates of each framework task its framework acknowledged.
    acknowledged: Tracked<TaskId, u32>,
    /// The allocator, subscriptions and offers; rebuilt on start.
    books: frameworks::FrameworkBooks,
}

impl ClusterState {
    /// An empty cluster.
    pub fn new(config: StateConfig) -> ClusterState {
        ClusterState::restore(config, Durable::default(), 0)
    }

    /// Rebuilds the state from what a store kept. Every agent that an active task points at is
    /// known again, as last seen at `now_ms`, so it is declared lost if it never comes back.
    pub fn restore(config: StateConfig, durable: Durable, now_ms: u64) -> ClusterState {
        // Tasks hold their versions already; the stored copies are the same, shared.
        let mut configs: BTreeMap<ConfigId, ConfigVersion> = durable.configs.into_iter().map(|c| (c.id(), c)).collect();
        for task in &durable.tasks {
            configs.entry(task.config.id()).or_insert_with(|| task.config.clone());
        }
        let books = frameworks::FrameworkBooks::new(durable.frameworks.iter(), &config.frameworks, now_ms);
        let mut state = ClusterState {
            frameworks: Tracked::stored(durable.frameworks.into_iter().map(|f| (f.id.clone(), f))),
            acknowledged: Tracked::stored(durable.acknowledged),
            books,
            config,
            jobs: Tracked::stored(durable.jobs.into_iter().map(|j| (j.key.clone(), j))),
            configs: Tracked::stored(configs),
            tasks: Tracked::stored(durable.tasks.into_iter().map(|t| (t.id.clone(), t))),
            agents: BTreeMap::new(),
            pending_reasons: BTreeMap::new(),
            host_modes: Tracked::stored(durable.host_modes),
            quotas: Tracked::stored(durable.quotas),
            restarts: Tracked::stored(durable.restarts.into_iter().map(|r| (r.job.clone(), r))),
            active_updates: durable
                .updates
                .iter()
                .filter(|u| !u.state.is_terminal())
                .map(|u| (u.job.clone(), u.id))
                .collect(),
            updates: Tracked::stored(durable.updates.into_iter().map(|u| (u.id, u))),
            cron_clocks: cron::CronClocks::default(),
            cron: Tracked::stored(durable.cron.into_iter().map(|c| (c.job.clone(), c))),
            next_update_id: durable.next_update_id,
            next_task_seq: durable.next_task_seq,
            illegal_transitions: 0,
            // Whatever was pending when the scheduler stopped wants a round now.
            placement_wanted: true,
            configs_released: false,
            events: events::EventJournal::restore(durable.events, durable.next_event_index),
        };
        // Every framework is away after a restart: one that was subscribed, since now (stored
        // with the next change).
        let subscribed: Vec<String> =
            state.frameworks.values().filter(|f| f.disconnected_ms.is_none()).map(|f| f.id.clone()).collect();
        for id in subscribed {
            if let Some(record) = state.frameworks.get_mut(&id) {
                record.disconnected_ms = Some(now_ms);
            }
        }
        for record in state.cron.values() {
            let expression = state.jobs.get(&record.job).and_then(|j| j.cron_schedule.as_deref());
            // Both were checked when the job was scheduled.
            if let Some(Ok(schedule)) = expression.map(|e| atoll_cron::Schedule::parse(e, &record.zone)) {
                state.cron_clocks.set(&record.job, schedule, record.handled_ms);
            }
        }
        for task in state.tasks.values().filter(|t| t.state.is_on_agent()) {
            if let Some(a) = &task.assignment {
                state.agents.entry(a.agent.clone()).or_insert_with(|| AgentRecord {
                    id: a.agent.clone(),
                    hostname: a.hostname.clone(),
                    resources: None,
                    attributes: Attributes::default(),
                    last_seen_ms: now_ms,
                    incarnation: None,
                    orphans: BTreeMap::new(),
                });
            }
        }
        state
    }

    pub fn config(&self) -> &StateConfig {
        &self.config
    }

    /// The outcome of the event just handled: `effects`, and every change since the last
    /// outcome.
    pub(crate) fn outcome(&mut self, effects: Vec<Effect>) -> Outcome {
        Outcome {
            effects,
            changes: self.take_changes(),
            placement_wanted: std::mem::take(&mut self.placement_wanted),
            allocation_wanted: false,
        }
    }

    /// Everything durable, as a store that was handed every outcome's changes holds it.
    pub fn durable(&self) -> Durable {
        Durable {
            jobs: self.jobs.values().cloned().collect(),
            configs: self.configs.values().cloned().collect(),
            tasks: self.tasks.values().cloned().collect(),
            next_task_seq: self.next_task_seq,
            host_modes: self.host_modes.iter().map(|(host, mode)| (host.clone(), *mode)).collect(),
            quotas: self.quotas.iter().map(|(role, quota)| (role.clone(), *quota)).collect(),
            restarts: self.restarts.values().cloned().collect(),
            updates: self.updates.values().cloned().collect(),
            next_update_id: self.next_update_id,
            cron: self.cron.values().cloned().collect(),
            events: self.events.all().cloned().collect(),
            next_event_index: self.events.next_index(),
            frameworks: self.frameworks.values().cloned().collect(),
            acknowledged: self.acknowledged.iter().map(|(task, count)| (task.clone(), *count)).collect(),
        }
    }

    /// Records an event about `job`.
    pub(crate) fn record_event(&mut self, job: &JobKey, at_ms: u64, detail: atoll_model::event::EventDetail) {
        self.events.record(job, at_ms, detail);
    }

    /// The kept events at or after index `from` that `filter` takes, oldest first.
    pub fn events_since(
        &self,
        from: u64,
        filter: &atoll_model::event::EventFilter,
    ) -> Vec<atoll_model::event::ClusterEvent> {
        self.events.since(from, filter)
    }

    /// The index the next event will have.
    pub fn next_event_index(&self) -> u64 {
        self.events.next_index()
    }

    /// The oldest event kept, if any: a consumer asking for older ones starts here.
    pub fn oldest_event_index(&self) -> Option<u64> {
        self.events.oldest_index()
    }

    /// Takes every change made since the last outcome.
    fn take_changes(&mut self) -> Changes {
        let (jobs_put, jobs_deleted) = self.jobs.take_changes().values();
        let (configs_put, configs_deleted) = self.configs.take_changes().values();
        let (tasks_put, tasks_deleted) = self.tasks.take_changes().values();
        let hosts = self.host_modes.take_changes();
        let quotas = self.quotas.take_changes();
        let (restarts_put, restarts_deleted) = self.restarts.take_changes().values();
        let (updates_put, updates_deleted) = self.updates.take_changes().values();
        let (cron_put, cron_deleted) = self.cron.take_changes().values();
        let journal = self.events.take_changes();
        let (frameworks_put, frameworks_deleted) = self.frameworks.take_changes().values();
        let acknowledged = self.acknowledged.take_changes();
        Changes {
            jobs_put,
            jobs_deleted,
            configs_put,
            configs_deleted,
            tasks_put,
            tasks_deleted,
            next_task_seq: self.next_task_seq,
            hosts_put: hosts.put,
            hosts_deleted: hosts.deleted,
            quotas_put: quotas.put,
            restarts_put,
            restarts_deleted,
            updates_put,
            updates_deleted,
            next_update_id: self.next_update_id,
            cron_put,
            cron_deleted,
            events_put: journal.written,
            events_deleted: journal.dropped,
            next_event_index: journal.next_index,
            frameworks_put,
            frameworks_deleted,
            acknowledged_put: acknowledged.put,
            acknowledged_deleted: acknowledged.deleted,
        }
    }

    /// The shared version of `config`: the one already known with its id, or a new one.
    pub(crate) fn intern(&mut self, config: TaskConfig) -> ConfigVersion {
        let id = ConfigId::of(&config);
        if let Some(known) = self.configs.get(&id) {
            return known.clone();
        }
        let version = ConfigVersion::stored(id, config);
        self.configs.insert(id, version.clone());
        version
    }

    /// A known config version.
    pub fn config_version(&self, id: &ConfigId) -> Option<&ConfigVersion> {
        self.configs.get(id)
    }

    /// Drops the config versions no task and no update refers to, once something that held
    /// one was dropped.
    pub(crate) fn collect_configs(&mut self) {
        if !std::mem::take(&mut self.configs_released) {
            return;
        }
        let mut used: BTreeSet<ConfigId> = self.tasks.values().map(|t| t.config.id()).collect();
        used.extend(self.update_config_ids());
        let unused: Vec<ConfigId> = self.configs.keys().filter(|id| !used.contains(id)).copied().collect();
        for id in unused {
            self.configs.remove(&id);
        }
    }

    /// How many status reports asked for a transition Aurora's state machine forbids.
    pub fn illegal_transitions(&self) -> u64 {
        self.illegal_transitions
    }
}

#[cfg(test)]
mod tests;

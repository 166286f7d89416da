//! The control-plane state machine: every job, task and agent the scheduler knows, and every
//! rule for how they change.
//!
//! Invariants:
//! - Deterministic: every mutation takes the current time as an argument; nothing here reads a
//!   clock, does I/O or draws random numbers. Task ids come from a persisted sequence number.
//! - Tasks only move along Aurora's legal transitions ([`TaskState::can_transition_to`]);
//!   an illegal report is ignored and counted, never applied.
//! - Every change to a job or task is recorded in [`Changes`]; the server makes those durable
//!   (and only then answers the caller) by taking them with [`ClusterState::take_changes`].
//! - Every task carries its own config version ([`ConfigVersion`]); placement, launch and
//!   rescheduling read it, never the job's current config. Versions are interned by content, so
//!   tasks of one config share one copy, and a version no task or update refers to is dropped.
//! - Durable: jobs, config versions, tasks, the id sequence, host maintenance modes, role quotas
//!   and restarts in progress. Decisions that wait on time need nothing more: a throttled task carries its
//!   `not_before_ms`, and a pending task's wait towards preemption starts at its PENDING event.
//!   Rebuilt on start: agents, from registrations and from the agents that stored tasks point at.
//!
//! [`TaskState::can_transition_to`]: atoll_model::TaskState::can_transition_to

mod agents;
mod instances;
mod lifecycle;
mod maintenance;
mod preemption;
mod queries;
mod quota;
mod restart;
mod rounds;
mod updates;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use atoll_model::job::MAX_INSTANCES_PER_JOB;
use atoll_model::{
    AgentId, AgentResources, Attributes, ConfigId, ConfigVersion, JobKey, JobSpec, ScheduledTask, TaskConfig, TaskId,
};
use atoll_placement::Policy;

pub use agents::Registration;
pub use atoll_model::{MaintenanceMode, ResourceAggregate};
pub use atoll_placement::{PendingReason, VetoCount};
pub use lifecycle::StatusReport;
pub use maintenance::HostMaintenance;
pub use queries::JobSummary;
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
    pub policy: Policy,
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
            policy: Policy::default(),
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
}

/// What an agent must be told to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Launch { agent: AgentId, task: Box<ScheduledTask> },
    Kill { agent: AgentId, task: TaskId },
}

/// Changes not yet made durable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub jobs_put: Vec<JobSpec>,
    pub jobs_deleted: Vec<JobKey>,
    /// Config versions first referred to since the last commit.
    pub configs_put: Vec<ConfigVersion>,
    /// Config versions nothing refers to any more.
    pub configs_deleted: Vec<ConfigId>,
    pub tasks_put: Vec<ScheduledTask>,
    pub tasks_deleted: Vec<TaskId>,
    pub next_task_seq: u64,
    /// Hosts (by hostname) whose maintenance mode changed to something other than NONE.
    pub hosts_put: Vec<(String, MaintenanceMode)>,
    /// Hosts back to NONE.
    pub hosts_deleted: Vec<String>,
    pub quotas_put: Vec<(String, ResourceAggregate)>,
    pub restarts_put: Vec<RestartPlan>,
    pub restarts_deleted: Vec<JobKey>,
    pub updates_put: Vec<JobUpdate>,
    pub updates_deleted: Vec<u64>,
    pub next_update_id: u64,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.jobs_put.is_empty()
            && self.jobs_deleted.is_empty()
            && self.configs_put.is_empty()
            && self.configs_deleted.is_empty()
            && self.tasks_put.is_empty()
            && self.tasks_deleted.is_empty()
            && self.hosts_put.is_empty()
            && self.hosts_deleted.is_empty()
            && self.quotas_put.is_empty()
            && self.restarts_put.is_empty()
            && self.restarts_deleted.is_empty()
            && self.updates_put.is_empty()
            && self.updates_deleted.is_empty()
    }
}

/// What a store gives back on start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Durable {
    pub jobs: Vec<JobSpec>,
    /// Every stored config version; tasks refer to theirs already.
    pub configs: Vec<ConfigVersion>,
    pub tasks: Vec<ScheduledTask>,
    pub next_task_seq: u64,
    /// Hosts in a maintenance mode other than NONE, by hostname.
    pub host_modes: Vec<(String, MaintenanceMode)>,
    /// Production quota per role.
    pub quotas: Vec<(String, ResourceAggregate)>,
    pub restarts: Vec<RestartPlan>,
    /// Updates in progress and the finished ones kept.
    pub updates: Vec<JobUpdate>,
    pub next_update_id: u64,
}

/// A request the state machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("Job {0} already exists")]
    JobExists(Box<JobKey>),
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
}

/// The scheduler's whole in-memory state.
#[derive(Clone, Debug)]
pub struct ClusterState {
    config: StateConfig,
    jobs: BTreeMap<JobKey, JobSpec>,
    /// Every config version a task or an update refers to, by id: one shared copy each.
    configs: BTreeMap<ConfigId, ConfigVersion>,
    tasks: BTreeMap<TaskId, ScheduledTask>,
    agents: BTreeMap<AgentId, AgentRecord>,
    /// Why each PENDING task was not placed in the last round it took part in; tasks of a job
    /// that failed alike share one reason.
    pending_reasons: BTreeMap<TaskId, Arc<PendingReason>>,
    /// Maintenance modes other than NONE, by hostname; durable, so kept while an agent is away.
    host_modes: BTreeMap<String, MaintenanceMode>,
    /// Production quota per role; a role without one is not limited.
    quotas: BTreeMap<String, ResourceAggregate>,
    /// Restarts in progress, one per job at most.
    restarts: BTreeMap<JobKey, RestartPlan>,
    /// Updates in progress and the finished ones kept, by id.
    updates: BTreeMap<u64, JobUpdate>,
    /// The update in progress of each job being updated.
    active_updates: BTreeMap<JobKey, u64>,
    next_update_id: u64,
    next_task_seq: u64,
    illegal_transitions: u64,
    /// A task has become PENDING since the last placement round.
    new_pending: bool,
    dirty_jobs: BTreeSet<JobKey>,
    dirty_configs: BTreeSet<ConfigId>,
    deleted_configs: BTreeSet<ConfigId>,
    /// A task or update was dropped since configs were last collected: some may be unused.
    configs_released: bool,
    dirty_tasks: BTreeSet<TaskId>,
    deleted_tasks: BTreeSet<TaskId>,
    dirty_hosts: BTreeSet<String>,
    dirty_quotas: BTreeSet<String>,
    dirty_restarts: BTreeSet<JobKey>,
    dirty_updates: BTreeSet<u64>,
}

impl ClusterState {
    /// An empty cluster.
    pub fn new(config: StateConfig) -> ClusterState {
        ClusterState::restore(config, Durable::default(), 0)
    }

    /// Rebuilds the state from what a store kept. Every agent that an active task points at is
    /// known again, as last seen at `now_ms`, so it is declared lost if it never comes back.
    pub fn restore(config: StateConfig, durable: Durable, now_ms: u64) -> ClusterState {
        let mut state = ClusterState {
            config,
            jobs: durable.jobs.into_iter().map(|j| (j.key.clone(), j)).collect(),
            configs: durable.configs.into_iter().map(|c| (c.id(), c)).collect(),
            tasks: durable.tasks.into_iter().map(|t| (t.id.clone(), t)).collect(),
            agents: BTreeMap::new(),
            pending_reasons: BTreeMap::new(),
            host_modes: durable.host_modes.into_iter().collect(),
            quotas: durable.quotas.into_iter().collect(),
            restarts: durable.restarts.into_iter().map(|r| (r.job.clone(), r)).collect(),
            active_updates: durable
                .updates
                .iter()
                .filter(|u| !u.state.is_terminal())
                .map(|u| (u.job.clone(), u.id))
                .collect(),
            updates: durable.updates.into_iter().map(|u| (u.id, u)).collect(),
            next_update_id: durable.next_update_id,
            next_task_seq: durable.next_task_seq,
            illegal_transitions: 0,
            // Whatever was pending when the scheduler stopped wants a round now.
            new_pending: true,
            dirty_jobs: BTreeSet::new(),
            dirty_configs: BTreeSet::new(),
            deleted_configs: BTreeSet::new(),
            configs_released: false,
            dirty_tasks: BTreeSet::new(),
            deleted_tasks: BTreeSet::new(),
            dirty_hosts: BTreeSet::new(),
            dirty_quotas: BTreeSet::new(),
            dirty_restarts: BTreeSet::new(),
            dirty_updates: BTreeSet::new(),
        };
        for task in state.tasks.values() {
            state.configs.entry(task.config.id()).or_insert_with(|| task.config.clone());
        }
        for task in state.tasks.values().filter(|t| t.state.is_on_agent()) {
            if let Some(a) = &task.assignment {
                state.agents.entry(a.agent.clone()).or_insert_with(|| AgentRecord {
                    id: a.agent.clone(),
                    hostname: a.hostname.clone(),
                    resources: None,
                    attributes: Attributes::default(),
                    last_seen_ms: now_ms,
                });
            }
        }
        state
    }

    pub fn config(&self) -> &StateConfig {
        &self.config
    }

    /// Takes every change made since the last call, for the store to make durable.
    pub fn take_changes(&mut self) -> Changes {
        let jobs_put: Vec<JobSpec> = self.dirty_jobs.iter().filter_map(|k| self.jobs.get(k).cloned()).collect();
        let jobs_deleted: Vec<JobKey> =
            self.dirty_jobs.iter().filter(|k| !self.jobs.contains_key(*k)).cloned().collect();
        let tasks_put: Vec<ScheduledTask> =
            self.dirty_tasks.iter().filter_map(|id| self.tasks.get(id).cloned()).collect();
        let tasks_deleted: Vec<TaskId> = self.deleted_tasks.iter().cloned().collect();
        let configs_put = self.dirty_configs.iter().filter_map(|id| self.configs.get(id).cloned()).collect();
        let configs_deleted = self.deleted_configs.iter().copied().collect();
        let (hosts_put, hosts_deleted) = {
            let modes = |host: &String| self.host_modes.get(host).map(|mode| (host.clone(), *mode));
            (self.dirty_hosts.iter().filter_map(modes).collect(), unset(&self.dirty_hosts, &self.host_modes))
        };
        let quotas_put =
            self.dirty_quotas.iter().filter_map(|role| self.quotas.get(role).map(|q| (role.clone(), *q))).collect();
        let restarts_put = self.dirty_restarts.iter().filter_map(|job| self.restarts.get(job).cloned()).collect();
        let restarts_deleted = unset(&self.dirty_restarts, &self.restarts);
        let updates_put = self.dirty_updates.iter().filter_map(|id| self.updates.get(id).cloned()).collect();
        let updates_deleted = unset(&self.dirty_updates, &self.updates);
        self.dirty_jobs.clear();
        self.dirty_configs.clear();
        self.deleted_configs.clear();
        self.dirty_tasks.clear();
        self.deleted_tasks.clear();
        self.dirty_hosts.clear();
        self.dirty_quotas.clear();
        self.dirty_restarts.clear();
        self.dirty_updates.clear();
        Changes {
            jobs_put,
            jobs_deleted,
            configs_put,
            configs_deleted,
            tasks_put,
            tasks_deleted,
            next_task_seq: self.next_task_seq,
            hosts_put,
            hosts_deleted,
            quotas_put,
            restarts_put,
            restarts_deleted,
            updates_put,
            updates_deleted,
            next_update_id: self.next_update_id,
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
        self.dirty_configs.insert(id);
        self.deleted_configs.remove(&id);
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
            if !self.dirty_configs.remove(&id) {
                self.deleted_configs.insert(id);
            }
        }
    }

    /// How many status reports asked for a transition Aurora's state machine forbids.
    pub fn illegal_transitions(&self) -> u64 {
        self.illegal_transitions
    }
}

/// The keys among `dirty` that `map` no longer holds.
fn unset<K: Ord + Clone, V>(dirty: &BTreeSet<K>, map: &BTreeMap<K, V>) -> Vec<K> {
    dirty.iter().filter(|k| !map.contains_key(*k)).cloned().collect()
}

#[cfg(test)]
mod tests;

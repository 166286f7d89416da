//! The inputs of a placement round: the cluster as it is (agents with their capacity, attributes,
//! maintenance mode and use, and where each job's instances already run), the jobs with tasks
//! waiting for a place, and the cluster's policy.

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::{AgentId, AgentResources, Attributes, Constraint, JobKey, Resources, TaskId};
pub use atoll_model::{MaintenanceMode, Tier};

/// Resources already taken on an agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_millis: u64,
    pub ram_mb: u64,
    pub disk_mb: u64,
    pub gpu: u64,
}

impl Usage {
    /// Adds one task's reservation.
    pub fn add(&mut self, r: &Resources) {
        self.cpu_millis += r.cpu_millis();
        self.ram_mb += r.ram_mb;
        self.disk_mb += r.disk_mb;
        self.gpu += r.gpu;
    }
}

/// One schedulable agent as placement sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSnapshot {
    /// The agent's id, which is its hostname; pending reasons name hosts by it.
    pub id: AgentId,
    pub resources: AgentResources,
    pub attributes: Attributes,
    pub maintenance: MaintenanceMode,
    pub used: Usage,
    pub used_ports: BTreeSet<u16>,
}

/// The agents that can take tasks, and where the jobs' active instances run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterSnapshot {
    pub agents: Vec<AgentSnapshot>,
    /// For each job, the agent of each of its active instances (one entry per instance). The
    /// count constraints (`limit`, `unique`, `max_per`, `group_by`) count these by the agents'
    /// attribute values; agents missing from `agents` are not counted.
    pub placed: BTreeMap<JobKey, Vec<AgentId>>,
}

/// A job's tasks of one config waiting for a place. A job whose instances run different
/// configs (during an update) comes as one `PendingJob` per config, under the same key; its
/// count rules count the instances of every one of them.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingJob {
    pub key: JobKey,
    pub tier: Tier,
    pub priority: i32,
    /// Services look at more candidates per task (log2 of the cluster) than batch jobs (two).
    pub service: bool,
    /// The job's instance count, which `group_by` divides among attribute values.
    pub instances: u32,
    pub constraints: Vec<Constraint>,
    pub tasks: Vec<PendingTask>,
}

/// A task waiting for a place.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingTask {
    pub id: TaskId,
    /// The job instance it runs: its walk over the agents starts from a hash of the job and
    /// the instance, so every run of an instance, in a plan or for real, looks at agents alike.
    pub instance: u32,
    /// The agent holding a slot for this task (an update's replacement going back to where the
    /// task it replaces ran): tried first, and the task is placed before any other.
    pub reserved_agent: Option<AgentId>,
    pub resources: Resources,
    pub ports: BTreeSet<String>,
    /// The task may not be placed before this time (milliseconds since the epoch).
    pub not_before_ms: u64,
}

/// How to choose among agents that fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Best fit (Nomad's BestFit v3 bin-packing): prefer the agent left fullest.
    #[default]
    Binpack,
    /// Worst fit: prefer the agent left emptiest, spreading tasks out.
    Spread,
}

/// Placement settings of the cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub strategy: Strategy,
}

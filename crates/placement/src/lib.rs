//! The placement core: decides which agent each pending task runs on and which ports it gets,
//! and, for a task that fits nowhere, why.
//!
//! A round runs Nomad's pipeline over Aurora's and Marathon's rules:
//! 1. Tasks are taken by tier (preferred first), priority (highest first), how long they may
//!    have been eligible, then id.
//! 2. Static filters (`feasibility`, `constraints`), once per distinct set of static
//!    constraints: dedicated, maintenance, value / negated / `is` / `cluster` / `like` / `unlike`.
//! 3. For each task, from an offset hashed from its id (`sampling`), dynamic filters: the job's
//!    count rules (`limit`, `unique`, `max_per`, `group_by`), then cpu, RAM, disk, GPU, ports,
//!    until `max(2, ceil(log2(N)))` feasible agents are found (2 for batch jobs).
//! 4. The best of those by `scoring` (bin-packing, or spread as the cluster's policy) gets the
//!    task; its resources, ports and instance counts are taken before the next task.
//! 5. A task that fits nowhere gets a [`PendingReason`] (`reasons`).
//!
//! Separately, [`find_preemption`] chooses the running tasks whose preemption would make room
//! for a task that waited too long, by Aurora's rules (`preemption`).
//!
//! Invariant: [`place`] is a pure, deterministic function of (cluster snapshot, pending jobs,
//! policy, now). It does no I/O, reads no clock and draws no random numbers; the same inputs in
//! any order give the same [`Plan`]. Iteration is over sorted collections only, scores are
//! integers, and ties go to the lower agent id. Resources are integers (thousandths of a core,
//! mebibytes).

mod constraints;
mod feasibility;
mod input;
mod plan;
mod preemption;
mod reasons;
mod sampling;
mod scoring;

pub use input::{
    AgentSnapshot, ClusterSnapshot, MaintenanceMode, PendingJob, PendingTask, Policy, Strategy, Tier, Usage,
};
pub use plan::{Placement, Plan, PlanStats, Unplaced};
pub use preemption::{Preemption, Victim, find_preemption, may_preempt};
pub use reasons::{EXAMPLES, PendingReason, VetoCount};

/// Places the tasks of `pending` on the agents of `snapshot`.
///
/// Each placement uses up resources and ports, and counts towards its job's count rules, for the
/// tasks after it in the same round. Tasks whose `not_before_ms` lies after `now_ms` are left out
/// of the plan entirely. Every other task is either placed or unplaced with its reason.
pub fn place(snapshot: &ClusterSnapshot, pending: &[PendingJob], policy: &Policy, now_ms: u64) -> Plan {
    plan::run(snapshot, pending, policy, now_ms)
}

#[cfg(test)]
mod tests;

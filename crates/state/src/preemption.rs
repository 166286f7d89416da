//! Preemption after a placement round: a task left PENDING for longer than the preemption
//! delay may have lower tasks preempted to make room, chosen by `atoll_placement`'s pure
//! [`find_preemption`]. Victims go PREEMPTING (which kills them), then KILLED, and are
//! rescheduled; the task takes their room in a later round, placed before them by tier and
//! priority.
//!
//! The wait is measured from the task's PENDING event, which is durable, so a restarted
//! scheduler keeps counting where it was. Tasks already told to stop hold no resources in the
//! view preemption works on, so a task waiting for room on its way is not given more; an agent
//! that gave up victims in a round is not used for another preemption in the same round.

use std::collections::BTreeSet;

use atoll_model::{JobKey, TaskId, TaskState};
use atoll_placement::{PendingJob, Victim, find_preemption};

use crate::{ClusterState, Effect};

impl ClusterState {
    /// Preempts for those of `unplaced` (tasks of `jobs`, in placement order) that have waited
    /// long enough.
    pub(crate) fn preempt_for(&mut self, jobs: &[PendingJob], unplaced: &[TaskId], now_ms: u64) -> Vec<Effect> {
        let delay = self.config.preemption_delay_ms;
        let waited: BTreeSet<&TaskId> = unplaced
            .iter()
            .filter(|id| {
                self.tasks
                    .get(*id)
                    .is_some_and(|t| t.state == TaskState::Pending && now_ms.saturating_sub(t.since_ms()) >= delay)
            })
            .collect();
        if waited.is_empty() {
            return Vec::new();
        }
        let mut victims = self.victims();
        if victims.is_empty() {
            return Vec::new();
        }
        let mut snapshot = self.snapshot_for(|_| true, true);
        // Jobs with an ask that found nothing this round: the job's other tasks alike find nothing.
        let mut hopeless: BTreeSet<(&JobKey, u64, u64, u64, u64, usize)> = BTreeSet::new();
        let mut effects = Vec::new();
        for job in jobs {
            for task in job.tasks.iter().filter(|t| waited.contains(&t.id)) {
                let r = &task.resources;
                let ask = (&job.key, r.cpu_millis(), r.ram_mb, r.disk_mb, r.gpu, task.ports.len());
                if hopeless.contains(&ask) {
                    continue;
                }
                let Some(preemption) = find_preemption(&snapshot, job, task, &victims) else {
                    hopeless.insert(ask);
                    continue;
                };
                let message = format!("Preempted to make room for {}", task.id);
                for victim in &preemption.victims {
                    effects.extend(self.transition(victim, TaskState::Preempting, &message, now_ms));
                }
                self.hold_for_preemptor(&task.id, &preemption.agent, &task.resources, now_ms);
                snapshot.agents.retain(|a| a.id != preemption.agent);
                victims.retain(|v| v.agent != preemption.agent);
            }
        }
        effects
    }

    /// Every task on an agent that preemption could stop, with its role, and the tier and
    /// priority of its own config.
    fn victims(&self) -> Vec<Victim> {
        self.tasks
            .values()
            .filter(|t| matches!(t.state, TaskState::Assigned | TaskState::Starting | TaskState::Running))
            // Another framework's tasks are its own: the allocator shares, Aurora's preemption
            // does not reach them.
            .filter(|t| !atoll_model::framework::is_framework_job(&t.job))
            .filter_map(|t| {
                let assignment = t.assignment.as_ref()?;
                Some(Victim {
                    task: t.id.clone(),
                    agent: assignment.agent.clone(),
                    role: t.job.role.clone(),
                    tier: t.config.effective_tier(),
                    priority: t.config.priority,
                    resources: t.config.task.resources.clone(),
                    ports: assignment.ports.len(),
                })
            })
            .collect()
    }
}

//! Rolling restarts (`atoll job restart`): the instances of a job are restarted in batches. Each
//! task of a batch goes RESTARTING, which kills it, and its KILLED end reschedules it at once
//! (never throttled). The next batch starts once every instance of the batch runs again: its
//! newest run is RUNNING, or it has no active run left (killed meanwhile). The plan is durable,
//! so a restarted scheduler carries on where it was, batch by batch, and never restarts an
//! instance twice: an instance counts as restarted as soon as its task left for RESTARTING.

use std::collections::BTreeSet;

use atoll_model::{JobKey, TaskId, TaskState};
use serde::{Deserialize, Serialize};

use crate::{ClusterState, Effect, Outcome, StateError};

/// An instance a restart covers, with the task it replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restarted {
    pub instance: u32,
    pub replaces: TaskId,
}

/// A restart in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPlan {
    pub job: JobKey,
    pub batch_size: u32,
    /// Instances still to restart, in order.
    pub waiting: Vec<u32>,
    /// The batch under way: each instance with the task that was restarted.
    pub batch: Vec<(u32, TaskId)>,
}

impl ClusterState {
    /// Restarts the given instances of a job (all of them with `None`), `batch_size` at a time.
    /// Only instances with a task on an agent are restarted; returns each with the task it
    /// replaces (in every batch), and the kills of the first batch.
    pub fn restart(
        &mut self,
        job: &JobKey,
        instances: Option<&BTreeSet<u32>>,
        batch_size: u32,
        now_ms: u64,
    ) -> Result<(Vec<Restarted>, Outcome), StateError> {
        let spec = self.jobs.get(job).ok_or_else(|| StateError::JobNotFound(Box::new(job.clone())))?;
        if batch_size == 0 {
            return Err(StateError::ZeroBatchSize);
        }
        if self.restarts.contains_key(job) {
            return Err(StateError::RestartInProgress(Box::new(job.clone())));
        }
        if let Some(update) = self.active_update(job) {
            return Err(StateError::UpdateInProgress {
                job: Box::new(job.clone()),
                id: update.id,
                state: update.state,
            });
        }
        let count = spec.instances;
        let wanted: BTreeSet<u32> = match instances {
            Some(set) if set.is_empty() => return Err(StateError::NoInstancesGiven),
            Some(set) => {
                let missing: Vec<u32> = set.iter().copied().filter(|i| *i >= count).collect();
                if !missing.is_empty() {
                    let job = Box::new(job.clone());
                    return Err(StateError::NoSuchInstances { job, instances: missing, count });
                }
                set.clone()
            }
            None => (0..count).collect(),
        };
        let targets: Vec<Restarted> = wanted
            .into_iter()
            .filter_map(|instance| self.restartable(job, instance).map(|replaces| Restarted { instance, replaces }))
            .collect();
        if targets.is_empty() {
            return Ok((targets, self.outcome(Vec::new())));
        }
        let mut plan = RestartPlan {
            job: job.clone(),
            batch_size,
            waiting: targets.iter().map(|r| r.instance).collect(),
            batch: Vec::new(),
        };
        let effects = self.start_batch(&mut plan, now_ms);
        self.save_plan(plan);
        Ok((targets, self.outcome(effects)))
    }

    /// Starts the next batch of every restart whose batch has settled; finishes restarts with
    /// nothing left to do.
    pub(crate) fn advance_restarts(&mut self, now_ms: u64) -> Vec<Effect> {
        let settled: Vec<JobKey> = self
            .restarts
            .values()
            .filter(|plan| {
                !self.jobs.contains_key(&plan.job) || plan.batch.iter().all(|(i, old)| self.settled(plan, *i, old))
            })
            .map(|plan| plan.job.clone())
            .collect();
        let mut effects = Vec::new();
        for job in settled {
            let Some(mut plan) = self.restarts.remove(&job) else { continue };
            if !self.jobs.contains_key(&job) {
                continue;
            }
            plan.batch.clear();
            effects.extend(self.start_batch(&mut plan, now_ms));
            self.save_plan(plan);
        }
        effects
    }

    /// The restarts in progress.
    pub fn restarts(&self) -> impl Iterator<Item = &RestartPlan> {
        self.restarts.values()
    }

    /// Keeps `plan` if it has work left.
    fn save_plan(&mut self, plan: RestartPlan) {
        if !plan.batch.is_empty() || !plan.waiting.is_empty() {
            self.restarts.insert(plan.job.clone(), plan);
        }
    }

    /// Moves up to a batch of waiting instances to RESTARTING; instances with nothing left to
    /// restart are passed over, so a batch is empty only when nothing waits.
    fn start_batch(&mut self, plan: &mut RestartPlan, now_ms: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        while plan.batch.len() < plan.batch_size as usize && !plan.waiting.is_empty() {
            let instance = plan.waiting.remove(0);
            let Some(id) = self.restartable(&plan.job, instance) else { continue };
            effects.extend(self.transition(&id, TaskState::Restarting, "Restarting by request", now_ms));
            plan.batch.push((instance, id));
        }
        effects
    }

    /// The task of `instance` that a restart would stop: its active run on an agent.
    fn restartable(&self, job: &JobKey, instance: u32) -> Option<TaskId> {
        self.instance_tasks(job, instance)
            .find(|t| t.state.can_transition_to(TaskState::Restarting))
            .map(|t| t.id.clone())
    }

    /// Whether `instance`, restarted from task `old`, runs again (or will not run any more).
    fn settled(&self, plan: &RestartPlan, instance: u32, old: &TaskId) -> bool {
        self.instance_tasks(&plan.job, instance)
            .filter(|t| t.state.is_active())
            .all(|t| t.id != *old && t.state == TaskState::Running)
    }
}

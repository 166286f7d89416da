//! Placement rounds (with preemption for tasks that waited too long) and periodic
//! housekeeping: timeouts, throttle releases, restart batches, updates, drained hosts, pruning
//! of old tasks, finished updates and the config versions nothing refers to any more.

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::{Assignment, ConfigId, JobKey, TaskId, TaskState};
use atoll_placement::{PendingJob, PendingTask, place};

use crate::lifecycle::is_being_killed;
use crate::{ClusterState, Effect, Outcome};

impl ClusterState {
    /// Runs one placement round over the registered agents and assigns what fits; every PENDING
    /// task left over keeps the reason placement gave.
    pub fn placement_round(&mut self, now_ms: u64) -> Outcome {
        self.placement_wanted = false;
        // One entry per job and config version: each brings its own constraints, tier and
        // priority, and placement counts the job's instances over all of them.
        let mut pending: BTreeMap<(&JobKey, ConfigId), PendingJob> = BTreeMap::new();
        let reservations = self.reservations();
        for task in self.tasks.values().filter(|t| t.state == TaskState::Pending) {
            let Some(job) = self.jobs.get(&task.job) else { continue };
            let config = &task.config;
            let entry = pending.entry((&job.key, config.id())).or_insert_with(|| PendingJob {
                key: job.key.clone(),
                tier: config.effective_tier(),
                priority: config.priority,
                service: config.service,
                instances: job.instances,
                constraints: config.constraints.clone(),
                tasks: Vec::new(),
            });
            entry.tasks.push(PendingTask {
                id: task.id.clone(),
                instance: task.instance,
                reserved_agent: reservations.get(&task.id).cloned(),
                resources: config.task.resources.clone(),
                ports: config.requested_ports().clone(),
                not_before_ms: task.not_before_ms,
            });
        }
        if pending.is_empty() {
            return self.outcome(Vec::new());
        }
        let wanted: BTreeSet<&JobKey> = pending.keys().map(|(key, _)| *key).collect();
        let snapshot = self.snapshot_for(|job| wanted.contains(job), false);
        let jobs: Vec<PendingJob> = pending.into_values().collect();
        let plan = place(&snapshot, &jobs, &self.config.policy, now_ms);
        let unplaced: Vec<TaskId> = plan.unplaced.iter().map(|u| u.task.clone()).collect();
        let mut effects = Vec::new();
        for placement in plan.placements {
            let Some(hostname) = self.agents.get(&placement.agent).map(|a| a.hostname.clone()) else { continue };
            if let Some(task) = self.tasks.get_mut(&placement.task) {
                task.assignment = Some(Assignment { agent: placement.agent.clone(), hostname, ports: placement.ports });
            }
            effects.extend(self.transition(&placement.task, TaskState::Assigned, "Assigned", now_ms));
            if let Some(task) = self.tasks.get(&placement.task) {
                effects.push(Effect::Launch { agent: placement.agent, task: Box::new(task.clone()) });
            }
        }
        for unplaced in plan.unplaced {
            self.pending_reasons.insert(unplaced.task, unplaced.reason);
        }
        effects.extend(self.preempt_for(&jobs, &unplaced, now_ms));
        self.outcome(effects)
    }

    /// Periodic housekeeping: loses silent agents and tasks stuck in a transient state
    /// (ASSIGNED, or told to stop and not stopping), releases throttled tasks whose backoff has
    /// passed, moves restarts on to their next batch, marks emptied draining hosts DRAINED, and
    /// prunes old terminal tasks.
    pub fn tick(&mut self, now_ms: u64) -> Outcome {
        let mut effects = self.lose_silent_agents(now_ms);
        effects.extend(self.expire_partitions(now_ms));
        let timeout = self.config.transient_timeout_ms;
        let stuck: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.state == TaskState::Assigned || is_being_killed(t.state))
            .filter(|t| now_ms.saturating_sub(t.since_ms()) > timeout)
            .map(|t| t.id.clone())
            .collect();
        for id in stuck {
            effects.extend(self.transition(&id, TaskState::Lost, "Timed out in a transient state", now_ms));
        }
        let released: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.state == TaskState::Throttled && t.not_before_ms <= now_ms)
            .map(|t| t.id.clone())
            .collect();
        for id in released {
            effects.extend(self.transition(&id, TaskState::Pending, "Backoff over", now_ms));
        }
        effects.extend(self.advance_restarts(now_ms));
        effects.extend(self.advance_updates(now_ms));
        effects.extend(self.advance_cron(now_ms));
        effects.extend(self.framework_housekeeping(now_ms));
        self.finish_draining();
        self.prune_terminal_tasks();
        self.prune_finished_updates();
        self.collect_configs();
        self.outcome(effects)
    }

    fn prune_terminal_tasks(&mut self) {
        let keep = self.config.terminal_tasks_kept_per_job;
        let mut by_job: BTreeMap<&JobKey, Vec<(u64, &TaskId)>> = BTreeMap::new();
        let mut doomed = Vec::new();
        // A framework's ended task is kept until its updates are acknowledged; one of a
        // framework torn down is not kept at all.
        for task in self.tasks.values().filter(|t| t.state.is_terminal() && !self.awaits_acknowledgement(t)) {
            if self.of_a_framework_gone(task) {
                doomed.push(task.id.clone());
            } else {
                by_job.entry(&task.job).or_default().push((task.since_ms(), &task.id));
            }
        }
        for (_, mut terminal) in by_job {
            if terminal.len() > keep {
                terminal.sort();
                doomed.extend(terminal[..terminal.len() - keep].iter().map(|(_, id)| (*id).clone()));
            }
        }
        for id in doomed {
            self.tasks.remove(&id);
            self.configs_released = true;
        }
    }

    /// Keeps the newest finished updates of each job, and those of jobs still known.
    fn prune_finished_updates(&mut self) {
        let keep = self.config.finished_updates_kept_per_job;
        let mut by_job: BTreeMap<&JobKey, Vec<u64>> = BTreeMap::new();
        for update in self.updates.values().rev().filter(|u| u.state.is_terminal()) {
            by_job.entry(&update.job).or_default().push(update.id);
        }
        let doomed: Vec<u64> = by_job.into_values().flat_map(|ids| ids.into_iter().skip(keep)).collect();
        for id in doomed {
            self.updates.remove(&id);
            self.configs_released = true;
        }
    }
}

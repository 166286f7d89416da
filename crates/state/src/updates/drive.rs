//! Moving an update on: each instance under way is evaluated against its tasks (kill what runs
//! the wrong config, add a task of the target config, watch it reach RUNNING and stay there),
//! failures are counted, new instances are started as the strategy allows, and the update turns
//! back, fails or finishes. Everything is read from the update record and the tasks, with time
//! as an argument, so driving after a restart picks up where the last drive left off.

use std::collections::BTreeMap;

use atoll_model::config::UpdateConfig;
use atoll_model::event::{EventDetail, JobChange};
use atoll_model::{AgentId, ConfigVersion, JobKey, ScheduledTask, TaskId, TaskState};

use super::{InstanceAction, InstanceEvent, InstanceUpdate, JobUpdate, Progress, Rollout, UpdateState};
use crate::lifecycle::{Lineage, is_being_killed};
use crate::{ClusterState, Effect};

/// What evaluating an instance needs to know of its update.
struct Driving<'a> {
    job: &'a JobKey,
    update_id: u64,
    settings: &'a UpdateConfig,
    now_ms: u64,
}

/// The outcome of evaluating one instance.
enum Step {
    /// Not done; look again on the next event or tick.
    Wait,
    Succeeded,
    Failed(String),
}

impl ClusterState {
    /// Moves update `id` on as far as it can go now.
    pub(crate) fn drive_update(&mut self, id: u64, now_ms: u64) -> Vec<Effect> {
        let Some(mut update) = self.updates.lend(&id) else { return Vec::new() };
        let seen = update.events.len();
        let mut effects = Vec::new();
        if !update.state.is_terminal() {
            effects = self.drive(&mut update, now_ms);
        }
        self.record_update_events(&update, seen);
        if update.state.is_terminal() {
            self.finish(&update, now_ms);
        }
        self.updates.give_back(id, update);
        effects
    }

    fn drive(&mut self, update: &mut JobUpdate, now_ms: u64) -> Vec<Effect> {
        if !self.jobs.contains_key(&update.job) {
            update.record(UpdateState::Aborted, "The job was killed", now_ms);
            return Vec::new();
        }
        let missing = update.config_ids().find(|id| !self.configs.contains_key(id));
        if let Some(missing) = missing {
            let message = format!("config version {} is missing from the store", missing.short());
            update.record(UpdateState::Error, message, now_ms);
            return Vec::new();
        }
        if let Some(interval) = update.pulse_interval_ms()
            && matches!(update.state, UpdateState::RollingForward | UpdateState::RollingBack)
            && update.last_pulse_ms.is_none_or(|at| now_ms > at + interval)
        {
            let message = format!("No pulse in the last {} s", interval / 1000);
            update.record(update.state.awaiting_pulse(), message, now_ms);
        }
        let mut effects = Vec::new();
        // Evaluate what is under way, then start more, until nothing changes (a start may
        // finish at once, say an instance removed that had no task).
        for _ in 0..update.instances.len() + 2 {
            let changed = self.evaluate_under_way(update, now_ms, &mut effects);
            if self.settle(update, now_ms) {
                break;
            }
            if !self.start_more(update, now_ms, &mut effects) && !changed {
                break;
            }
        }
        effects
    }

    /// Evaluates each instance under way; returns whether any finished.
    fn evaluate_under_way(&mut self, update: &mut JobUpdate, now_ms: u64, effects: &mut Vec<Effect>) -> bool {
        let back = update.state.is_rolling_back();
        let (job, settings) = (update.job.clone(), update.settings.clone());
        let driving = Driving { job: &job, update_id: update.id, settings: &settings, now_ms };
        let mut changed = false;
        for instance in update.instances.iter_mut().filter(|i| i.progress == Progress::Updating) {
            let target = instance.target(back).and_then(|id| self.configs.get(&id).cloned());
            let step = self.step_instance(&driving, instance, target.as_ref(), effects);
            let (progress, action, message) = match step {
                Step::Wait => continue,
                Step::Succeeded if back => (Progress::Succeeded, InstanceAction::InstanceRolledBack, String::new()),
                Step::Succeeded => (Progress::Succeeded, InstanceAction::InstanceUpdated, String::new()),
                Step::Failed(why) if back => (Progress::Failed, InstanceAction::InstanceRollbackFailed, why),
                Step::Failed(why) => (Progress::Failed, InstanceAction::InstanceUpdateFailed, why),
            };
            instance.progress = progress;
            instance.reserved_agent = None;
            instance.events.push(InstanceEvent { at_ms: now_ms, action, message });
            changed = true;
        }
        changed
    }

    /// Turns back, fails or finishes the update if it is time; returns whether it is over.
    fn settle(&mut self, update: &mut JobUpdate, now_ms: u64) -> bool {
        let back = update.state.is_rolling_back();
        let failed = update.instances.iter().filter(|i| i.progress == Progress::Failed).count() as u32;
        if failed > update.settings.max_total_failures {
            let why = format!(
                "{failed} instance(s) failed, more than max_total_failures ({})",
                update.settings.max_total_failures
            );
            if back {
                update.record(UpdateState::Failed, format!("Rollback failed: {why}"), now_ms);
            } else if update.settings.rollback_on_failure {
                turn_back(update, format!("Rolling back: {why}"), now_ms);
                return false;
            } else {
                update.record(UpdateState::Failed, format!("Failed: {why}; rollback_on_failure is off"), now_ms);
            }
            return true;
        }
        let in_scope = update.instances.iter().filter(|i| !back || i.touched);
        if in_scope.clone().all(|i| i.progress.is_done()) {
            let done = if back { UpdateState::RolledBack } else { UpdateState::RolledForward };
            let failed_note = if failed > 0 {
                format!(" ({failed} instance(s) failed, within max_total_failures)")
            } else {
                String::new()
            };
            update.record(done, format!("Done{failed_note}"), now_ms);
            return true;
        }
        false
    }

    /// Starts the instances the strategy lets start now; returns whether it started any.
    fn start_more(&mut self, update: &mut JobUpdate, now_ms: u64, effects: &mut Vec<Effect>) -> bool {
        if !matches!(update.state, UpdateState::RollingForward | UpdateState::RollingBack) {
            return false;
        }
        let back = update.state.is_rolling_back();
        let order = processing_order(update);
        let rollout = Rollout::of(&update.settings);
        let allowed: Vec<usize> = match &rollout {
            Rollout::Queue(size) => {
                let in_flight = order.iter().filter(|&&i| update.instances[i].progress == Progress::Updating).count();
                let room = (*size as usize).saturating_sub(in_flight);
                order
                    .iter()
                    .copied()
                    .filter(|&i| update.instances[i].progress == Progress::Waiting)
                    .take(room)
                    .collect()
            }
            Rollout::Batches { autopause, .. } => {
                let batches = rollout.batches(order.len());
                let done = batches
                    .iter()
                    .take_while(|(start, end)| {
                        order[*start..*end].iter().all(|&i| update.instances[i].progress.is_done())
                    })
                    .count() as u32;
                if done > update.batches_done {
                    update.batches_done = done;
                    if *autopause && (done as usize) < batches.len() {
                        update.record(
                            update.state.paused(),
                            format!("Paused after batch {done} (autopause_after_batch)"),
                            now_ms,
                        );
                        return false;
                    }
                }
                match batches.get(done as usize) {
                    Some((start, end)) => order[*start..*end]
                        .iter()
                        .copied()
                        .filter(|&i| update.instances[i].progress == Progress::Waiting)
                        .collect(),
                    None => Vec::new(),
                }
            }
        };
        let action = if back { InstanceAction::InstanceRollingBack } else { InstanceAction::InstanceUpdating };
        for &i in &allowed {
            let instance = &mut update.instances[i];
            instance.progress = Progress::Updating;
            instance.touched |= !back;
            instance.stalled_since_ms = now_ms;
            instance.events.push(InstanceEvent { at_ms: now_ms, action, message: String::new() });
        }
        let started = !allowed.is_empty();
        if started {
            self.evaluate_under_way(update, now_ms, effects);
        }
        started
    }

    /// Evaluates one instance against its tasks, acting where it must.
    fn step_instance(
        &mut self,
        driving: &Driving<'_>,
        instance: &mut InstanceUpdate,
        target: Option<&ConfigVersion>,
        effects: &mut Vec<Effect>,
    ) -> Step {
        let Driving { job, update_id, settings, now_ms } = *driving;
        if let Some(failure) = self.attempt_ended(instance) {
            instance.failures += 1;
            instance.stalled_since_ms = now_ms;
            if instance.failures > settings.max_per_shard_failures {
                return Step::Failed(failure);
            }
        }
        // A stop of a task not on an agent ends it at once; then the next step follows.
        for _ in 0..2 {
            let current = self.active_task(job, instance.instance).map(|t| (t.id.clone(), t.state, t.config.clone()));
            match (target, current) {
                (Some(target), Some((task, state, config))) if config.id() == target.id() => {
                    if instance.attempt.as_ref() != Some(&task) {
                        instance.attempt = Some(task.clone());
                    }
                    return self.watch(instance, &task, state, settings, now_ms);
                }
                (target, Some((task, state, config))) => {
                    if is_being_killed(state) {
                        return Step::Wait;
                    }
                    instance.reserved_agent = target
                        .filter(|target| fits_in_slot(&config, target))
                        .and_then(|_| self.tasks.get(&task)?.assignment.as_ref().map(|a| a.agent.clone()));
                    let message = format!("Killed for job update {update_id}");
                    effects.extend(self.transition(&task, TaskState::Killing, &message, now_ms));
                    if self.tasks.get(&task).is_some_and(|t| t.assignment.is_none()) {
                        effects.extend(self.transition(
                            &task,
                            TaskState::Killed,
                            "Killed before it was placed",
                            now_ms,
                        ));
                        continue;
                    }
                    return Step::Wait;
                }
                (Some(target), None) => {
                    let ancestor = self.newest_task(job, instance.instance).map(|t| t.id.clone());
                    let message = Some(format!("Created by job update {update_id}"));
                    let lineage = Lineage { failure_count: 0, ancestor, delay_ms: 0, message };
                    let task = self.add_task(job, target, instance.instance, lineage, now_ms);
                    instance.attempt = Some(task);
                    instance.stalled_since_ms = now_ms;
                    return Step::Wait;
                }
                (None, None) => return Step::Succeeded,
            }
        }
        Step::Wait
    }

    /// A task of the target config: succeeded once RUNNING for `watch_secs`, a failure if it
    /// has not reached RUNNING within the stuck timeout.
    fn watch(
        &self,
        instance: &mut InstanceUpdate,
        task: &TaskId,
        state: TaskState,
        settings: &UpdateConfig,
        now_ms: u64,
    ) -> Step {
        let Some(task) = self.tasks.get(task) else { return Step::Wait };
        match state {
            TaskState::Running => {
                let since =
                    task.events.iter().rev().find(|e| e.state == TaskState::Running).map_or(now_ms, |e| e.at_ms);
                if now_ms >= since + u64::from(settings.watch_secs) * 1000 { Step::Succeeded } else { Step::Wait }
            }
            TaskState::Pending | TaskState::Assigned | TaskState::Starting => {
                let since = task.since_ms().max(instance.stalled_since_ms);
                let timeout = self.config.update_stuck_timeout_ms;
                if now_ms.saturating_sub(since) <= timeout {
                    return Step::Wait;
                }
                instance.failures += 1;
                instance.stalled_since_ms = now_ms;
                if instance.failures > settings.max_per_shard_failures {
                    Step::Failed(format!("{} has been {} for more than {} s", task.id, state, timeout / 1000))
                } else {
                    Step::Wait
                }
            }
            _ => Step::Wait,
        }
    }

    /// If the watched task has ended, forgets it; returns the failure if the end counts
    /// against the config (FAILED, FINISHED, or KILLED unasked; not LOST with its agent, nor
    /// an end after a preemption, drain or restart).
    fn attempt_ended(&self, instance: &mut InstanceUpdate) -> Option<String> {
        let attempt = instance.attempt.as_ref()?;
        let Some(task) = self.tasks.get(attempt) else {
            instance.attempt = None;
            return None;
        };
        if !task.state.is_terminal() {
            return None;
        }
        instance.attempt = None;
        let before = task.events.iter().rev().nth(1).map(|e| e.state);
        let counts = match task.state {
            TaskState::Failed | TaskState::Finished => true,
            TaskState::Killed => !before.is_some_and(is_being_killed),
            _ => false,
        };
        let last = task.events.last().map(|e| e.message.as_str()).unwrap_or_default();
        counts.then(|| format!("{} ended {}: {last}", task.id, task.state))
    }

    /// The newest active run of an instance.
    pub(crate) fn active_task<'a>(&'a self, job: &'a JobKey, instance: u32) -> Option<&'a ScheduledTask> {
        self.instance_tasks(job, instance).filter(|t| t.state.is_active()).max_by_key(|t| t.creation_order())
    }

    /// The newest run of an instance, active or not.
    fn newest_task<'a>(&'a self, job: &'a JobKey, instance: u32) -> Option<&'a ScheduledTask> {
        self.instance_tasks(job, instance).max_by_key(|t| t.creation_order())
    }

    /// Gives every instance under way whose old task is gone a task of its target config, so
    /// that an update stopped now leaves no instance without one.
    pub(super) fn complete_in_flight(&mut self, update: &mut JobUpdate, now_ms: u64) {
        let back = update.state.is_rolling_back();
        for instance in update.instances.iter_mut().filter(|i| i.progress == Progress::Updating) {
            let target = instance.target(back).and_then(|id| self.configs.get(&id).cloned());
            if let Some(target) = target
                && self.active_task(&update.job, instance.instance).is_none()
            {
                let ancestor = self.newest_task(&update.job, instance.instance).map(|t| t.id.clone());
                let message = Some(format!("Created by job update {}", update.id));
                let lineage = Lineage { failure_count: 0, ancestor, delay_ms: 0, message };
                self.add_task(&update.job, &target, instance.instance, lineage, now_ms);
            }
        }
    }

    /// What a finished update leaves: the job record it ends with.
    fn finish(&mut self, update: &JobUpdate, now_ms: u64) {
        if self.active_updates.get(&update.job) == Some(&update.id) {
            self.active_updates.remove(&update.job);
        }
        let record = match update.state {
            UpdateState::RolledForward => Some(update.job_after.clone()),
            UpdateState::RolledBack => Some(update.job_before.clone()),
            _ => None,
        };
        if let Some(record) = record
            && self.jobs.get(&update.job).is_some_and(|current| *current != record)
        {
            self.jobs.insert(update.job.clone(), record);
            let message = format!("update {} {}", update.id, update.state);
            self.record_event(&update.job, now_ms, EventDetail::Job { change: JobChange::Updated, message });
        }
    }

    /// Records the events of `update` from its `seen`th on.
    pub(crate) fn record_update_events(&mut self, update: &JobUpdate, seen: usize) {
        for event in update.events.iter().skip(seen) {
            let detail = EventDetail::Update { update: update.id, state: event.state, message: event.message.clone() };
            self.record_event(&update.job, event.at_ms, detail);
        }
    }

    /// Agents held for replacements waiting to be placed: task to agent.
    pub(crate) fn reservations(&self) -> BTreeMap<TaskId, AgentId> {
        self.active_updates
            .values()
            .filter_map(|id| self.updates.get(id))
            .flat_map(|u| u.instances.iter())
            .filter(|i| i.progress == Progress::Updating)
            .filter_map(|i| Some((i.attempt.clone()?, i.reserved_agent.clone()?)))
            .filter(|(task, _)| self.tasks.get(task).is_some_and(|t| t.state == TaskState::Pending))
            .collect()
    }
}

/// Starts rolling back: the instances rolling forward touched are taken again, in reverse
/// order, towards their previous configs.
pub(super) fn turn_back(update: &mut JobUpdate, message: impl Into<String>, now_ms: u64) {
    for instance in update.instances.iter_mut().filter(|i| i.touched) {
        instance.progress = Progress::Waiting;
        instance.failures = 0;
        instance.attempt = None;
        instance.reserved_agent = None;
        instance.stalled_since_ms = now_ms;
    }
    update.batches_done = 0;
    update.record(UpdateState::RollingBack, message, now_ms);
}

/// Indexes into `update.instances` in the order the current direction takes them: by id
/// rolling forward, touched ones by id descending rolling back.
pub(super) fn processing_order(update: &JobUpdate) -> Vec<usize> {
    let mut order: Vec<usize> = (0..update.instances.len()).collect();
    if update.state.is_rolling_back() {
        order.retain(|&i| update.instances[i].touched);
        order.reverse();
    }
    order
}

/// Whether `new` can take the slot `old` leaves: no more of any resource and no more ports, and
/// the same constraints (Aurora's condition for holding the slot for the replacement).
fn fits_in_slot(old: &ConfigVersion, new: &ConfigVersion) -> bool {
    let (a, b) = (&old.task.resources, &new.task.resources);
    b.cpu_millis() <= a.cpu_millis()
        && b.ram_mb <= a.ram_mb
        && b.disk_mb <= a.disk_mb
        && b.gpu <= a.gpu
        && new.requested_ports().len() <= old.requested_ports().len()
        && old.constraints == new.constraints
}

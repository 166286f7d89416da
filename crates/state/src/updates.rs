//! Rolling updates (`atoll update`), Aurora's job update state machine.
//!
//! An update changes the config of some instances of a service: those whose running config
//! differs from the proposed one, plus instances added or removed by a new instance count
//! (`diff`). Each touched instance is updated by killing its task (KILLING, so it is not
//! rescheduled) and adding one of the new config; when the new config fits in the old task's
//! resources with the same constraints, the replacement is placed back on the same agent
//! first (update affinity). An instance succeeds once its new task has been RUNNING (which is
//! health-gated) for `watch_secs`. A new task that ends (FAILED, FINISHED, or KILLED unasked)
//! counts a failure against the instance, as does one that stays PENDING, ASSIGNED or STARTING
//! past the stuck timeout; a task lost with its agent, preempted or drained does not, and is
//! followed to its rescheduled run. An instance with more than `max_per_shard_failures`
//! failures has failed; more than `max_total_failures` failed instances fail the update, which
//! then rolls back (`rollback_on_failure`) by restoring each touched instance's previous
//! config in reverse order, or ends FAILED.
//!
//! Instances are taken in id order (the reverse when rolling back) by the update's strategy:
//! a queue keeps `batch_size` instances in flight; batches (`wait_for_batch_completion`,
//! `BatchUpdateStrategy`, `VariableBatchUpdateStrategy`) finish each group before the next,
//! optionally pausing after each. Pausing or waiting for a pulse stops new instances from
//! starting; instances already under way are finished, so none is left without a task.
//!
//! The update is durable: its record holds each instance's previous and new config version,
//! progress, failures, the task it watches and the agent it holds, and `drive` (on every
//! housekeeping tick, and after every status report for the job) works only from the record
//! and the tasks, so a scheduler restarted in the middle carries on where it stood.

mod drive;
mod plan;

use std::collections::BTreeSet;

use atoll_model::config::{UpdateConfig, UpdateStrategy};
pub use atoll_model::update::{ChangeKind, InstanceAction, Progress, UnknownUpdateState, UpdateState};
use atoll_model::{
    AgentId, ConfigId, ConfigVersion, JobKey, JobKeyPrefix, JobSpec, ResourceAggregate, TaskConfig, TaskId,
};
use serde::{Deserialize, Serialize};

use crate::{ClusterState, Effect, Outcome, StateError};

pub use plan::{PlannedInstance, UpdatePlan};

/// One step of an instance in an update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceEvent {
    pub at_ms: u64,
    pub action: InstanceAction,
    pub message: String,
}

/// One instance an update changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceUpdate {
    pub instance: u32,
    /// The config it ran before the update; None if the update adds it.
    pub initial: Option<ConfigId>,
    /// The config the update gives it; None if the update removes it.
    pub desired: Option<ConfigId>,
    pub progress: Progress,
    /// Whether rolling forward started on it, so that a rollback restores it.
    pub touched: bool,
    /// Failures seen in the current direction.
    pub failures: u32,
    /// The task of the target config being watched.
    pub attempt: Option<TaskId>,
    /// From when a task that has not reached RUNNING counts as stuck.
    pub stalled_since_ms: u64,
    /// The agent the replaced task ran on, held for its replacement.
    pub reserved_agent: Option<AgentId>,
    pub events: Vec<InstanceEvent>,
}

impl InstanceUpdate {
    /// The config the instance is headed for in the given direction.
    pub fn target(&self, rolling_back: bool) -> Option<ConfigId> {
        if rolling_back { self.initial } else { self.desired }
    }
}

/// A change of an update's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateEvent {
    pub at_ms: u64,
    pub state: UpdateState,
    pub message: String,
}

/// An update of one job, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobUpdate {
    /// Unique in the cluster, from a persisted sequence.
    pub id: u64,
    pub job: JobKey,
    pub state: UpdateState,
    /// How it rolls: the proposed job's `update_config`.
    pub settings: UpdateConfig,
    /// The job record before the update, which a rollback restores.
    pub job_before: JobSpec,
    /// The job record a finished roll-forward leaves.
    pub job_after: JobSpec,
    /// The instances it changes, in id order.
    pub instances: Vec<InstanceUpdate>,
    /// The `-m` message given at start.
    pub message: Option<String>,
    pub events: Vec<UpdateEvent>,
    pub last_pulse_ms: Option<u64>,
    /// Batches finished in the current direction, for `autopause_after_batch`.
    pub batches_done: u32,
}

impl JobUpdate {
    pub fn created_ms(&self) -> u64 {
        self.events.first().map_or(0, |e| e.at_ms)
    }

    pub fn updated_ms(&self) -> u64 {
        let instance_events = self.instances.iter().filter_map(|i| i.events.last()).map(|e| e.at_ms);
        self.events.iter().map(|e| e.at_ms).chain(instance_events).max().unwrap_or(0)
    }

    /// Every config version the record refers to.
    pub fn config_ids(&self) -> impl Iterator<Item = ConfigId> + '_ {
        self.instances.iter().flat_map(|i| i.initial.into_iter().chain(i.desired))
    }

    fn record(&mut self, state: UpdateState, message: impl Into<String>, now_ms: u64) {
        self.state = state;
        self.events.push(UpdateEvent { at_ms: now_ms, state, message: message.into() });
    }

    /// The batch under way (counted from 1) and how many there are, in the current direction.
    pub fn batch_progress(&self) -> (u32, u32) {
        let order = drive::processing_order(self);
        let rollout = Rollout::of(&self.settings);
        let batches = match &rollout {
            Rollout::Queue(size) => order.len().div_ceil((*size).max(1) as usize),
            Rollout::Batches { .. } => rollout.batches(order.len()).len(),
        };
        let done = match &rollout {
            Rollout::Queue(size) => {
                let done = order.iter().filter(|&&i| self.instances[i].progress.is_done()).count();
                done / (*size).max(1) as usize
            }
            Rollout::Batches { .. } => self.batches_done as usize,
        };
        ((done + 1).min(batches.max(1)) as u32, batches as u32)
    }

    fn pulse_interval_ms(&self) -> Option<u64> {
        self.settings.pulse_interval_secs.map(|secs| u64::from(secs) * 1000)
    }
}

/// How instances are taken on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rollout {
    /// At most this many in flight at once.
    Queue(u32),
    /// Groups of these sizes (the last repeats), each finished before the next starts.
    Batches { sizes: Vec<u32>, autopause: bool },
}

impl Rollout {
    pub(crate) fn of(settings: &UpdateConfig) -> Rollout {
        match &settings.update_strategy {
            Some(UpdateStrategy::Queue { batch_size }) => Rollout::Queue(*batch_size),
            Some(UpdateStrategy::Batch { batch_size, autopause_after_batch }) => {
                Rollout::Batches { sizes: vec![*batch_size], autopause: *autopause_after_batch }
            }
            Some(UpdateStrategy::VariableBatch { batch_sizes, autopause_after_batch }) => {
                Rollout::Batches { sizes: batch_sizes.clone(), autopause: *autopause_after_batch }
            }
            None if settings.wait_for_batch_completion => {
                Rollout::Batches { sizes: vec![settings.batch_size], autopause: false }
            }
            None => Rollout::Queue(settings.batch_size),
        }
    }

    /// The positions `[start, end)` of each batch over `count` instances.
    pub(crate) fn batches(&self, count: usize) -> Vec<(usize, usize)> {
        let Rollout::Batches { sizes, .. } = self else { return vec![(0, count)] };
        let mut batches = Vec::new();
        let mut start = 0;
        while start < count {
            let size = sizes.get(batches.len()).or(sizes.last()).copied().unwrap_or(1).max(1) as usize;
            batches.push((start, (start + size).min(count)));
            start += size;
        }
        batches
    }
}

/// One instance compared with a proposed job.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceChange {
    pub instance: u32,
    pub kind: ChangeKind,
    /// The config of its active task, if it has one.
    pub current: Option<ConfigVersion>,
}

/// What `start_update` did.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateStart {
    /// Every instance in scope already runs the proposed config.
    Unchanged,
    Started {
        id: u64,
        instances: Vec<u32>,
    },
}

/// An action on an update in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateAction {
    Pause,
    Resume,
    Abort,
    Rollback,
    Pulse,
}

impl UpdateAction {
    fn verb(self) -> &'static str {
        match self {
            UpdateAction::Pause => "paused",
            UpdateAction::Resume => "resumed",
            UpdateAction::Abort => "aborted",
            UpdateAction::Rollback => "rolled back",
            UpdateAction::Pulse => "pulsed",
        }
    }
}

impl ClusterState {
    /// Compares each instance in `scope` (all instances of the job and of `spec` without one)
    /// with `spec`: which would be added, removed, updated, or left as they are.
    pub fn diff(&self, spec: &JobSpec, scope: Option<&BTreeSet<u32>>) -> Result<Vec<InstanceChange>, StateError> {
        let job = self.jobs.get(&spec.key).ok_or_else(|| StateError::JobNotFound(Box::new(spec.key.clone())))?;
        let everything: BTreeSet<u32> = (0..job.instances.max(spec.instances)).collect();
        let scope = scope.unwrap_or(&everything);
        Ok(scope
            .iter()
            .map(|&instance| {
                let current = self.active_task(&spec.key, instance).map(|t| t.config.clone());
                let wanted = instance < spec.instances;
                let kind = match (&current, wanted) {
                    (None, true) => ChangeKind::Add,
                    (Some(_), false) => ChangeKind::Remove,
                    (Some(running), true) if running.config() != &spec.config => ChangeKind::Update,
                    _ => ChangeKind::Unchanged,
                };
                InstanceChange { instance, kind, current }
            })
            .collect())
    }

    /// Starts updating the job `spec` names to `spec`: the instances in `scope` (all without
    /// one) that `diff` finds changed. Refused for a job that is not a service, or that is
    /// being updated or restarted, or if it would take the role past its production quota.
    pub fn start_update(
        &mut self,
        spec: JobSpec,
        scope: Option<&BTreeSet<u32>>,
        message: Option<String>,
        now_ms: u64,
    ) -> Result<(UpdateStart, Outcome), StateError> {
        let key = spec.key.clone();
        let job = self.jobs.get(&key).ok_or_else(|| StateError::JobNotFound(Box::new(key.clone())))?.clone();
        if spec.key.cluster != self.config.cluster {
            return Err(StateError::WrongCluster { job: Box::new(key), cluster: self.config.cluster.clone() });
        }
        let mut problems = spec.validate();
        problems.extend(crate::lifecycle::not_yet_supported(&spec));
        if spec.update_config.sla_aware {
            problems.push(
                "update_config sla_aware is not supported yet: updates do not consult SLA policies; remove sla_aware to update".to_owned(),
            );
        }
        if !problems.is_empty() {
            return Err(StateError::InvalidJob { job: Box::new(key), problems });
        }
        if !spec.config.service || !job.config.service {
            return Err(StateError::NotAService(Box::new(key)));
        }
        if let Some(active) = self.active_update(&key) {
            return Err(StateError::UpdateInProgress { job: Box::new(key), id: active.id, state: active.state });
        }
        if self.restarts.contains_key(&key) {
            return Err(StateError::RestartInProgress(Box::new(key)));
        }
        if let Some(scope) = scope
            && scope.is_empty()
        {
            return Err(StateError::NoInstancesGiven);
        }
        let changes = self.diff(&spec, scope)?;
        let touched: Vec<&InstanceChange> = changes.iter().filter(|c| c.kind != ChangeKind::Unchanged).collect();
        if touched.is_empty() {
            return Ok((UpdateStart::Unchanged, self.outcome(Vec::new())));
        }
        self.check_update_quota(&key, &spec.config, &touched)?;
        let version = self.intern(spec.config.clone());
        let instances: Vec<InstanceUpdate> = touched
            .iter()
            .map(|change| InstanceUpdate {
                instance: change.instance,
                initial: change.current.as_ref().map(ConfigVersion::id),
                desired: (change.kind != ChangeKind::Remove).then(|| version.id()),
                progress: Progress::Waiting,
                touched: false,
                failures: 0,
                attempt: None,
                stalled_since_ms: now_ms,
                reserved_agent: None,
                events: Vec::new(),
            })
            .collect();
        // A partial update (canary) leaves the job record as it was, but for instances it adds.
        let mut job_after = if scope.is_none() { spec.clone() } else { job.clone() };
        if scope.is_some() {
            let added_up_to = instances.iter().filter(|i| i.desired.is_some()).map(|i| i.instance + 1).max();
            job_after.instances = job.instances.max(added_up_to.unwrap_or(0));
        }
        // While it runs, the job spans every instance either side has.
        let mut during = job.clone();
        during.instances = job.instances.max(job_after.instances);
        self.jobs.insert(key.clone(), during);
        self.next_update_id += 1;
        let id = self.next_update_id;
        let pulsed = spec.update_config.pulse_interval_secs.is_some();
        let mut update = JobUpdate {
            id,
            job: key.clone(),
            state: UpdateState::RollingForward,
            settings: spec.update_config.clone(),
            job_before: job,
            job_after,
            instances,
            message,
            events: Vec::new(),
            last_pulse_ms: None,
            batches_done: 0,
        };
        if pulsed {
            update.record(UpdateState::RollForwardAwaitingPulse, "Waiting for the first pulse", now_ms);
        } else {
            update.record(UpdateState::RollingForward, "Started", now_ms);
        }
        let started: Vec<u32> = update.instances.iter().map(|i| i.instance).collect();
        self.record_update_events(&update, 0);
        self.active_updates.insert(key.clone(), id);
        self.updates.insert(id, update);
        let effects = self.drive_update(id, now_ms);
        Ok((UpdateStart::Started { id, instances: started }, self.outcome(effects)))
    }

    /// Pauses, resumes, aborts, rolls back or pulses the job's active update; `message` says
    /// why, for the update's history.
    pub fn act_on_update(
        &mut self,
        job: &JobKey,
        action: UpdateAction,
        message: Option<&str>,
        now_ms: u64,
    ) -> Result<(UpdateState, Outcome), StateError> {
        if !self.jobs.contains_key(job) {
            return Err(StateError::JobNotFound(Box::new(job.clone())));
        }
        let id = *self.active_updates.get(job).ok_or_else(|| StateError::NoActiveUpdate(Box::new(job.clone())))?;
        let mut update = self.updates.lend(&id).expect("active updates are kept");
        let seen = update.events.len();
        let acted = self.act(&mut update, action, message, now_ms);
        self.record_update_events(&update, seen);
        self.updates.give_back(id, update);
        acted?;
        let effects = self.drive_update(id, now_ms);
        let state = self.updates.get(&id).map_or(UpdateState::Error, |u| u.state);
        Ok((state, self.outcome(effects)))
    }

    /// Applies `action` to `update`, or refuses it in the update's current state.
    fn act(
        &mut self,
        update: &mut JobUpdate,
        action: UpdateAction,
        message: Option<&str>,
        now_ms: u64,
    ) -> Result<(), StateError> {
        let (job, id, state) = (update.job.clone(), update.id, update.state);
        let why = |what: &str| match message {
            Some(message) => format!("{what}: {message}"),
            None => what.to_owned(),
        };
        let refused = || StateError::UpdateRefuses { job: Box::new(job.clone()), id, state, action: action.verb() };
        match action {
            UpdateAction::Pause if state.is_paused() => return Err(refused()),
            UpdateAction::Pause => update.record(state.paused(), why("Paused by request"), now_ms),
            UpdateAction::Resume if !state.is_paused() => return Err(refused()),
            UpdateAction::Resume => {
                let next = match update.pulse_interval_ms() {
                    Some(interval) if update.last_pulse_ms.is_none_or(|at| now_ms > at + interval) => {
                        state.awaiting_pulse()
                    }
                    _ => state.rolling(),
                };
                update.record(next, why("Resumed by request"), now_ms);
            }
            UpdateAction::Abort => {
                self.complete_in_flight(update, now_ms);
                update.record(UpdateState::Aborted, why("Aborted by request"), now_ms);
            }
            UpdateAction::Rollback if state.is_rolling_back() => return Err(refused()),
            UpdateAction::Rollback => drive::turn_back(update, why("Rolled back by request"), now_ms),
            UpdateAction::Pulse => {
                if update.pulse_interval_ms().is_none() {
                    return Err(StateError::NotPulsed { job: Box::new(job.clone()), id });
                }
                update.last_pulse_ms = Some(now_ms);
                if state.is_awaiting_pulse() {
                    update.record(state.rolling(), why("Pulse received"), now_ms);
                }
            }
        }
        Ok(())
    }

    /// The job's update in progress, if any.
    pub fn active_update(&self, job: &JobKey) -> Option<&JobUpdate> {
        self.active_updates.get(job).and_then(|id| self.updates.get(id))
    }

    pub fn job_update(&self, id: u64) -> Option<&JobUpdate> {
        self.updates.get(&id)
    }

    /// The updates kept of jobs under `prefix` (of the one job `name`, when given), newest first.
    pub fn list_updates(&self, prefix: &JobKeyPrefix, name: Option<&str>) -> Vec<&JobUpdate> {
        self.updates.values().rev().filter(|u| u.job.matches(prefix) && name.is_none_or(|n| u.job.name == n)).collect()
    }

    /// The newest update of `job`, kept or active.
    pub fn latest_update(&self, job: &JobKey) -> Option<&JobUpdate> {
        self.updates.values().rev().find(|u| u.job == *job)
    }

    /// Config ids every kept update refers to.
    pub(crate) fn update_config_ids(&self) -> BTreeSet<ConfigId> {
        self.updates.values().flat_map(JobUpdate::config_ids).collect()
    }

    /// Moves every active update on; see `drive`.
    pub(crate) fn advance_updates(&mut self, now_ms: u64) -> Vec<Effect> {
        let active: Vec<u64> = self.active_updates.values().copied().collect();
        active.into_iter().flat_map(|id| self.drive_update(id, now_ms)).collect()
    }

    /// Refuses the update if, with each touched instance taking the larger of its old and new
    /// resources while it is replaced, the role's production use would pass its quota.
    fn check_update_quota(
        &self,
        job: &JobKey,
        proposed: &TaskConfig,
        touched: &[&InstanceChange],
    ) -> Result<(), StateError> {
        if !proposed.is_production() || proposed.is_dedicated() {
            return Ok(());
        }
        let usage = self.quota(&job.role);
        let Some(quota) = usage.quota else { return Ok(()) };
        let new = ResourceAggregate::of(&proposed.task.resources, 1);
        let extra =
            touched.iter().filter(|c| c.kind != ChangeKind::Remove).fold(ResourceAggregate::default(), |sum, c| {
                let counted = c.current.as_ref().filter(|old| old.is_production() && !old.is_dedicated());
                let old = counted
                    .map_or_else(ResourceAggregate::default, |old| ResourceAggregate::of(&old.task.resources, 1));
                sum.plus(new.less(old))
            });
        match quota.excess(&usage.production.plus(extra)) {
            Some(details) => Err(StateError::InsufficientQuota(details)),
            None => Ok(()),
        }
    }
}

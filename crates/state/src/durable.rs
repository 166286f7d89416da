//! What the state hands its store and gets back: [`Changes`] after every event, [`Durable`]
//! on start, and [`StoreImage`], what a store holds, kept in memory. A new durable entity is a
//! field in each of these three, a `Tracked` map in [`ClusterState`](crate::ClusterState), and
//! a tree in the sled store.

use std::collections::BTreeMap;

use atoll_model::event::ClusterEvent;
use atoll_model::framework::FrameworkRecord;
use atoll_model::{
    ConfigId, ConfigVersion, JobKey, JobSpec, MaintenanceMode, ResourceAggregate, ScheduledTask, TaskId,
};

use crate::{CronJob, JobUpdate, RestartPlan};

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
    pub cron_put: Vec<CronJob>,
    pub cron_deleted: Vec<JobKey>,
    /// Events recorded, in order.
    pub events_put: Vec<ClusterEvent>,
    /// Events no longer kept, by index.
    pub events_deleted: Vec<u64>,
    pub next_event_index: u64,
    pub frameworks_put: Vec<FrameworkRecord>,
    pub frameworks_deleted: Vec<String>,
    /// How many updates of each framework task were acknowledged.
    pub acknowledged_put: Vec<(TaskId, u32)>,
    pub acknowledged_deleted: Vec<TaskId>,
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
            && self.cron_put.is_empty()
            && self.cron_deleted.is_empty()
            && self.events_put.is_empty()
            && self.events_deleted.is_empty()
            && self.frameworks_put.is_empty()
            && self.frameworks_deleted.is_empty()
            && self.acknowledged_put.is_empty()
            && self.acknowledged_deleted.is_empty()
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
    /// Cron jobs' records; their templates are among `jobs`.
    pub cron: Vec<CronJob>,
    /// The events kept, oldest first.
    pub events: Vec<ClusterEvent>,
    /// The index the next event gets (0 or 1 for a store that never had one).
    pub next_event_index: u64,
    /// Frameworks known; their tasks are among `tasks`.
    pub frameworks: Vec<FrameworkRecord>,
    /// How many updates of each framework task were acknowledged.
    pub acknowledged: Vec<(TaskId, u32)>,
}

/// Everything a store holds, in memory: [`Changes`] applied in order, and the [`Durable`] a
/// scheduler starts from. The in-memory store and the state tests keep their records in one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreImage {
    jobs: BTreeMap<JobKey, JobSpec>,
    configs: BTreeMap<ConfigId, ConfigVersion>,
    tasks: BTreeMap<TaskId, ScheduledTask>,
    next_task_seq: u64,
    host_modes: BTreeMap<String, MaintenanceMode>,
    quotas: BTreeMap<String, ResourceAggregate>,
    restarts: BTreeMap<JobKey, RestartPlan>,
    updates: BTreeMap<u64, JobUpdate>,
    next_update_id: u64,
    cron: BTreeMap<JobKey, CronJob>,
    events: BTreeMap<u64, ClusterEvent>,
    next_event_index: u64,
    frameworks: BTreeMap<String, FrameworkRecord>,
    acknowledged: BTreeMap<TaskId, u32>,
}

impl StoreImage {
    /// Applies one event's changes.
    pub fn apply(&mut self, changes: &Changes) {
        let c = changes;
        put_and_delete(&mut self.jobs, &c.jobs_put, &c.jobs_deleted, |job| (job.key.clone(), job.clone()));
        put_and_delete(&mut self.configs, &c.configs_put, &c.configs_deleted, |v| (v.id(), v.clone()));
        put_and_delete(&mut self.tasks, &c.tasks_put, &c.tasks_deleted, |task| (task.id.clone(), task.clone()));
        // Sequences only grow; an outcome that changed nothing carries none.
        self.next_task_seq = self.next_task_seq.max(c.next_task_seq);
        put_and_delete(&mut self.host_modes, &c.hosts_put, &c.hosts_deleted, Clone::clone);
        put_and_delete(&mut self.quotas, &c.quotas_put, &[], Clone::clone);
        put_and_delete(&mut self.restarts, &c.restarts_put, &c.restarts_deleted, |p| (p.job.clone(), p.clone()));
        put_and_delete(&mut self.updates, &c.updates_put, &c.updates_deleted, |u| (u.id, u.clone()));
        self.next_update_id = self.next_update_id.max(c.next_update_id);
        put_and_delete(&mut self.cron, &c.cron_put, &c.cron_deleted, |r| (r.job.clone(), r.clone()));
        put_and_delete(&mut self.events, &c.events_put, &c.events_deleted, |e| (e.index, e.clone()));
        self.next_event_index = self.next_event_index.max(c.next_event_index);
        put_and_delete(&mut self.frameworks, &c.frameworks_put, &c.frameworks_deleted, |f| (f.id.clone(), f.clone()));
        put_and_delete(&mut self.acknowledged, &c.acknowledged_put, &c.acknowledged_deleted, Clone::clone);
    }

    /// What a scheduler starting from this image gets.
    pub fn durable(&self) -> Durable {
        Durable {
            jobs: self.jobs.values().cloned().collect(),
            configs: self.configs.values().cloned().collect(),
            tasks: self.tasks.values().cloned().collect(),
            next_task_seq: self.next_task_seq,
            host_modes: self.host_modes.clone().into_iter().collect(),
            quotas: self.quotas.clone().into_iter().collect(),
            restarts: self.restarts.values().cloned().collect(),
            updates: self.updates.values().cloned().collect(),
            next_update_id: self.next_update_id,
            cron: self.cron.values().cloned().collect(),
            events: self.events.values().cloned().collect(),
            next_event_index: self.next_event_index,
            frameworks: self.frameworks.values().cloned().collect(),
            acknowledged: self.acknowledged.clone().into_iter().collect(),
        }
    }
}

/// Puts each of `put` under its key, then removes `deleted`.
fn put_and_delete<K: Ord, V, P>(records: &mut BTreeMap<K, V>, put: &[P], deleted: &[K], entry: impl Fn(&P) -> (K, V)) {
    records.extend(put.iter().map(entry));
    for gone in deleted {
        records.remove(gone);
    }
}

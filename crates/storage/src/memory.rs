//! An in-memory [`Store`] for unit tests and the simulator.

use std::collections::BTreeMap;
use std::sync::Mutex;

use atoll_model::{
    ConfigId, ConfigVersion, JobKey, JobSpec, MaintenanceMode, ResourceAggregate, ScheduledTask, TaskId,
};
use atoll_state::{Changes, Durable, JobUpdate, RestartPlan};

use crate::{Store, StoreError};

/// Keeps everything in memory; lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Contents>,
}

#[derive(Debug, Default)]
struct Contents {
    jobs: BTreeMap<JobKey, JobSpec>,
    configs: BTreeMap<ConfigId, ConfigVersion>,
    tasks: BTreeMap<TaskId, ScheduledTask>,
    next_task_seq: u64,
    host_modes: BTreeMap<String, MaintenanceMode>,
    quotas: BTreeMap<String, ResourceAggregate>,
    restarts: BTreeMap<JobKey, RestartPlan>,
    updates: BTreeMap<u64, JobUpdate>,
    next_update_id: u64,
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Durable, StoreError> {
        let inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(Durable {
            jobs: inner.jobs.values().cloned().collect(),
            configs: inner.configs.values().cloned().collect(),
            tasks: inner.tasks.values().cloned().collect(),
            next_task_seq: inner.next_task_seq,
            host_modes: inner.host_modes.clone().into_iter().collect(),
            quotas: inner.quotas.clone().into_iter().collect(),
            restarts: inner.restarts.values().cloned().collect(),
            updates: inner.updates.values().cloned().collect(),
            next_update_id: inner.next_update_id,
        })
    }

    fn commit(&self, changes: &Changes) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for job in &changes.jobs_put {
            inner.jobs.insert(job.key.clone(), job.clone());
        }
        for key in &changes.jobs_deleted {
            inner.jobs.remove(key);
        }
        for version in &changes.configs_put {
            inner.configs.insert(version.id(), version.clone());
        }
        for id in &changes.configs_deleted {
            inner.configs.remove(id);
        }
        for task in &changes.tasks_put {
            inner.tasks.insert(task.id.clone(), task.clone());
        }
        for id in &changes.tasks_deleted {
            inner.tasks.remove(id);
        }
        inner.next_task_seq = changes.next_task_seq;
        inner.host_modes.extend(changes.hosts_put.iter().cloned());
        for host in &changes.hosts_deleted {
            inner.host_modes.remove(host);
        }
        inner.quotas.extend(changes.quotas_put.iter().cloned());
        inner.restarts.extend(changes.restarts_put.iter().map(|r| (r.job.clone(), r.clone())));
        for key in &changes.restarts_deleted {
            inner.restarts.remove(key);
        }
        inner.updates.extend(changes.updates_put.iter().map(|u| (u.id, u.clone())));
        for id in &changes.updates_deleted {
            inner.updates.remove(id);
        }
        inner.next_update_id = changes.next_update_id;
        Ok(())
    }
}

//! Adding instances to a running job (`atoll job add`): the config version of one instance is
//! given to new instance ids after the job's last, within the role's quota.

use atoll_model::event::{EventDetail, JobChange};
use atoll_model::job::MAX_INSTANCES_PER_JOB;
use atoll_model::{JobKey, TaskId};

use crate::lifecycle::Lineage;
use crate::{ClusterState, Outcome, StateError};

impl ClusterState {
    /// Adds `count` instances to `job`, each a PENDING task with the config of `instance`'s
    /// newest run. Returns the new tasks, in instance order.
    pub fn add_instances(
        &mut self,
        job: &JobKey,
        instance: u32,
        count: u32,
        now_ms: u64,
    ) -> Result<(Vec<TaskId>, Outcome), StateError> {
        let mut spec = self.jobs.get(job).cloned().ok_or_else(|| StateError::JobNotFound(Box::new(job.clone())))?;
        if instance >= spec.instances {
            let job = Box::new(job.clone());
            return Err(StateError::NoSuchInstances { job, instances: vec![instance], count: spec.instances });
        }
        if count == 0 {
            return Err(StateError::NothingToAdd);
        }
        if self.is_cron_job(job) {
            return Err(StateError::CronJobInstances(Box::new(job.clone())));
        }
        if let Some(update) = self.active_update(job) {
            return Err(StateError::UpdateInProgress {
                job: Box::new(job.clone()),
                id: update.id,
                state: update.state,
            });
        }
        let total = u64::from(spec.instances) + u64::from(count);
        if total > u64::from(MAX_INSTANCES_PER_JOB) {
            return Err(StateError::TooManyInstances { job: Box::new(job.clone()), count: total });
        }
        let newest = self.instance_tasks(job, instance).max_by_key(|t| t.creation_order()).map(|t| t.config.clone());
        let template = match newest {
            Some(version) => version,
            None => self.intern(spec.config.clone()),
        };
        self.check_quota(job, &template, count)?;
        let first = spec.instances;
        spec.instances += count;
        let message = format!("instances {first}-{} added, from instance {instance}", spec.instances - 1);
        self.record_event(job, now_ms, EventDetail::Job { change: JobChange::InstancesAdded, message });
        let ids =
            (first..spec.instances).map(|new| self.add_task(job, &template, new, Lineage::first(), now_ms)).collect();
        self.jobs.insert(job.clone(), spec);
        Ok((ids, self.outcome(Vec::new())))
    }
}

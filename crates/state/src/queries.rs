//! Read-only views of the state for the API: job summaries, a job's tasks, pending reasons,
//! and the counts metrics are made of.

use std::collections::BTreeMap;

use atoll_model::{JobKey, JobKeyPrefix, JobSpec, MaintenanceMode, ScheduledTask, TaskId, TaskState};

use crate::{ClusterState, PendingReason};

/// One line of `job list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSummary {
    pub key: JobKey,
    pub service: bool,
    pub instances: u32,
    pub pending: u32,
    pub active: u32,
    pub finished: u32,
    pub failed: u32,
    /// A cron job's schedule.
    pub cron_schedule: Option<String>,
}

/// The state counted, for metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Census {
    /// Tasks kept, by job and state.
    pub tasks: BTreeMap<(JobKey, TaskState), u64>,
    /// PENDING tasks the last placement round could not place, by the summary of why.
    pub pending_by_reason: BTreeMap<String, u64>,
    /// Agents registered since the scheduler started.
    pub agents_registered: u64,
    /// Agents known only from their tasks, not heard from since the scheduler started.
    pub agents_awaited: u64,
    /// Hosts in a maintenance mode other than NONE, by mode.
    pub hosts_by_mode: BTreeMap<MaintenanceMode, u64>,
    /// Every framework (the built-in one included), by id.
    pub frameworks: BTreeMap<String, FrameworkCount>,
}

/// What the metrics tell of one framework.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameworkCount {
    pub connected: bool,
    pub active_tasks: u64,
    pub offers_outstanding: u64,
    /// Of the cluster, over its role's weight.
    pub dominant_share: f64,
}

impl ClusterState {
    /// Everything counted, in one pass over tasks and agents.
    pub fn census(&self) -> Census {
        let mut census = Census::default();
        for task in self.tasks.values() {
            *census.tasks.entry((task.job.clone(), task.state)).or_default() += 1;
        }
        for reason in self.pending_reasons.values() {
            *census.pending_by_reason.entry(reason.summary.clone()).or_default() += 1;
        }
        for agent in self.agents.values() {
            if agent.resources.is_some() {
                census.agents_registered += 1;
            } else {
                census.agents_awaited += 1;
            }
        }
        for mode in self.host_modes.values() {
            *census.hosts_by_mode.entry(*mode).or_default() += 1;
        }
        for view in self.frameworks() {
            let count = FrameworkCount {
                connected: view.connected,
                active_tasks: view.active_tasks as u64,
                offers_outstanding: view.offers.len() as u64,
                dominant_share: view.dominant_share,
            };
            census.frameworks.insert(view.id, count);
        }
        census
    }

    /// PENDING tasks the last placement round could not place.
    pub fn unplaced_count(&self) -> usize {
        self.pending_reasons.len()
    }

    pub fn job(&self, key: &JobKey) -> Option<&JobSpec> {
        self.jobs.get(key)
    }

    /// Summaries of the jobs under `prefix`, in key order: each instance counted once, by the
    /// state of its newest run.
    pub fn list_jobs(&self, prefix: &JobKeyPrefix) -> Vec<JobSummary> {
        self.jobs
            .values()
            .filter(|j| j.key.matches(prefix))
            .map(|job| {
                let mut summary = JobSummary {
                    key: job.key.clone(),
                    service: job.config.service,
                    instances: job.instances,
                    pending: 0,
                    active: 0,
                    finished: 0,
                    failed: 0,
                    cron_schedule: job.cron_schedule.clone(),
                };
                for task in self.job_tasks(&job.key, false) {
                    match task.state {
                        TaskState::Pending | TaskState::Throttled => summary.pending += 1,
                        TaskState::Finished => summary.finished += 1,
                        TaskState::Failed | TaskState::Lost => summary.failed += 1,
                        s if s.is_active() => summary.active += 1,
                        _ => {}
                    }
                }
                summary
            })
            .collect()
    }

    /// Whether the scheduler knows `key` as a job or from tasks it still keeps.
    pub fn knows_job(&self, key: &JobKey) -> bool {
        self.jobs.contains_key(key) || !self.job_tasks(key, true).is_empty()
    }

    /// A job's tasks: with `include_history`, every run kept; otherwise the newest run of each
    /// instance. Ordered by instance, newest run first.
    pub fn job_tasks(&self, key: &JobKey, include_history: bool) -> Vec<&ScheduledTask> {
        // Task ids start with ROLE-ENV-NAME-: a range of the map, narrowed to the job.
        let prefix = TaskId(TaskId::job_prefix(key));
        let mut tasks: Vec<&ScheduledTask> = self
            .tasks
            .range(prefix.clone()..)
            .take_while(|(id, _)| id.0.starts_with(&prefix.0))
            .map(|(_, task)| task)
            .filter(|t| t.job == *key)
            .collect();
        tasks.sort_by(|a, b| a.instance.cmp(&b.instance).then(b.creation_order().cmp(&a.creation_order())));
        if !include_history {
            tasks.dedup_by_key(|t| t.instance);
        }
        tasks
    }

    /// Why a PENDING task has not been placed, as of the last placement round, in Aurora's
    /// words ("Insufficient: CPU", "Limit not satisfied: host").
    pub fn pending_reason(&self, task: &TaskId) -> Option<&str> {
        self.pending_reasons.get(task).map(|r| r.summary.as_str())
    }

    /// Why a PENDING task has not been placed, in full: the summary and every veto with the
    /// number of hosts it excluded and a few of their names.
    pub fn why_pending(&self, task: &TaskId) -> Option<&PendingReason> {
        self.pending_reasons.get(task).map(|r| &**r)
    }

    /// Every run kept of one instance of a job, found by the prefix its task ids share.
    pub(crate) fn instance_tasks<'a>(
        &'a self,
        job: &'a JobKey,
        instance: u32,
    ) -> impl Iterator<Item = &'a ScheduledTask> + 'a {
        let prefix = TaskId::new(job, instance, "");
        self.tasks
            .range(prefix.clone()..)
            .take_while(move |(id, _)| id.0.starts_with(&prefix.0))
            .map(|(_, task)| task)
            .filter(move |task| task.job == *job && task.instance == instance)
    }
}

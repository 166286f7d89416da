//! The cluster's event stream: every task state change, job change, update and cron event, in
//! the order the scheduler made them, each with an index one greater than the one before (Nomad's
//! event stream). Indices survive restarts, so a consumer resumes where it stopped.

use serde::{Deserialize, Serialize};

use crate::cron::CronRunState;
use crate::key::{JobKey, JobKeyPrefix};
use crate::task::{TaskId, TaskState};
use crate::update::UpdateState;

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// Its place in the stream: 1 for the first event a scheduler's data directory saw.
    pub index: u64,
    pub at_ms: u64,
    /// The job it is about.
    pub job: JobKey,
    pub detail: EventDetail,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventDetail {
    /// A task reached `state` from `previous` (INIT for a new task).
    Task { task: TaskId, instance: u32, previous: TaskState, state: TaskState, message: String, host: Option<String> },
    /// The job itself changed.
    Job { change: JobChange, message: String },
    /// An update of the job reached `state`.
    Update { update: u64, state: UpdateState, message: String },
    /// A run of the cron job reached `state`.
    Cron { state: CronRunState, message: String },
}

/// How a job changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobChange {
    Created,
    /// Every instance was killed and the job removed.
    Killed,
    /// An update's roll-forward (or rollback) left it a new config or instance count.
    Updated,
    InstancesAdded,
    /// Scheduled as a cron job, or its schedule replaced.
    CronScheduled,
    CronDescheduled,
}

/// The kinds of event, for choosing among them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    Task,
    Job,
    Update,
    Cron,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [EventKind::Task, EventKind::Job, EventKind::Update, EventKind::Cron];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Task => "task",
            EventKind::Job => "job",
            EventKind::Update => "update",
            EventKind::Cron => "cron",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;

    fn from_str(text: &str) -> Result<EventKind, String> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("'{text}' is not a kind of event; the kinds are task, job, update and cron"))
    }
}

impl JobChange {
    /// Every change, for reading names back.
    pub const ALL: [JobChange; 6] = [
        JobChange::Created,
        JobChange::Killed,
        JobChange::Updated,
        JobChange::InstancesAdded,
        JobChange::CronScheduled,
        JobChange::CronDescheduled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JobChange::Created => "CREATED",
            JobChange::Killed => "KILLED",
            JobChange::Updated => "UPDATED",
            JobChange::InstancesAdded => "INSTANCES_ADDED",
            JobChange::CronScheduled => "CRON_SCHEDULED",
            JobChange::CronDescheduled => "CRON_DESCHEDULED",
        }
    }
}

impl ClusterEvent {
    pub fn kind(&self) -> EventKind {
        match self.detail {
            EventDetail::Task { .. } => EventKind::Task,
            EventDetail::Job { .. } => EventKind::Job,
            EventDetail::Update { .. } => EventKind::Update,
            EventDetail::Cron { .. } => EventKind::Cron,
        }
    }
}

/// Which events a consumer wants: of jobs under a prefix (and of one name, if given), of some
/// kinds (none: every kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFilter {
    pub jobs: JobKeyPrefix,
    pub name: Option<String>,
    pub kinds: Vec<EventKind>,
}

impl EventFilter {
    /// Every event of the jobs of `cluster`.
    pub fn cluster(cluster: &str) -> EventFilter {
        let jobs = JobKeyPrefix { cluster: cluster.to_owned(), role: None, environment: None };
        EventFilter { jobs, name: None, kinds: Vec::new() }
    }

    /// The events of a scope: a job key, or a cluster, role or environment prefix.
    pub fn scope(text: &str) -> Result<EventFilter, crate::key::JobKeyError> {
        if text.split('/').count() == 4 {
            return Ok(EventFilter::job(&text.parse()?));
        }
        Ok(EventFilter { jobs: text.parse()?, name: None, kinds: Vec::new() })
    }

    /// Every event of `job`.
    pub fn job(job: &JobKey) -> EventFilter {
        let jobs = JobKeyPrefix {
            cluster: job.cluster.clone(),
            role: Some(job.role.clone()),
            environment: Some(job.environment.clone()),
        };
        EventFilter { jobs, name: Some(job.name.clone()), kinds: Vec::new() }
    }

    pub fn matches(&self, event: &ClusterEvent) -> bool {
        event.job.matches(&self.jobs)
            && self.name.as_ref().is_none_or(|name| *name == event.job.name)
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(job: &str, detail: EventDetail) -> ClusterEvent {
        ClusterEvent { index: 1, at_ms: 0, job: job.parse().expect("a job key"), detail }
    }

    #[test]
    fn a_filter_takes_the_jobs_under_its_prefix_of_the_kinds_it_names() {
        let created = event(
            "devcluster/www-data/prod/web",
            EventDetail::Job { change: JobChange::Created, message: String::new() },
        );
        let other = event(
            "devcluster/billing/prod/web",
            EventDetail::Job { change: JobChange::Created, message: String::new() },
        );
        let role: JobKeyPrefix = "devcluster/www-data".parse().expect("a prefix");
        let every_kind = EventFilter { jobs: role.clone(), name: None, kinds: Vec::new() };
        assert!(every_kind.matches(&created) && !every_kind.matches(&other));
        let tasks_only = EventFilter { jobs: role, name: None, kinds: vec![EventKind::Task] };
        assert!(!tasks_only.matches(&created));
        assert_eq!(created.kind(), EventKind::Job);
        let web = EventFilter::job(&created.job);
        assert!(web.matches(&created) && !web.matches(&other));
        let mut api = web.clone();
        api.name = Some("api".into());
        assert!(!api.matches(&created));
        assert!(EventFilter::cluster("devcluster").matches(&other));
        assert_eq!(EventFilter::scope("devcluster/www-data/prod/web").unwrap(), EventFilter::job(&created.job));
        assert_eq!(EventFilter::scope("devcluster/www-data").unwrap().jobs.role.as_deref(), Some("www-data"));
        assert!(EventFilter::scope("devcluster/a/b/c/d").is_err());
    }

    #[test]
    fn kinds_are_read_by_name_and_a_wrong_one_lists_them() {
        assert_eq!("Update".parse::<EventKind>(), Ok(EventKind::Update));
        assert_eq!(
            "tasks".parse::<EventKind>(),
            Err("'tasks' is not a kind of event; the kinds are task, job, update and cron".to_owned())
        );
    }
}

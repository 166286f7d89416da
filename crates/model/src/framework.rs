//! Frameworks: other schedulers that share the cluster through offers, and what the scheduler
//! keeps of each. A framework's tasks are Atoll tasks of a job key of their own,
//! `CLUSTER/ROLE/framework/FRAMEWORK_ID` (no Aurora job may use the environment `framework`),
//! numbered as instances in the order they were launched; the task's own id, the framework's
//! name for it, ends the Atoll task id. How many of each task's status updates its framework
//! acknowledged is kept beside, per task (`atoll_state`'s `acknowledged`), so an
//! acknowledgement writes one small record, not the framework's.

use serde::{Deserialize, Serialize};

use crate::{JobKey, TaskId};

/// The environment of every framework's job key.
pub const FRAMEWORK_ENVIRONMENT: &str = "framework";

/// Atoll's own job scheduler, as the allocator knows it.
pub const BUILTIN_FRAMEWORK: &str = "atoll-jobs";

/// The allocator's role of Atoll's own job scheduler.
pub const BUILTIN_ROLE: &str = "jobs";

/// How long a framework's tasks wait for it to subscribe again when none is given: a week
/// (Mesos' default of none kills every task at the first disconnect).
pub const DEFAULT_FAILOVER_TIMEOUT_MS: u64 = 7 * 24 * 3600 * 1000;

/// The longest names allowed.
const MAX_NAME_CHARS: usize = 64;
const MAX_TASK_ID_CHARS: usize = 100;

/// A framework the scheduler knows: durable, so its tasks stay its across scheduler restarts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Who subscribed it first.
    pub principal: String,
    pub failover_timeout_ms: u64,
    pub registered_ms: u64,
    /// The instance number its next task gets.
    pub next_instance: u32,
    /// When its last subscription's stream ended, while it is away; its failover timeout counts
    /// from here, scheduler restarts included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnected_ms: Option<u64>,
}

impl FrameworkRecord {
    /// The job key its tasks have in `cluster`.
    pub fn job_key(&self, cluster: &str) -> JobKey {
        JobKey {
            cluster: cluster.to_owned(),
            role: self.role.clone(),
            environment: FRAMEWORK_ENVIRONMENT.to_owned(),
            name: self.id.clone(),
        }
    }
}

/// Whether `job` is a framework's (whose id is its name).
pub fn is_framework_job(job: &JobKey) -> bool {
    job.environment == FRAMEWORK_ENVIRONMENT
}

/// The framework's own id of one of its tasks, from Atoll's.
pub fn framework_task_id(task: &TaskId, job: &JobKey, instance: u32) -> String {
    let prefix = TaskId::new(job, instance, "").0;
    task.0.strip_prefix(&prefix).unwrap_or(&task.0).to_owned()
}

/// Why a framework's name or a task id it gave is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{value}': {reason}")]
pub struct FrameworkNameError {
    pub what: &'static str,
    pub value: String,
    pub reason: String,
}

/// A framework's name: 1 to 64 letters, digits, `-` and `_`.
pub fn check_framework_name(name: &str) -> Result<(), FrameworkNameError> {
    check_word("framework name", name, MAX_NAME_CHARS, false)
}

/// A task id a framework gives: 1 to 100 letters, digits, `.`, `-` and `_`.
pub fn check_framework_task_id(id: &str) -> Result<(), FrameworkNameError> {
    check_word("task id", id, MAX_TASK_ID_CHARS, true)
}

fn check_word(what: &'static str, value: &str, max: usize, dots: bool) -> Result<(), FrameworkNameError> {
    let refuse = |reason: String| FrameworkNameError { what, value: value.chars().take(120).collect(), reason };
    if value.is_empty() {
        return Err(refuse("it is empty".to_owned()));
    }
    if value.chars().count() > max {
        return Err(refuse(format!("it is longer than {max} characters")));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (dots && c == '.');
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        let set = if dots { "letters, digits, '.', '-' and '_'" } else { "letters, digits, '-' and '_'" };
        return Err(refuse(format!("it contains {bad:?}; use {set}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framework_task_id_is_read_back_from_atolls() {
        let record = FrameworkRecord {
            id: "fanout-1a2b".into(),
            name: "fanout".into(),
            role: "www-data".into(),
            principal: "alice".into(),
            failover_timeout_ms: 1,
            registered_ms: 0,
            next_instance: 0,
            disconnected_ms: None,
        };
        let job = record.job_key("devcluster");
        assert!(is_framework_job(&job));
        assert_eq!(job.to_string(), "devcluster/www-data/framework/fanout-1a2b");
        let atoll = TaskId::new(&job, 7, "shard-3.retry-1");
        assert_eq!(atoll.0, "www-data-framework-fanout-1a2b-7-shard-3.retry-1");
        assert_eq!(framework_task_id(&atoll, &job, 7), "shard-3.retry-1");
    }

    #[test]
    fn names_and_task_ids_are_words() {
        assert!(check_framework_name("batch_fanout-2").is_ok());
        let dotted = check_framework_name("a.b").unwrap_err();
        assert_eq!(
            dotted.to_string(),
            "invalid framework name 'a.b': it contains '.'; use letters, digits, '-' and '_'"
        );
        assert!(check_framework_task_id("shard-1.attempt-2").is_ok());
        assert!(check_framework_task_id("").unwrap_err().to_string().contains("it is empty"));
        assert!(check_framework_task_id(&"x".repeat(101)).unwrap_err().to_string().contains("longer than 100"));
        assert!(check_framework_task_id("a/b").unwrap_err().to_string().contains("contains '/'"));
    }
}

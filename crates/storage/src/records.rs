//! The stored form of each record, with its format version, and the readers of older formats.
//!
//! Every value is written as `{"format": N, "record": …}`. Format 1 is what schema 1 and 2 wrote:
//! the bare record, with no envelope. Each kind of record keeps its own numbering:
//! - jobs, hosts, quotas, restarts: format 2 is format 1 in the envelope (the shapes did not
//!   change);
//! - tasks: format 1 carried the whole task spec, its requested ports and priority, and the rest
//!   of its config was read from its job at launch; format 2 names its config version
//!   ([`TaskRecord::config`]), stored in the `configs` tree;
//! - configs and updates: new in schema 3, format 2; cron jobs: new in schema 4, format 2;
//!   events: new in schema 5, format 2; frameworks and acknowledgements (a task's count of
//!   acknowledged updates): new in schema 6, format 2.
//!
//! A record in a format newer than this build knows is refused with its key, never guessed at.

use std::collections::BTreeMap;

use atoll_model::{
    Assignment, ConfigId, ConfigVersion, JobKey, JobSpec, ScheduledTask, TaskConfig, TaskEvent, TaskId, TaskSpec,
    TaskState,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format this build writes, for every kind of record.
pub(crate) const FORMAT: u32 = 2;

/// Why a stored value could not be read.
#[derive(Debug)]
pub(crate) enum Unreadable {
    /// Written by a newer Atoll.
    Newer(u32),
    Malformed(String),
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    format: u32,
    record: &'a T,
}

/// `record` in the current format.
pub(crate) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Envelope { format: FORMAT, record })
}

/// The format of a stored value and the record inside it: an envelope, or a bare format-1 record.
fn open(bytes: &[u8]) -> Result<(u32, Value), Unreadable> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Unreadable::Malformed(e.to_string()))?;
    if let Value::Object(map) = &value
        && map.len() == 2
        && let (Some(format), Some(record)) = (map.get("format"), map.get("record"))
    {
        // Formats count from 1: a 0 was never written, and is no newer format either.
        let format = format
            .as_u64()
            .and_then(|f| u32::try_from(f).ok())
            .filter(|f| *f >= 1)
            .ok_or_else(|| Unreadable::Malformed(format!("its format {format} is not a whole number from 1 up")))?;
        return Ok((format, record.clone()));
    }
    Ok((1, value))
}

fn parse<T: DeserializeOwned>(value: Value) -> Result<T, Unreadable> {
    serde_json::from_value(value).map_err(|e| Unreadable::Malformed(e.to_string()))
}

/// A record whose shape has not changed since format 1.
pub(crate) fn decode_plain<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Unreadable> {
    match open(bytes)? {
        (format, record) if format <= FORMAT => parse(record),
        (newer, _) => Err(Unreadable::Newer(newer)),
    }
}

/// A task as stored since format 2: everything but its config, which it names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TaskRecord {
    pub id: TaskId,
    pub job: JobKey,
    pub instance: u32,
    pub config: ConfigId,
    pub state: TaskState,
    pub assignment: Option<Assignment>,
    pub sandbox: Option<String>,
    pub exit_code: Option<i32>,
    pub failure_count: u32,
    pub ancestor: Option<TaskId>,
    pub not_before_ms: u64,
    pub events: Vec<TaskEvent>,
}

impl TaskRecord {
    pub(crate) fn of(task: &ScheduledTask) -> TaskRecord {
        TaskRecord {
            id: task.id.clone(),
            job: task.job.clone(),
            instance: task.instance,
            config: task.config.id(),
            state: task.state,
            assignment: task.assignment.clone(),
            sandbox: task.sandbox.clone(),
            exit_code: task.exit_code,
            failure_count: task.failure_count,
            ancestor: task.ancestor.clone(),
            not_before_ms: task.not_before_ms,
            events: task.events.clone(),
        }
    }

    /// The task, with its config version.
    pub(crate) fn into_task(self, config: ConfigVersion) -> ScheduledTask {
        ScheduledTask {
            id: self.id,
            job: self.job,
            instance: self.instance,
            config,
            state: self.state,
            assignment: self.assignment,
            sandbox: self.sandbox,
            exit_code: self.exit_code,
            failure_count: self.failure_count,
            ancestor: self.ancestor,
            not_before_ms: self.not_before_ms,
            events: self.events,
        }
    }
}

/// A task as format 1 stored it.
#[derive(Deserialize)]
struct TaskRecordV1 {
    id: TaskId,
    job: JobKey,
    instance: u32,
    spec: TaskSpec,
    priority: i32,
    state: TaskState,
    assignment: Option<Assignment>,
    sandbox: Option<String>,
    exit_code: Option<i32>,
    failure_count: u32,
    ancestor: Option<TaskId>,
    not_before_ms: u64,
    events: Vec<TaskEvent>,
}

/// A stored task, and the config a format-1 task implies (which the store must add).
pub(crate) fn decode_task(
    bytes: &[u8],
    jobs: &BTreeMap<JobKey, JobSpec>,
) -> Result<(TaskRecord, Option<TaskConfig>), Unreadable> {
    match open(bytes)? {
        (1, record) => {
            let old: TaskRecordV1 = parse(record)?;
            let config = config_of_v1(&old, jobs.get(&old.job));
            let record = TaskRecord {
                id: old.id,
                job: old.job,
                instance: old.instance,
                config: ConfigId::of(&config),
                state: old.state,
                assignment: old.assignment,
                sandbox: old.sandbox,
                exit_code: old.exit_code,
                failure_count: old.failure_count,
                ancestor: old.ancestor,
                not_before_ms: old.not_before_ms,
                events: old.events,
            };
            Ok((record, Some(config)))
        }
        (2, record) => Ok((parse(record)?, None)),
        (newer, _) => Err(Unreadable::Newer(newer)),
    }
}

/// The config a format-1 task ran with: its own spec and priority, and the rest from its job
/// (which is what the agent was sent at launch), or Aurora's defaults if the job is gone.
fn config_of_v1(task: &TaskRecordV1, job: Option<&JobSpec>) -> TaskConfig {
    let mut config = match job {
        Some(job) => job.config.clone(),
        None => TaskConfig::new(task.spec.clone()),
    };
    config.task = task.spec.clone();
    config.priority = task.priority;
    config
}

#[cfg(test)]
mod hostile_input;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_written_in_an_envelope_and_bare_ones_are_format_1() {
        let bytes = encode(&"DRAINING").unwrap();
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), r#"{"format":2,"record":"DRAINING"}"#);
        assert_eq!(decode_plain::<String>(&bytes).unwrap(), "DRAINING");
        assert_eq!(decode_plain::<String>(br#""SCHEDULED""#).unwrap(), "SCHEDULED", "format 1");
    }

    #[test]
    fn a_newer_format_is_refused() {
        let newer = br#"{"format":3,"record":"DRAINING"}"#;
        assert!(matches!(decode_plain::<String>(newer), Err(Unreadable::Newer(3))));
        let tasks = BTreeMap::new();
        assert!(matches!(decode_task(newer, &tasks), Err(Unreadable::Newer(3))));
        assert!(matches!(decode_plain::<String>(br#"{"format":"x","record":1}"#), Err(Unreadable::Malformed(_))));
    }
}

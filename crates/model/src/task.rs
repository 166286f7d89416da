//! Task instances as the scheduler tracks them, and Aurora's task state machine.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::agent::AgentId;
use crate::key::JobKey;
use crate::version::ConfigVersion;

/// A task instance's id: `<role>-<env>-<name>-<instance>-<unique suffix>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskId(pub String);

impl TaskId {
    /// Builds an id the way Aurora does: any character other than a word character or `-`
    /// becomes `-`.
    pub fn new(job: &JobKey, instance: u32, suffix: &str) -> TaskId {
        TaskId(format!("{}{instance}-{suffix}", TaskId::job_prefix(job)))
    }

    /// What the ids of every task of `job` start with, `<role>-<env>-<name>-` (the ids of a job
    /// whose name starts with this one's name and a `-` start so too).
    pub fn job_prefix(job: &JobKey) -> String {
        let raw = format!("{}-{}-{}-", job.role, job.environment, job.name);
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Aurora's task states (`ScheduleStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    Init,
    Throttled,
    Pending,
    Assigned,
    Starting,
    Running,
    Finished,
    Preempting,
    Restarting,
    Draining,
    Failed,
    Killed,
    Killing,
    Lost,
    Partitioned,
}

impl TaskState {
    pub const ALL: [TaskState; 15] = [
        TaskState::Init,
        TaskState::Throttled,
        TaskState::Pending,
        TaskState::Assigned,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Finished,
        TaskState::Preempting,
        TaskState::Restarting,
        TaskState::Draining,
        TaskState::Failed,
        TaskState::Killed,
        TaskState::Killing,
        TaskState::Lost,
        TaskState::Partitioned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TaskState::Init => "INIT",
            TaskState::Throttled => "THROTTLED",
            TaskState::Pending => "PENDING",
            TaskState::Assigned => "ASSIGNED",
            TaskState::Starting => "STARTING",
            TaskState::Running => "RUNNING",
            TaskState::Finished => "FINISHED",
            TaskState::Preempting => "PREEMPTING",
            TaskState::Restarting => "RESTARTING",
            TaskState::Draining => "DRAINING",
            TaskState::Failed => "FAILED",
            TaskState::Killed => "KILLED",
            TaskState::Killing => "KILLING",
            TaskState::Lost => "LOST",
            TaskState::Partitioned => "PARTITIONED",
        }
    }

    /// FINISHED, FAILED, KILLED and LOST: the task will never run again.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Finished | TaskState::Failed | TaskState::Killed | TaskState::Lost)
    }

    /// Every state but INIT and the terminal ones.
    pub fn is_active(self) -> bool {
        !self.is_terminal() && self != TaskState::Init
    }

    /// Active and bound to an agent: its resources are in use there.
    pub fn is_on_agent(self) -> bool {
        self.is_active() && !matches!(self, TaskState::Pending | TaskState::Throttled)
    }

    /// Whether Aurora's task state machine allows moving from `self` to `next`.
    pub fn can_transition_to(self, next: TaskState) -> bool {
        use TaskState::*;
        match self {
            Init => matches!(next, Pending | Throttled),
            Pending => matches!(next, Assigned | Killing),
            Throttled => matches!(next, Pending | Killing),
            Assigned => matches!(
                next,
                Starting | Running | Finished | Failed | Restarting | Draining | Killed | Killing | Lost | Preempting
            ),
            Starting => matches!(
                next,
                Running
                    | Finished
                    | Failed
                    | Restarting
                    | Draining
                    | Killing
                    | Killed
                    | Lost
                    | Preempting
                    | Partitioned
            ),
            Running => matches!(
                next,
                Finished | Restarting | Draining | Failed | Killing | Killed | Lost | Preempting | Partitioned
            ),
            Partitioned => matches!(
                next,
                Lost | Failed | Finished | Running | Assigned | Starting | Restarting | Draining | Preempting | Killing
            ),
            Preempting | Restarting | Draining => {
                matches!(next, Finished | Failed | Killed | Lost | Killing | Partitioned)
            }
            Killing => matches!(next, Finished | Failed | Killed | Lost | Partitioned),
            Finished | Failed | Killed | Lost => false,
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A state name that is not one of Aurora's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown task state '{0}'; states are INIT, THROTTLED, PENDING, ASSIGNED, STARTING, RUNNING, FINISHED, PREEMPTING, RESTARTING, DRAINING, FAILED, KILLED, KILLING, LOST, PARTITIONED"
)]
pub struct UnknownTaskState(pub String);

impl FromStr for TaskState {
    type Err = UnknownTaskState;

    fn from_str(s: &str) -> Result<TaskState, UnknownTaskState> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTaskState(s.to_owned()))
    }
}

/// Where a task was placed and which ports it got there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub agent: AgentId,
    pub hostname: String,
    pub ports: BTreeMap<String, u16>,
}

/// One entry of a task's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    pub at_ms: u64,
    pub state: TaskState,
    pub message: String,
}

/// One run of one instance of a job, as the scheduler records it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledTask {
    pub id: TaskId,
    pub job: JobKey,
    pub instance: u32,
    /// The config this task was created from and runs with, whatever its job's is now.
    pub config: ConfigVersion,
    pub state: TaskState,
    pub assignment: Option<Assignment>,
    pub sandbox: Option<String>,
    pub exit_code: Option<i32>,
    /// Failed runs of this instance before this one.
    pub failure_count: u32,
    /// The task this one replaces, if it was rescheduled.
    pub ancestor: Option<TaskId>,
    /// Not placed before this time (a throttled reschedule).
    pub not_before_ms: u64,
    pub events: Vec<TaskEvent>,
}

impl ScheduledTask {
    /// When the task entered its current state.
    pub fn since_ms(&self) -> u64 {
        self.events.last().map_or(0, |e| e.at_ms)
    }

    /// The order tasks were created in: by creation time, then by the sequence number that
    /// ends the id (compared as a number, so run 10 comes after run 9).
    pub fn creation_order(&self) -> (u64, u64, &str) {
        let created = self.events.first().map_or(0, |e| e.at_ms);
        let sequence = self.id.0.rsplit('-').next().and_then(|s| s.parse().ok()).unwrap_or(0);
        (created, sequence, &self.id.0)
    }

    /// When the task first became RUNNING, if it did.
    pub fn started_ms(&self) -> Option<u64> {
        self.events.iter().find(|e| e.state == TaskState::Running).map(|e| e.at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_go_nowhere_and_active_is_everything_else() {
        for state in TaskState::ALL {
            if state.is_terminal() {
                assert!(TaskState::ALL.iter().all(|next| !state.can_transition_to(*next)), "{state}");
                assert!(!state.is_active());
            }
        }
        assert!(TaskState::Killing.is_active());
        assert!(!TaskState::Pending.is_on_agent());
        assert!(TaskState::Running.is_on_agent());
    }

    #[test]
    fn follows_aurora_transitions() {
        use TaskState::*;
        assert!(Pending.can_transition_to(Assigned));
        assert!(!Pending.can_transition_to(Running));
        assert!(Assigned.can_transition_to(Running));
        assert!(Running.can_transition_to(Lost));
        assert!(!Killing.can_transition_to(Running));
        assert!(!Running.can_transition_to(Pending));
    }

    #[test]
    fn state_names_round_trip_and_unknown_ones_are_named() {
        for state in TaskState::ALL {
            assert_eq!(state.name().parse::<TaskState>().unwrap(), state);
        }
        assert!("running".parse::<TaskState>().is_ok());
        assert!("RUNING".parse::<TaskState>().unwrap_err().to_string().contains("'RUNING'"));
    }

    #[test]
    fn task_ids_replace_odd_characters() {
        let key: JobKey = "c/www.data/devel/hello".parse().unwrap();
        assert_eq!(TaskId::new(&key, 3, "x1").0, "www-data-devel-hello-3-x1");
    }
}

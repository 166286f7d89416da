//! Cron runs as the scheduler records them: the vocabulary its cron records and its events
//! share.

use serde::{Deserialize, Serialize};

/// Where a cron run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CronRunState {
    /// KILL_EXISTING: waiting for the previous run's tasks to end before it starts.
    Waiting,
    Running,
    /// Every instance finished.
    Finished,
    /// Some instance failed or was lost, beyond its retries.
    Failed,
    /// Killed: by request, or by a later run under KILL_EXISTING.
    Killed,
    /// CANCEL_NEW: not started, because a run was active; or replaced while waiting.
    Skipped,
    /// Its fire time passed while the scheduler was down, beyond the starting deadline.
    Missed,
}

impl CronRunState {
    /// Every state, for reading names back.
    pub const ALL: [CronRunState; 7] = [
        CronRunState::Waiting,
        CronRunState::Running,
        CronRunState::Finished,
        CronRunState::Failed,
        CronRunState::Killed,
        CronRunState::Skipped,
        CronRunState::Missed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CronRunState::Waiting => "WAITING",
            CronRunState::Running => "RUNNING",
            CronRunState::Finished => "FINISHED",
            CronRunState::Failed => "FAILED",
            CronRunState::Killed => "KILLED",
            CronRunState::Skipped => "SKIPPED",
            CronRunState::Missed => "MISSED",
        }
    }

    /// Whether the run is still to start or under way.
    pub fn is_open(self) -> bool {
        matches!(self, CronRunState::Waiting | CronRunState::Running)
    }
}

//! The vocabulary of rolling updates: Aurora's update states and instance actions, where an
//! instance stands in an update, and how an instance compares with a proposed config.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Aurora's job update states (`JobUpdateStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UpdateState {
    RollingForward,
    RollingBack,
    RollForwardPaused,
    RollBackPaused,
    RollForwardAwaitingPulse,
    RollBackAwaitingPulse,
    RolledForward,
    RolledBack,
    Aborted,
    Error,
    Failed,
}

impl UpdateState {
    pub const ALL: [UpdateState; 11] = [
        UpdateState::RollingForward,
        UpdateState::RollingBack,
        UpdateState::RollForwardPaused,
        UpdateState::RollBackPaused,
        UpdateState::RollForwardAwaitingPulse,
        UpdateState::RollBackAwaitingPulse,
        UpdateState::RolledForward,
        UpdateState::RolledBack,
        UpdateState::Aborted,
        UpdateState::Error,
        UpdateState::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UpdateState::RollingForward => "ROLLING_FORWARD",
            UpdateState::RollingBack => "ROLLING_BACK",
            UpdateState::RollForwardPaused => "ROLL_FORWARD_PAUSED",
            UpdateState::RollBackPaused => "ROLL_BACK_PAUSED",
            UpdateState::RollForwardAwaitingPulse => "ROLL_FORWARD_AWAITING_PULSE",
            UpdateState::RollBackAwaitingPulse => "ROLL_BACK_AWAITING_PULSE",
            UpdateState::RolledForward => "ROLLED_FORWARD",
            UpdateState::RolledBack => "ROLLED_BACK",
            UpdateState::Aborted => "ABORTED",
            UpdateState::Error => "ERROR",
            UpdateState::Failed => "FAILED",
        }
    }

    /// ROLLED_FORWARD, ROLLED_BACK, ABORTED, ERROR and FAILED: the update is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            UpdateState::RolledForward
                | UpdateState::RolledBack
                | UpdateState::Aborted
                | UpdateState::Error
                | UpdateState::Failed
        )
    }

    /// Going back to the previous configs (or paused or blocked while doing so).
    pub fn is_rolling_back(self) -> bool {
        matches!(self, UpdateState::RollingBack | UpdateState::RollBackPaused | UpdateState::RollBackAwaitingPulse)
    }

    /// Paused by request (or after a batch).
    pub fn is_paused(self) -> bool {
        matches!(self, UpdateState::RollForwardPaused | UpdateState::RollBackPaused)
    }

    /// Blocked until the next pulse.
    pub fn is_awaiting_pulse(self) -> bool {
        matches!(self, UpdateState::RollForwardAwaitingPulse | UpdateState::RollBackAwaitingPulse)
    }

    /// The moving state of the same direction.
    pub fn rolling(self) -> UpdateState {
        if self.is_rolling_back() { UpdateState::RollingBack } else { UpdateState::RollingForward }
    }

    pub fn paused(self) -> UpdateState {
        if self.is_rolling_back() { UpdateState::RollBackPaused } else { UpdateState::RollForwardPaused }
    }

    pub fn awaiting_pulse(self) -> UpdateState {
        if self.is_rolling_back() { UpdateState::RollBackAwaitingPulse } else { UpdateState::RollForwardAwaitingPulse }
    }
}

impl fmt::Display for UpdateState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A state name that is not one of Aurora's update states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown update state '{0}'; states are ROLLING_FORWARD, ROLLING_BACK, ROLL_FORWARD_PAUSED, ROLL_BACK_PAUSED, ROLL_FORWARD_AWAITING_PULSE, ROLL_BACK_AWAITING_PULSE, ROLLED_FORWARD, ROLLED_BACK, ABORTED, ERROR, FAILED"
)]
pub struct UnknownUpdateState(pub String);

impl FromStr for UpdateState {
    type Err = UnknownUpdateState;

    fn from_str(s: &str) -> Result<UpdateState, UnknownUpdateState> {
        UpdateState::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownUpdateState(s.to_owned()))
    }
}

/// What happened to an instance, in Aurora's words (`JobUpdateAction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceAction {
    InstanceUpdating,
    InstanceUpdated,
    InstanceUpdateFailed,
    InstanceRollingBack,
    InstanceRolledBack,
    InstanceRollbackFailed,
}

impl InstanceAction {
    pub fn name(self) -> &'static str {
        match self {
            InstanceAction::InstanceUpdating => "INSTANCE_UPDATING",
            InstanceAction::InstanceUpdated => "INSTANCE_UPDATED",
            InstanceAction::InstanceUpdateFailed => "INSTANCE_UPDATE_FAILED",
            InstanceAction::InstanceRollingBack => "INSTANCE_ROLLING_BACK",
            InstanceAction::InstanceRolledBack => "INSTANCE_ROLLED_BACK",
            InstanceAction::InstanceRollbackFailed => "INSTANCE_ROLLBACK_FAILED",
        }
    }
}

/// Where an instance stands in the update's current direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Progress {
    /// Not started yet.
    Waiting,
    Updating,
    Succeeded,
    Failed,
}

impl Progress {
    pub fn is_done(self) -> bool {
        matches!(self, Progress::Succeeded | Progress::Failed)
    }
}

/// How an instance differs between what runs and what is proposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// The instance does not run yet.
    Add,
    /// The proposed job has fewer instances.
    Remove,
    /// It runs another config.
    Update,
    Unchanged,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_by_name_and_sort_into_kinds() {
        for state in UpdateState::ALL {
            assert_eq!(state.name().parse::<UpdateState>().unwrap(), state);
            assert!(!(state.is_terminal() && (state.is_paused() || state.is_awaiting_pulse())), "{state}");
        }
        assert!("rolled_forward".parse::<UpdateState>().is_ok());
        assert!("ROLLED".parse::<UpdateState>().unwrap_err().to_string().contains("unknown update state 'ROLLED'"));
        assert_eq!(UpdateState::RollBackPaused.rolling(), UpdateState::RollingBack);
        assert_eq!(UpdateState::RollingForward.paused(), UpdateState::RollForwardPaused);
        assert_eq!(UpdateState::RollingBack.awaiting_pulse(), UpdateState::RollBackAwaitingPulse);
        assert_eq!(InstanceAction::InstanceRolledBack.name(), "INSTANCE_ROLLED_BACK");
    }
}

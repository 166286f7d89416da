//! Conversions of the update vocabulary: update states, instance actions and progress, and
//! instance change kinds.

use atoll_model::update::{ChangeKind, InstanceAction, Progress, UpdateState};

use crate::{WireError, v1};

impl From<UpdateState> for v1::JobUpdateState {
    fn from(state: UpdateState) -> v1::JobUpdateState {
        use UpdateState as M;
        use v1::JobUpdateState as W;
        match state {
            M::RollingForward => W::RollingForward,
            M::RollingBack => W::RollingBack,
            M::RollForwardPaused => W::RollForwardPaused,
            M::RollBackPaused => W::RollBackPaused,
            M::RollForwardAwaitingPulse => W::RollForwardAwaitingPulse,
            M::RollBackAwaitingPulse => W::RollBackAwaitingPulse,
            M::RolledForward => W::RolledForward,
            M::RolledBack => W::RolledBack,
            M::Aborted => W::Aborted,
            M::Error => W::Error,
            M::Failed => W::Failed,
        }
    }
}

/// Reads an update state field, rejecting unknown and unspecified values.
pub fn update_state(raw: i32) -> Result<UpdateState, WireError> {
    let wire = v1::JobUpdateState::try_from(raw)
        .map_err(|_| WireError { field: "update state", reason: format!("unknown value {raw}") })?;
    UpdateState::ALL
        .into_iter()
        .find(|s| v1::JobUpdateState::from(*s) == wire)
        .ok_or_else(|| WireError { field: "update state", reason: "unspecified".to_owned() })
}

impl From<InstanceAction> for v1::InstanceAction {
    fn from(action: InstanceAction) -> v1::InstanceAction {
        use InstanceAction as M;
        use v1::InstanceAction as W;
        match action {
            M::InstanceUpdating => W::InstanceUpdating,
            M::InstanceUpdated => W::InstanceUpdated,
            M::InstanceUpdateFailed => W::InstanceUpdateFailed,
            M::InstanceRollingBack => W::InstanceRollingBack,
            M::InstanceRolledBack => W::InstanceRolledBack,
            M::InstanceRollbackFailed => W::InstanceRollbackFailed,
        }
    }
}

impl From<Progress> for v1::InstanceProgress {
    fn from(progress: Progress) -> v1::InstanceProgress {
        match progress {
            Progress::Waiting => v1::InstanceProgress::Waiting,
            Progress::Updating => v1::InstanceProgress::Updating,
            Progress::Succeeded => v1::InstanceProgress::Succeeded,
            Progress::Failed => v1::InstanceProgress::Failed,
        }
    }
}

impl From<ChangeKind> for v1::InstanceChangeKind {
    fn from(kind: ChangeKind) -> v1::InstanceChangeKind {
        match kind {
            ChangeKind::Add => v1::InstanceChangeKind::Add,
            ChangeKind::Remove => v1::InstanceChangeKind::Remove,
            ChangeKind::Update => v1::InstanceChangeKind::Update,
            ChangeKind::Unchanged => v1::InstanceChangeKind::Unchanged,
        }
    }
}

/// A wire enum's value as people read it: its proto name without the type prefix
/// (`JOB_UPDATE_STATE_ROLLED_FORWARD` is `ROLLED_FORWARD`), or `UNKNOWN(n)`.
pub fn enum_name(proto_name: Option<&str>, prefix: &str, raw: i32) -> String {
    proto_name
        .and_then(|name| name.strip_prefix(prefix))
        .filter(|name| *name != "UNSPECIFIED")
        .map_or_else(|| format!("UNKNOWN({raw})"), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_states_round_trip_and_unspecified_is_refused() {
        for state in UpdateState::ALL {
            assert_eq!(update_state(v1::JobUpdateState::from(state) as i32), Ok(state));
            let wire = v1::JobUpdateState::from(state);
            assert_eq!(enum_name(Some(wire.as_str_name()), "JOB_UPDATE_STATE_", wire as i32), state.name());
        }
        assert!(update_state(0).unwrap_err().to_string().contains("unspecified"));
        assert!(update_state(99).unwrap_err().to_string().contains("unknown value 99"));
        assert_eq!(enum_name(None, "X_", 7), "UNKNOWN(7)");
        let action = v1::InstanceAction::from(InstanceAction::InstanceRolledBack);
        assert_eq!(enum_name(Some(action.as_str_name()), "INSTANCE_ACTION_", 0), "INSTANCE_ROLLED_BACK");
    }
}

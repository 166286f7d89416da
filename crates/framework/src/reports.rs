//! The executor driver's bookkeeping of the updates it reports for its task: which states an
//! executor may report, the uuid each update gets (the task's id and a counter), which updates
//! Atoll's executor has not acknowledged yet, and that nothing follows the task's end.

use atoll_proto::v1::TaskState;

use crate::ExecutorError;

/// The updates reported for one task.
#[derive(Debug)]
pub(crate) struct Reports {
    task_id: String,
    /// How many updates have been given a uuid.
    numbered: u64,
    /// Sent (or being sent) and not yet acknowledged, oldest first.
    unacknowledged: Vec<String>,
    /// The end reported, once one was sent (or is being sent).
    ended: Option<TaskState>,
}

impl Reports {
    /// No updates yet for task `task_id`.
    pub(crate) fn new(task_id: String) -> Reports {
        Reports { task_id, numbered: 0, unacknowledged: Vec::new(), ended: None }
    }

    pub(crate) fn task_id(&self) -> &str {
        &self.task_id
    }

    /// An update to `state` is about to be sent: its uuid, now counted as unacknowledged. Refused
    /// for a state an executor does not report, and after the task's end.
    pub(crate) fn prepare(&mut self, state: TaskState) -> Result<String, ExecutorError> {
        if !reportable(state) {
            return Err(ExecutorError::NotReportable { state });
        }
        if let Some(end) = self.ended {
            return Err(ExecutorError::AlreadyEnded { task_id: self.task_id.clone(), state: end });
        }
        self.numbered += 1;
        let uuid = format!("{}-{}", self.task_id, self.numbered);
        self.unacknowledged.push(uuid.clone());
        if state != TaskState::Running {
            self.ended = Some(state);
        }
        Ok(uuid)
    }

    /// The update to `state` with `uuid` could not be sent: it awaits no acknowledgement, and an
    /// end that was not sent may be reported again.
    pub(crate) fn not_sent(&mut self, uuid: &str, state: TaskState) {
        self.unacknowledged.retain(|u| u != uuid);
        if self.ended == Some(state) {
            self.ended = None;
        }
    }

    /// Atoll's executor acknowledged `uuid`.
    pub(crate) fn acknowledged(&mut self, uuid: &str) {
        self.unacknowledged.retain(|u| u != uuid);
    }

    pub(crate) fn unacknowledged(&self) -> &[String] {
        &self.unacknowledged
    }
}

/// Whether an executor reports `state`: RUNNING, or an end (FINISHED, FAILED or KILLED).
fn reportable(state: TaskState) -> bool {
    matches!(state, TaskState::Running | TaskState::Finished | TaskState::Failed | TaskState::Killed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_update_gets_a_uuid_of_its_own_and_waits_for_its_acknowledgement() {
        let mut reports = Reports::new("echo".into());
        let running = reports.prepare(TaskState::Running).unwrap();
        let again = reports.prepare(TaskState::Running).unwrap();
        assert_eq!((running.as_str(), again.as_str()), ("echo-1", "echo-2"));
        assert_eq!(reports.unacknowledged(), ["echo-1", "echo-2"]);
        reports.acknowledged("echo-2");
        reports.acknowledged("nobody's");
        assert_eq!(reports.unacknowledged(), ["echo-1"]);
        let finished = reports.prepare(TaskState::Finished).unwrap();
        assert_eq!(finished, "echo-3");
        assert_eq!(reports.task_id(), "echo");
    }

    #[test]
    fn only_running_and_the_three_ends_are_reported() {
        for state in [TaskState::Running, TaskState::Finished, TaskState::Failed, TaskState::Killed] {
            assert!(Reports::new("t".into()).prepare(state).is_ok(), "{state:?}");
        }
        for state in [TaskState::Unspecified, TaskState::Pending, TaskState::Starting, TaskState::Lost] {
            let refused = Reports::new("t".into()).prepare(state).expect_err("not an executor's to report");
            assert!(matches!(refused, ExecutorError::NotReportable { .. }), "{refused}");
        }
        let mut reports = Reports::new("t".into());
        let _ = reports.prepare(TaskState::Starting);
        assert!(reports.unacknowledged().is_empty(), "a refused update is not counted");
    }

    #[test]
    fn nothing_follows_an_end_unless_the_end_could_not_be_sent() {
        let mut reports = Reports::new("t".into());
        let killed = reports.prepare(TaskState::Killed).unwrap();
        let refused = reports.prepare(TaskState::Running).expect_err("after the end");
        assert_eq!(refused.to_string(), "task t has already ended (KILLED): nothing can be reported after its end");
        reports.not_sent(&killed, TaskState::Killed);
        assert!(reports.unacknowledged().is_empty());
        let failed = reports.prepare(TaskState::Failed).unwrap();
        assert_eq!(failed, "t-2", "uuids are never used twice");
        let running = reports.prepare(TaskState::Running);
        assert!(matches!(running, Err(ExecutorError::AlreadyEnded { state: TaskState::Failed, .. })));
    }

    #[test]
    fn a_running_update_not_sent_leaves_an_end_reported_meanwhile() {
        let mut reports = Reports::new("t".into());
        let running = reports.prepare(TaskState::Running).unwrap();
        reports.prepare(TaskState::Finished).unwrap();
        reports.not_sent(&running, TaskState::Running);
        assert_eq!(reports.unacknowledged(), ["t-2"]);
        assert!(reports.prepare(TaskState::Killed).is_err(), "the end still stands");
    }
}

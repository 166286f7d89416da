//! What can go wrong driving a framework ([`FrameworkError`]: a setup the driver cannot use, a
//! subscription the scheduler refuses or cannot be had, a call refused, and the end of the
//! framework) or a custom executor ([`ExecutorError`]: no executor API to speak to, a
//! subscription refused, a stream that broke, an update that cannot be reported, a call
//! refused).

use std::time::Duration;

use atoll_proto::v1::TaskState;

/// An error of the driver or of one of its calls.
#[derive(Debug, thiserror::Error)]
pub enum FrameworkError {
    #[error("{address} is not a scheduler address ({detail}); give one as http://HOST:PORT or https://HOST:PORT")]
    BadAddress { address: String, detail: String },
    #[error(transparent)]
    Tls(#[from] atoll_proto::TlsSetupError),
    #[error(transparent)]
    Token(#[from] atoll_proto::BadToken),
    /// The scheduler answered Subscribe with a refusal that trying again will not change
    /// (bad framework info, no permission for the role, an unknown framework id, or a scheduler
    /// that does not serve frameworks).
    #[error("the scheduler at {address} refused the subscription ({code:?}): {message}")]
    SubscribeRefused { address: String, code: tonic::Code, message: String },
    /// No subscription could be had for as long as the driver was told to try.
    #[error("no subscription at {address} for {waited:?}; the last attempt: {last}")]
    Unreachable { address: String, waited: Duration, last: String },
    /// A call made while the driver has no subscription (before the first, or between a
    /// disconnect and the resubscription): try again after `registered` or `reregistered`.
    #[error("{call} needs a subscription, and the driver has none just now")]
    NotSubscribed { call: &'static str },
    /// The scheduler refused a call, or it could not be made.
    #[error("{call} failed ({code:?}): {message}")]
    Call { call: &'static str, code: tonic::Code, message: String },
    /// `acknowledge` with implicit acknowledgements, which the driver sends itself.
    #[error(
        "the driver acknowledges updates itself; to acknowledge them yourself, build it with DriverConfig::explicit_acknowledgements"
    )]
    ImplicitAcknowledgements,
    /// `acknowledge` of an update without a uuid: a reconciliation answer, which needs none.
    #[error(
        "the update of task {task_id} carries no uuid (a reconciliation answer), so there is nothing to acknowledge"
    )]
    NothingToAcknowledge { task_id: String },
    /// The scheduler ended the framework with an ERROR event: torn down (by an operator, or
    /// past its failover timeout) or replaced by a newer subscription of the same id.
    #[error("the scheduler ended the framework: {message}")]
    Ended { message: String },
}

impl FrameworkError {
    /// The refusal of `call`.
    pub(crate) fn call(call: &'static str, status: &tonic::Status) -> FrameworkError {
        FrameworkError::Call { call, code: status.code(), message: status.message().to_owned() }
    }
}

/// An error of the executor driver or of one of its calls.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The process was not started as a custom executor: Atoll's executor names its socket in
    /// the environment of the process it runs for a task's `executor_command`.
    #[error(
        "$ATOLL_EXECUTOR_SOCKET is not set, so there is no executor API to speak to: this program is a custom executor, to be run by Atoll as a task's executor_command"
    )]
    NoSocket,
    #[error("{socket} cannot be the executor API's socket: {detail}")]
    BadSocket { socket: String, detail: String },
    /// Atoll's executor refused the subscription, or could not be reached for a while.
    #[error("no subscription to Atoll's executor at {socket} ({code:?}): {message}")]
    Subscribe { socket: String, code: tonic::Code, message: String },
    /// The event stream ended with an error.
    #[error("the executor API's event stream broke ({code:?}): {message}")]
    StreamBroke { code: tonic::Code, message: String },
    /// Atoll's executor sent what the executor API does not allow (an event before SUBSCRIBED).
    #[error("Atoll's executor broke the executor API: {detail}")]
    Protocol { detail: String },
    /// A call about the task before LAUNCH named it.
    #[error("{call} before LAUNCH: there is no task to report on yet")]
    NoTask { call: &'static str },
    /// An update to a state executors do not report.
    #[error("{} is not a state an executor reports: report RUNNING, FINISHED, FAILED or KILLED", state_name(*.state))]
    NotReportable { state: TaskState },
    /// An update after the task's end was reported.
    #[error("task {task_id} has already ended ({}): nothing can be reported after its end", state_name(*.state))]
    AlreadyEnded { task_id: String, state: TaskState },
    /// Atoll's executor refused a call, or it could not be made.
    #[error("{call} failed ({code:?}): {message}")]
    Call { call: &'static str, code: tonic::Code, message: String },
}

impl ExecutorError {
    /// The refusal of `call`.
    pub(crate) fn call(call: &'static str, status: &tonic::Status) -> ExecutorError {
        ExecutorError::Call { call, code: status.code(), message: status.message().to_owned() }
    }
}

/// A task state as people read it: `RUNNING`, not `TASK_STATE_RUNNING`.
fn state_name(state: TaskState) -> &'static str {
    let name = state.as_str_name();
    name.strip_prefix("TASK_STATE_").unwrap_or(name)
}

//! What can go wrong driving a framework: a setup the driver cannot use, a subscription the
//! scheduler refuses or cannot be had, a call refused, and the end of the framework.

use std::time::Duration;

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

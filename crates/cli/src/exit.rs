//! Exit codes (Aurora's) and the error type every command returns.

use atoll_client::{ApiErrorKind, ClientError};

/// The process exit codes, as Aurora's client used them; success is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    InvalidConfig = 3,
    CommandFailed = 4,
    InvalidParameter = 6,
    Unreachable = 7,
    Timeout = 9,
    ApiError = 10,
}

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct CliError {
    pub code: ExitCode,
    pub message: String,
}

impl CliError {
    pub fn new(code: ExitCode, message: impl Into<String>) -> CliError {
        CliError { code, message: message.into() }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> CliError {
        CliError::new(ExitCode::InvalidParameter, message)
    }

    pub fn failed(message: impl Into<String>) -> CliError {
        CliError::new(ExitCode::CommandFailed, message)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> CliError {
        let code = match &e {
            ClientError::Unreachable { .. } => ExitCode::Unreachable,
            ClientError::Api { kind: ApiErrorKind::AlreadyExists, .. } => ExitCode::CommandFailed,
            ClientError::Api { kind: ApiErrorKind::DeadlineExceeded, .. } => ExitCode::Timeout,
            // Aurora's client exits 4 when the scheduler refuses the caller or asks them to slow down.
            ClientError::Api {
                kind: ApiErrorKind::Unauthenticated | ApiErrorKind::PermissionDenied | ApiErrorKind::ResourceExhausted,
                ..
            } => ExitCode::CommandFailed,
            ClientError::Api { .. } | ClientError::Malformed(_) => ExitCode::ApiError,
            ClientError::ClustersFile { .. } | ClientError::UnknownCluster { .. } | ClientError::Credentials(_) => {
                ExitCode::InvalidParameter
            }
        };
        CliError::new(code, e.to_string())
    }
}

impl From<atoll_model::JobKeyError> for CliError {
    fn from(e: atoll_model::JobKeyError) -> CliError {
        CliError::invalid_parameter(e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_the_caller_exit_4_with_the_schedulers_words() {
        for kind in [ApiErrorKind::Unauthenticated, ApiErrorKind::PermissionDenied, ApiErrorKind::ResourceExhausted] {
            let error = CliError::from(ClientError::Api { kind, message: format!("refused: {kind:?}") });
            assert_eq!((error.code, error.message), (ExitCode::CommandFailed, format!("refused: {kind:?}")));
        }
        let token = CliError::from(ClientError::Credentials("cannot read the token file x".into()));
        assert_eq!(token.code, ExitCode::InvalidParameter);
    }
}

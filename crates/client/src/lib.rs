//! The typed client of the scheduler API, and the clusters file that maps cluster names to
//! scheduler addresses.
//!
//! Invariant: the transport stays inside this crate. Callers never see a channel, a status
//! code or a stream: they get [`ClientError`] (with an [`ApiErrorKind`]), streams as
//! [`LogChunks`] and [`RegistryWatch`], and answers as domain types where the model has them
//! (jobs, keys, configs, quotas) and as the `atoll.v1` messages otherwise (task statuses,
//! updates, plans, host modes), which are plain data.

mod admin;
mod clusters;
mod cron;
mod events;
mod frameworks;
mod logs;
mod registry;
mod updates;

use std::collections::BTreeSet;
use std::time::Duration;

use atoll_model::{JobKey, JobKeyPrefix, JobSpec};
use atoll_proto::v1::{self, scheduler_service_client::SchedulerServiceClient};
use tonic::transport::Endpoint;

pub use admin::HostCall;
pub use clusters::{Clusters, DEVCLUSTER_URL};
pub use events::Events;
pub use logs::{LogChunks, LogRequest};
pub use registry::{MemberEntry, RegistryReader, RegistryWatch, zookeeper, zookeeper_error, zookeeper_members};
pub use updates::UpdateCall;

/// Why a request to the scheduler failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the scheduler at {address}: {detail}; is it running? (`atoll dev` starts one)")]
    Unreachable { address: String, detail: String },
    #[error("{message}")]
    Api { kind: ApiErrorKind, message: String },
    #[error("the scheduler sent a malformed answer: {0}")]
    Malformed(String),
    #[error("clusters file {path}: {detail}")]
    ClustersFile { path: String, detail: String },
    #[error("unknown cluster '{name}'; known clusters: {known}. Add it to {path} or pass --scheduler URL")]
    UnknownCluster { name: String, known: String, path: String },
    /// The token or the TLS settings cannot be used.
    #[error("{0}")]
    Credentials(String),
}

/// What kind of error the scheduler answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The job, task, update or host asked about does not exist.
    NotFound,
    /// The job to create exists already.
    AlreadyExists,
    /// The request itself is wrong: a field, a key, an instance.
    InvalidArgument,
    /// Not now: the job or host is not in the state the request needs.
    FailedPrecondition,
    /// Over a limit: the role's quota, a job's instance count.
    ResourceExhausted,
    /// The answer took too long.
    DeadlineExceeded,
    /// No token, or one the scheduler does not know.
    Unauthenticated,
    /// The caller may not do this.
    PermissionDenied,
    /// Anything else, a failure of the scheduler's own included.
    Other,
}

impl ClientError {
    /// The error a gRPC status from the scheduler at `address` stands for.
    fn from_status(address: &str, status: &tonic::Status) -> ClientError {
        use tonic::Code;
        let message = status.message().to_owned();
        let kind = match status.code() {
            Code::Unavailable => return ClientError::Unreachable { address: address.to_owned(), detail: message },
            // The connection failed under the call, not the scheduler: tonic's own words for a
            // broken transport or HTTP/2 session (plaintext to a TLS port, a failed handshake).
            Code::Unknown | Code::Internal | Code::Cancelled if is_transport_failure(status) => {
                let detail = format!(
                    "{}; if the scheduler serves TLS, use https:// and its CA certificate",
                    error_chain(status)
                );
                return ClientError::Unreachable { address: address.to_owned(), detail };
            }
            Code::NotFound => ApiErrorKind::NotFound,
            Code::AlreadyExists => ApiErrorKind::AlreadyExists,
            Code::InvalidArgument => ApiErrorKind::InvalidArgument,
            Code::FailedPrecondition => ApiErrorKind::FailedPrecondition,
            Code::ResourceExhausted => ApiErrorKind::ResourceExhausted,
            Code::DeadlineExceeded => ApiErrorKind::DeadlineExceeded,
            Code::Unauthenticated => ApiErrorKind::Unauthenticated,
            Code::PermissionDenied => ApiErrorKind::PermissionDenied,
            _ => ApiErrorKind::Other,
        };
        ClientError::Api { kind, message }
    }
}

/// A connection to one scheduler.
#[derive(Clone)]
pub struct SchedulerClient {
    address: String,
    inner: SchedulerServiceClient<Transport>,
    /// The connection, shared by the clients of the other services.
    channel: Transport,
    /// How this client proves who it is and checks the scheduler, for the connections of log
    /// streams.
    credentials: Credentials,
}

/// What a client calls a scheduler with: its token, and the CA certificate (PEM) an
/// `https://` scheduler's certificate must be signed by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub token: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
}

impl SchedulerClient {
    /// Connects to the scheduler at `address`, failing fast if nothing answers there.
    /// `address` is `http://HOST:PORT`, or `zk://ENSEMBLE/PATH` for a scheduler that announces
    /// itself as a ServerSet member at PATH in that ZooKeeper ensemble.
    /// Every call carries the credentials' token, if any, as `authorization: Bearer TOKEN`;
    /// an `https://` scheduler is checked against their CA.
    pub async fn connect(address: &str, credentials: &Credentials) -> Result<SchedulerClient, ClientError> {
        let address = resolve_scheduler(address).await?;
        let channel = connect_channel(&address, Some(CALL_TIMEOUT), credentials).await?;
        Ok(SchedulerClient {
            address,
            inner: SchedulerServiceClient::new(channel.clone()),
            channel,
            credentials: credentials.clone(),
        })
    }

    /// What calls are made with.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    fn api_error(&self, status: tonic::Status) -> ClientError {
        ClientError::from_status(&self.address, &status)
    }

    /// Submits a job; returns the ids of its new tasks.
    pub async fn create_job(&self, job: &JobSpec) -> Result<Vec<String>, ClientError> {
        let request = v1::CreateJobRequest { job: Some(job.into()) };
        let response = self.inner.clone().create_job(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner().task_ids)
    }

    /// Kills the given instances, or with `None` every instance (removing the job).
    pub async fn kill(&self, job: &JobKey, instances: Option<&BTreeSet<u32>>) -> Result<Vec<String>, ClientError> {
        let request = v1::KillTasksRequest {
            job: Some(job.into()),
            instances: instances.map(|set| set.iter().copied().collect()).unwrap_or_default(),
            kill_all: instances.is_none(),
        };
        let response = self.inner.clone().kill_tasks(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner().task_ids)
    }

    pub async fn list_jobs(&self, prefix: &JobKeyPrefix) -> Result<Vec<v1::JobSummary>, ClientError> {
        let request = v1::ListJobsRequest {
            cluster: prefix.cluster.clone(),
            role: prefix.role.clone(),
            environment: prefix.environment.clone(),
        };
        let response = self.inner.clone().list_jobs(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner().jobs)
    }

    /// The newest run of each instance of `job` (or every run kept, with `include_history`).
    pub async fn tasks(&self, job: &JobKey, include_history: bool) -> Result<Vec<v1::TaskStatus>, ClientError> {
        let request = v1::GetTasksRequest { job: Some(job.into()), include_history };
        let response = self.inner.clone().get_tasks(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner().tasks)
    }

    pub async fn job_config(&self, job: &JobKey) -> Result<JobSpec, ClientError> {
        let request = v1::GetJobConfigRequest { job: Some(job.into()) };
        let response = self.inner.clone().get_job_config(request).await.map_err(|s| self.api_error(s))?;
        let config = response.into_inner().job.ok_or_else(|| ClientError::Malformed("no job in the answer".into()))?;
        JobSpec::try_from(&config).map_err(|e| ClientError::Malformed(e.to_string()))
    }
}

/// How long a call may take, streams of logs aside.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection with the caller's token on every call.
pub(crate) type Transport = atoll_proto::Authorized;

/// Connects to `http://HOST:PORT`, failing within 3 s if nothing answers; each call on the
/// channel fails after `call_timeout`, if one is given, and carries the credentials' token;
/// an `https://` address is reached over TLS, its certificate checked against their CA.
pub(crate) async fn connect_channel(
    address: &str,
    call_timeout: Option<Duration>,
    credentials: &Credentials,
) -> Result<Transport, ClientError> {
    let bearer =
        atoll_proto::Bearer::new(credentials.token.as_deref()).map_err(|e| ClientError::Credentials(e.to_string()))?;
    let unreachable = |detail: String| ClientError::Unreachable { address: address.to_owned(), detail };
    let mut endpoint = Endpoint::from_shared(address.to_owned())
        .map_err(|e| unreachable(format!("not a valid address ({e})")))?
        .connect_timeout(Duration::from_secs(3));
    if let Some(timeout) = call_timeout {
        endpoint = endpoint.timeout(timeout);
    }
    let endpoint = atoll_proto::secure(endpoint, address, credentials.ca_pem.as_deref(), None)
        .map_err(|e| ClientError::Credentials(e.to_string()))?;
    let channel = endpoint.connect().await.map_err(|e| unreachable(error_chain(&e)))?;
    Ok(bearer.wrap(channel))
}

/// Whether an UNKNOWN, INTERNAL or CANCELLED status is the client's own report of a failed
/// connection (plaintext to a TLS port ends in any of these) rather than the scheduler's
/// answer: an answer comes with the response's headers, a local report with none.
fn is_transport_failure(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_some() || status.metadata().is_empty()
}

/// Turns a scheduler address into `http://HOST:PORT`: as given, or for `zk://ENSEMBLE/PATH`
/// from the first ALIVE member of that ServerSet.
pub async fn resolve_scheduler(address: &str) -> Result<String, ClientError> {
    let Some(rest) = address.strip_prefix("zk://") else { return Ok(address.to_owned()) };
    let unreachable = |detail: String| ClientError::Unreachable { address: address.to_owned(), detail };
    let (ensemble, path) = rest
        .split_once('/')
        .map(|(ensemble, path)| (ensemble, format!("/{path}")))
        .ok_or_else(|| unreachable("a zk:// address is zk://HOST:PORT[,HOST:PORT…]/PATH".to_owned()))?;
    let resolver = registry::zookeeper(ensemble).await?;
    let endpoints = resolver.resolve(&path, None).await.map_err(|e| unreachable(e.to_string()))?;
    let first = endpoints.first().ok_or_else(|| unreachable(format!("no scheduler is announced at {path}")))?;
    Ok(format!("http://{}:{}", first.host, first.port))
}

/// An error with its causes, `error: cause: cause`, each said once: layers that repeat their
/// cause's words in their own are passed over.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if let Some(last) = parts.last_mut() {
            if last.ends_with(&text) || last.contains(&format!("{text}: ")) {
                // Already said.
            } else if text.contains(last.as_str()) {
                *last = text;
            } else {
                parts.push(text);
            }
        }
        source = cause.source();
    }
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let refused = Layer("Connection refused (os error 111)", None);
        let inner = Layer("tcp connect error", Some(Box::new(refused)));
        let outer = Layer("tcp connect error", Some(Box::new(inner)));
        let transport = Layer("transport error", Some(Box::new(outer)));
        assert_eq!(error_chain(&transport), "transport error: tcp connect error: Connection refused (os error 111)");
        let wrapped =
            Layer("error trying to connect: Connection refused", Some(Box::new(Layer("Connection refused", None))));
        assert_eq!(error_chain(&wrapped), "error trying to connect: Connection refused");
    }
}

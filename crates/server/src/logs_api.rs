//! The client-facing `atoll.v1.LogService`: finds the newest task of a job instance that
//! reached an agent, and passes that agent's `AgentLogService` stream through to the client.
//!
//! The scheduler keeps no logs and reads no sandbox: it only knows which agent ran the task
//! and where that agent serves logs (reported at registration, kept with the agent's link).
//! Dropping the client's stream drops the call to the agent, which stops following. The web
//! UI's logs page reads through the same [`ControlPlane::task_logs`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use atoll_model::{AgentId, JobKey, TaskId};
use atoll_proto::job_key;
use atoll_proto::v1;
use atoll_proto::v1::agent_log_service_client::AgentLogServiceClient;
use atoll_proto::v1::log_service_server::{LogService, LogServiceServer};
use atoll_state::{ClusterState, StateError};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Endpoint;
use tonic::{Request, Response, Status};

use crate::core::ControlPlane;
use crate::scheduler_api::wire_status;

/// How long the scheduler waits to connect to an agent's log server.
const AGENT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) struct LogsApi {
    control_plane: ControlPlane,
}

/// The service, ready to add to the scheduler's server.
pub(crate) fn service(control_plane: ControlPlane) -> LogServiceServer<LogsApi> {
    LogServiceServer::new(LogsApi { control_plane })
}

/// Where to reach the log server of an agent that registered from `peer` and reported
/// `reported` (`HOST:PORT`, the host unspecified when it listens on every interface), served
/// over TLS when `tls`.
pub(crate) fn agent_log_endpoint(peer: Option<SocketAddr>, reported: &str, tls: bool) -> Option<String> {
    let mut address: SocketAddr = reported.parse().ok()?;
    if address.ip().is_unspecified() {
        address.set_ip(peer?.ip());
    }
    Some(format!("{}://{address}", if tls { "https" } else { "http" }))
}

/// The newest task of `instance` that was placed on an agent, and that agent.
fn placed_task(state: &ClusterState, job: &JobKey, instance: u32) -> Result<(TaskId, AgentId), Status> {
    if !state.knows_job(job) {
        return Err(Status::not_found(StateError::JobNotFound(Box::new(job.clone())).to_string()));
    }
    let tasks: Vec<_> = state.job_tasks(job, true).into_iter().filter(|t| t.instance == instance).collect();
    let Some(newest) = tasks.first() else {
        let count = state.job(job).map_or(0, |spec| spec.instances);
        let refusal = StateError::NoSuchInstances { job: Box::new(job.clone()), instances: vec![instance], count };
        return Err(Status::not_found(refusal.to_string()));
    };
    tasks.iter().find_map(|task| task.assignment.as_ref().map(|a| (task.id.clone(), a.agent.clone()))).ok_or_else(
        || {
            Status::failed_precondition(format!(
                "instance {instance} of job {job} has never run on an agent, so it has no logs (it is {})",
                newest.state
            ))
        },
    )
}

/// An error and its causes, `outer: inner: …`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Wrapping errors often repeat their cause's words; say them once.
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// A task's log, chunk by chunk, as its agent reads it.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<v1::LogChunk, Status>> + Send>>;

impl ControlPlane {
    /// The log of the newest task of `request`'s instance that reached an agent, read from that
    /// agent; for the gRPC `LogService` and the web UI's logs page alike.
    pub async fn task_logs(&self, request: v1::TaskLogsRequest) -> Result<ChunkStream, Status> {
        let job = job_key(request.job.as_ref()).map_err(wire_status)?;
        let (task, agent) = self.read(|state| placed_task(state, &job, request.instance))?;
        let crate::core::LogEndpoint { url: endpoint, token } = self.log_endpoint(&agent).ok_or_else(|| {
            Status::unavailable(format!(
                "agent {agent}, which ran task {task}, is not connected to the scheduler, so its logs cannot be read now"
            ))
        })?;
        let unreachable =
            |detail: String| Status::unavailable(format!("cannot reach agent {agent} at {endpoint}: {detail}"));
        let plain = Endpoint::from_shared(endpoint.clone()).map_err(|e| unreachable(e.to_string()))?;
        let ca = self.config().tls_ca.as_deref();
        let channel = match atoll_proto::secure(plain, &endpoint, ca, None) {
            Ok(secured) => secured,
            Err(atoll_proto::TlsSetupError::NoCa { .. }) => {
                return Err(Status::failed_precondition(format!(
                    "agent {agent} serves its logs over TLS, and this scheduler has no CA to check its certificate \
                     with: start the scheduler with --tls-ca"
                )));
            }
            // An agent's plaintext log service is read as it is, CA or not.
            Err(atoll_proto::TlsSetupError::CaForPlaintext { .. }) => {
                Endpoint::from_shared(endpoint.clone()).map_err(|e| unreachable(e.to_string()))?
            }
            Err(error) => return Err(unreachable(error.to_string())),
        }
        .connect_timeout(AGENT_CONNECT_TIMEOUT)
        .connect()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
        let call = v1::ReadLogsRequest {
            task_id: task.0.clone(),
            process: request.process,
            run: None,
            stream: request.stream,
            start: request.start,
            follow: request.follow,
        };
        let bearer = atoll_proto::Bearer::new(token.as_deref()).map_err(|e| Status::internal(e.to_string()))?;
        let chunks = AgentLogServiceClient::new(bearer.wrap(channel)).read_logs(call).await.map_err(|status| {
            match status.code() {
                tonic::Code::Unavailable => unreachable(status.message().to_owned()),
                code => Status::new(code, status.message()),
            }
        })?;
        tracing::debug!(%task, %agent, "streaming task logs");
        let agent_name = agent.clone();
        let chunks = chunks.into_inner().map(move |item| {
            item.map_err(|status| Status::new(status.code(), format!("agent {agent_name}: {}", status.message())))
        });
        Ok(Box::pin(chunks))
    }
}

#[tonic::async_trait]
impl LogService for LogsApi {
    type TaskLogsStream = ChunkStream;

    async fn task_logs(&self, request: Request<v1::TaskLogsRequest>) -> Result<Response<ChunkStream>, Status> {
        self.control_plane.task_logs(request.into_inner()).await.map(Response::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_on_every_interface_is_reached_at_the_address_it_registered_from() {
        let peer: SocketAddr = "10.1.2.3:50000".parse().expect("address");
        assert_eq!(agent_log_endpoint(Some(peer), "0.0.0.0:4100", false).as_deref(), Some("http://10.1.2.3:4100"));
        assert_eq!(agent_log_endpoint(Some(peer), "127.0.0.1:4100", false).as_deref(), Some("http://127.0.0.1:4100"));
        assert_eq!(agent_log_endpoint(Some(peer), "127.0.0.1:4100", true).as_deref(), Some("https://127.0.0.1:4100"));
        assert_eq!(agent_log_endpoint(None, "0.0.0.0:4100", false), None);
        assert_eq!(agent_log_endpoint(Some(peer), "", false), None, "an agent that serves no logs");
        let v6: SocketAddr = "[fd00::1]:50000".parse().expect("address");
        assert_eq!(agent_log_endpoint(Some(v6), "[::]:4100", false).as_deref(), Some("http://[fd00::1]:4100"));
    }
}

//! The agent-facing `atoll.v1.AgentService`: registration, heartbeats, the command stream and
//! task status reports.

use std::pin::Pin;

use atoll_model::{AgentId, AgentResources, Attributes, TaskId, TaskState};
use atoll_proto::task_state;
use atoll_proto::v1::{self, agent_service_server::AgentService};
use atoll_state::{Outcome, Registration, StatusReport};
use tokio_stream::Stream;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status};

use crate::core::ControlPlane;
use crate::scheduler_api::{core_status, wire_status};

pub(crate) struct AgentApi {
    control_plane: ControlPlane,
}

impl AgentApi {
    pub(crate) fn new(control_plane: ControlPlane) -> AgentApi {
        AgentApi { control_plane }
    }
}

fn agent_id(raw: &str) -> Result<AgentId, Status> {
    if raw.is_empty() {
        return Err(Status::invalid_argument("invalid agent id: missing"));
    }
    Ok(AgentId(raw.to_owned()))
}

/// Reads a state an agent reports: only the states an agent can observe are accepted.
fn agent_reported_state(raw: i32) -> Result<TaskState, Status> {
    let state = task_state(raw).map_err(wire_status)?;
    match state {
        TaskState::Starting
        | TaskState::Running
        | TaskState::Finished
        | TaskState::Failed
        | TaskState::Killed
        | TaskState::Lost => Ok(state),
        other => Err(Status::invalid_argument(format!(
            "invalid task state: agents report STARTING, RUNNING, FINISHED, FAILED, KILLED or LOST, not {other}"
        ))),
    }
}

type CommandStream = Pin<Box<dyn Stream<Item = Result<v1::AgentCommand, Status>> + Send>>;

#[tonic::async_trait]
impl AgentService for AgentApi {
    async fn register(&self, request: Request<v1::RegisterRequest>) -> Result<Response<v1::RegisterResponse>, Status> {
        let peer = request.remote_addr();
        let request = request.into_inner();
        let log_token = (!request.log_token.is_empty()).then(|| request.log_token.clone());
        let log_endpoint = crate::logs_api::agent_log_endpoint(peer, &request.log_address, request.log_tls)
            .map(|url| crate::core::LogEndpoint { url, token: log_token });
        let id = agent_id(&request.agent_id)?;
        let resources = AgentResources::try_from(
            request.resources.as_ref().ok_or_else(|| Status::invalid_argument("invalid agent resources: missing"))?,
        )
        .map_err(wire_status)?;
        let tasks = request
            .tasks
            .into_iter()
            .map(|t| {
                let report = StatusReport {
                    state: agent_reported_state(t.state)?,
                    message: t.message,
                    exit_code: t.exit_code,
                    sandbox: (!t.sandbox.is_empty()).then_some(t.sandbox),
                };
                Ok((TaskId(t.task_id), report))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let registration = Registration {
            id: id.clone(),
            hostname: if request.hostname.is_empty() { id.0.clone() } else { request.hostname },
            resources,
            attributes: Attributes(request.attributes.into_iter().collect()),
            tasks,
            incarnation: (!request.incarnation.is_empty()).then_some(request.incarnation),
        };
        // Checked before the agent's link is replaced, and again under the lock.
        let now = self.control_plane.now_ms();
        self.control_plane.read(|state| state.check_agent_id(&registration, now)).map_err(|refusal| {
            tracing::warn!(agent = %id, hostname = %registration.hostname, %refusal, "agent refused");
            Status::already_exists(refusal.to_string())
        })?;
        tracing::info!(agent = %id, resources = %registration.resources, "agent registered");
        self.control_plane.open_link(&id, log_endpoint);
        self.control_plane
            .mutate(|state, now| Ok(((), state.register_agent(registration, now)?)))
            .await
            .map_err(core_status)?;
        Ok(Response::new(v1::RegisterResponse {
            heartbeat_interval_ms: self.control_plane.config().heartbeat_interval_ms,
            cluster: self.control_plane.config().state.cluster.clone(),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<v1::HeartbeatRequest>,
    ) -> Result<Response<v1::HeartbeatResponse>, Status> {
        let id = agent_id(&request.into_inner().agent_id)?;
        let registered = self
            .control_plane
            .mutate(|state, now| Ok((state.heartbeat(&id, now), Outcome::default())))
            .await
            .map_err(core_status)?;
        Ok(Response::new(v1::HeartbeatResponse { registered }))
    }

    type CommandsStream = CommandStream;

    async fn commands(&self, request: Request<v1::CommandsRequest>) -> Result<Response<CommandStream>, Status> {
        let id = agent_id(&request.into_inner().agent_id)?;
        let receiver = self.control_plane.take_link(&id).ok_or_else(|| {
            Status::failed_precondition(format!("agent {id} must register before opening its command stream"))
        })?;
        let stream = tokio_stream::StreamExt::map(UnboundedReceiverStream::new(receiver), Ok);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn update_task_status(
        &self,
        request: Request<v1::UpdateTaskStatusRequest>,
    ) -> Result<Response<v1::UpdateTaskStatusResponse>, Status> {
        let request = request.into_inner();
        let id = agent_id(&request.agent_id)?;
        let task = TaskId(request.task_id);
        let report = StatusReport {
            state: agent_reported_state(request.state)?,
            message: request.message,
            exit_code: request.exit_code,
            sandbox: (!request.sandbox.is_empty()).then_some(request.sandbox),
        };
        tracing::info!(%task, agent = %id, state = %report.state, "status update");
        self.control_plane
            .mutate(|state, now| Ok(((), state.update_status(&id, &task, report, now))))
            .await
            .map_err(core_status)?;
        Ok(Response::new(v1::UpdateTaskStatusResponse {}))
    }

    async fn executor_message(
        &self,
        request: Request<v1::ExecutorMessageFromAgent>,
    ) -> Result<Response<v1::ExecutorMessageFromAgentResponse>, Status> {
        let request = request.into_inner();
        let id = agent_id(&request.agent_id)?;
        let task = TaskId(request.task_id);
        if request.data.len() > 1024 * 1024 {
            return Err(Status::invalid_argument(format!("a message of {} bytes; at most 1 MiB", request.data.len())));
        }
        let data = request.data;
        self.control_plane
            .mutate(|state, _| Ok(((), state.message_from_executor(&id, &task, data))))
            .await
            .map_err(core_status)?;
        Ok(Response::new(v1::ExecutorMessageFromAgentResponse {}))
    }
}

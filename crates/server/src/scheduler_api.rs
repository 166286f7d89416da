//! The client-facing `atoll.v1.SchedulerService`: converts requests to the model, runs them
//! through the core, and maps refusals to gRPC status codes.

use std::collections::BTreeSet;

use atoll_model::{JobKeyPrefix, JobSpec, ScheduledTask, TaskState};
use atoll_proto::v1::{self, scheduler_service_server::SchedulerService};
use atoll_proto::{WireError, job_key, ports_to_wire};
use atoll_state::{ClusterState, PendingReason, StateError};
use tonic::{Request, Response, Status};

use crate::auth::caller;
use crate::core::{ControlPlane, CoreError};

pub(crate) struct SchedulerApi {
    control_plane: ControlPlane,
}

impl SchedulerApi {
    pub(crate) fn new(control_plane: ControlPlane) -> SchedulerApi {
        SchedulerApi { control_plane }
    }
}

pub(crate) fn wire_status(e: WireError) -> Status {
    Status::invalid_argument(e.to_string())
}

pub(crate) fn core_status(e: CoreError) -> Status {
    match e {
        CoreError::Refused(refusal) => match refusal {
            StateError::JobExists(_) | StateError::AgentIdInUse { .. } => Status::already_exists(refusal.to_string()),
            StateError::JobNotFound(_) => Status::not_found(refusal.to_string()),
            StateError::WrongCluster { .. }
            | StateError::InvalidJob { .. }
            | StateError::NoSuchInstances { .. }
            | StateError::NoInstancesGiven
            | StateError::ZeroBatchSize
            | StateError::NothingToAdd
            | StateError::TooManyInstances { .. }
            | StateError::CronJobViaCreate(_)
            | StateError::NotACronJob(_)
            | StateError::CronJobInstances(_) => Status::invalid_argument(refusal.to_string()),
            StateError::CronJobNotFound(_) => Status::not_found(refusal.to_string()),
            StateError::InsufficientQuota(_) => Status::resource_exhausted(refusal.to_string()),
            StateError::NotAService(_) => Status::invalid_argument(refusal.to_string()),
            StateError::NoActiveUpdate(_)
            | StateError::RestartInProgress(_)
            | StateError::UpdateInProgress { .. }
            | StateError::UpdateRefuses { .. }
            | StateError::NotPulsed { .. } => Status::failed_precondition(refusal.to_string()),
            StateError::Framework(refusal) => crate::frameworks_api::refusal_status(refusal),
        },
        CoreError::Storage(_) | CoreError::StoreFailed(_) => Status::internal(e.to_string()),
        // As gRPC means it: the deadline passed, and the change may still complete.
        CoreError::NotDurable(_) => Status::deadline_exceeded(e.to_string()),
    }
}

fn task_status(state: &ClusterState, task: &ScheduledTask) -> v1::TaskStatus {
    let assignment = task.assignment.as_ref();
    v1::TaskStatus {
        task_id: task.id.0.clone(),
        instance: task.instance,
        state: v1::TaskState::from(task.state) as i32,
        host: assignment.map(|a| a.hostname.clone()).unwrap_or_default(),
        ports: assignment.map(|a| ports_to_wire(&a.ports)).unwrap_or_default(),
        sandbox: task.sandbox.clone().unwrap_or_default(),
        pending_reason: match task.state {
            TaskState::Pending => state.pending_reason(&task.id).unwrap_or("Waiting for a placement round").to_owned(),
            TaskState::Throttled => task.events.last().map(|e| e.message.clone()).unwrap_or_default(),
            _ => String::new(),
        },
        exit_code: task.exit_code,
        events: task
            .events
            .iter()
            .map(|e| v1::TaskEvent {
                at_ms: e.at_ms,
                state: v1::TaskState::from(e.state) as i32,
                message: e.message.clone(),
            })
            .collect(),
        failure_count: task.failure_count,
        config_version: task.config.id().to_string(),
        pending: (task.state == TaskState::Pending).then(|| state.why_pending(&task.id)).flatten().map(pending_to_wire),
    }
}

/// A pending reason in full: the summary and every veto with its host counts and examples.
pub(crate) fn pending_to_wire(reason: &PendingReason) -> v1::PendingReason {
    v1::PendingReason {
        summary: reason.summary.clone(),
        vetoes: reason
            .vetoes
            .iter()
            .map(|v| v1::Veto { reason: v.reason.clone(), hosts: v.hosts, examples: v.examples.clone() })
            .collect(),
    }
}

#[tonic::async_trait]
impl SchedulerService for SchedulerApi {
    async fn create_job(
        &self,
        request: Request<v1::CreateJobRequest>,
    ) -> Result<Response<v1::CreateJobResponse>, Status> {
        let caller = caller(&request)?;
        let config = request.into_inner().job.ok_or_else(|| Status::invalid_argument("invalid job: missing"))?;
        let spec = JobSpec::try_from(&config).map_err(wire_status)?;
        let key = spec.key.clone();
        let ids = self
            .control_plane
            .put_job(&caller, &spec.clone(), "create", "CreateJob", |state, now| state.create_job(spec, now))
            .await?;
        tracing::info!(job = %key, instances = ids.len(), "job created");
        Ok(Response::new(v1::CreateJobResponse { task_ids: ids.into_iter().map(|id| id.0).collect() }))
    }

    async fn kill_tasks(
        &self,
        request: Request<v1::KillTasksRequest>,
    ) -> Result<Response<v1::KillTasksResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let key = job_key(request.job.as_ref()).map_err(wire_status)?;
        let instances: Option<BTreeSet<u32>> =
            if request.kill_all { None } else { Some(request.instances.into_iter().collect()) };
        let killed = self
            .control_plane
            .change_job(&caller, &key, "kill", "KillTasks", |state, now| state.kill(&key, instances.as_ref(), now))
            .await?;
        tracing::info!(job = %key, tasks = killed.len(), "kill requested");
        Ok(Response::new(v1::KillTasksResponse { task_ids: killed.into_iter().map(|id| id.0).collect() }))
    }

    async fn list_jobs(&self, request: Request<v1::ListJobsRequest>) -> Result<Response<v1::ListJobsResponse>, Status> {
        let request = request.into_inner();
        let mut text = request.cluster.clone();
        for part in [&request.role, &request.environment].into_iter().flatten() {
            text = format!("{text}/{part}");
        }
        let prefix: JobKeyPrefix =
            text.parse().map_err(|e: atoll_model::JobKeyError| Status::invalid_argument(e.to_string()))?;
        let jobs = self.control_plane.read(|state| state.list_jobs(&prefix));
        Ok(Response::new(v1::ListJobsResponse {
            jobs: jobs
                .into_iter()
                .map(|j| v1::JobSummary {
                    key: Some((&j.key).into()),
                    service: j.service,
                    instances: j.instances,
                    pending: j.pending,
                    active: j.active,
                    finished: j.finished,
                    failed: j.failed,
                    cron_schedule: j.cron_schedule,
                })
                .collect(),
        }))
    }

    async fn get_tasks(&self, request: Request<v1::GetTasksRequest>) -> Result<Response<v1::GetTasksResponse>, Status> {
        let request = request.into_inner();
        let key = job_key(request.job.as_ref()).map_err(wire_status)?;
        let tasks = self.control_plane.read(|state| {
            if !state.knows_job(&key) {
                return Err(Status::not_found(StateError::JobNotFound(Box::new(key.clone())).to_string()));
            }
            Ok(state.job_tasks(&key, request.include_history).into_iter().map(|t| task_status(state, t)).collect())
        })?;
        Ok(Response::new(v1::GetTasksResponse { tasks }))
    }

    async fn get_job_config(
        &self,
        request: Request<v1::GetJobConfigRequest>,
    ) -> Result<Response<v1::GetJobConfigResponse>, Status> {
        let key = job_key(request.into_inner().job.as_ref()).map_err(wire_status)?;
        let job = self
            .control_plane
            .read(|state| state.job(&key).map(v1::JobConfig::from))
            .ok_or_else(|| Status::not_found(StateError::JobNotFound(Box::new(key.clone())).to_string()))?;
        Ok(Response::new(v1::GetJobConfigResponse { job: Some(job) }))
    }

    async fn restart_tasks(
        &self,
        request: Request<v1::RestartTasksRequest>,
    ) -> Result<Response<v1::RestartTasksResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let key = job_key(request.job.as_ref()).map_err(wire_status)?;
        let instances: Option<BTreeSet<u32>> =
            if request.instances.is_empty() { None } else { Some(request.instances.into_iter().collect()) };
        let restarted = self
            .control_plane
            .change_job(&caller, &key, "restart", "RestartTasks", |state, now| {
                state.restart(&key, instances.as_ref(), request.batch_size, now)
            })
            .await?;
        tracing::info!(job = %key, instances = restarted.len(), batch_size = request.batch_size, "restart started");
        let restarted = restarted
            .into_iter()
            .map(|r| v1::RestartedInstance { instance: r.instance, task_id: r.replaces.0 })
            .collect();
        Ok(Response::new(v1::RestartTasksResponse { restarted }))
    }

    async fn add_instances(
        &self,
        request: Request<v1::AddInstancesRequest>,
    ) -> Result<Response<v1::AddInstancesResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let key = job_key(request.job.as_ref()).map_err(wire_status)?;
        let (first, ids) = self
            .control_plane
            .change_job(&caller, &key, "add instances to", "AddInstances", |state, now| {
                let first = state.job(&key).map_or(0, |job| job.instances);
                let (ids, outcome) = state.add_instances(&key, request.instance, request.count, now)?;
                Ok(((first, ids), outcome))
            })
            .await?;
        tracing::info!(job = %key, added = ids.len(), "instances added");
        Ok(Response::new(v1::AddInstancesResponse {
            instances: (first..).take(ids.len()).collect(),
            task_ids: ids.into_iter().map(|id| id.0).collect(),
        }))
    }
}

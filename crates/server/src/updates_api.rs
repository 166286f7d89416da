//! The client-facing `atoll.v1.UpdateService`: starting, steering and reading rolling updates,
//! and the diff and dry-run plan of a proposed config. Each change is durable before it answers;
//! diffs and plans only read.

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::{ConfigId, ConfigVersion, JobKey, JobKeyPrefix, JobSpec};
use atoll_proto::v1::update_service_server::{UpdateService, UpdateServiceServer};
use atoll_proto::v1::{self};
use atoll_proto::{job_key, update_state};
use atoll_state::{InstanceChange, JobUpdate, Progress, StateError, UpdateAction, UpdatePlan, UpdateStart};
use tonic::{Request, Response, Status};

use crate::auth::caller;
use crate::core::ControlPlane;
use crate::scheduler_api::{core_status, pending_to_wire, wire_status};

pub(crate) struct UpdateApi {
    control_plane: ControlPlane,
}

/// The service, ready to serve.
pub(crate) fn service(control_plane: ControlPlane) -> UpdateServiceServer<UpdateApi> {
    UpdateServiceServer::new(UpdateApi { control_plane })
}

/// The proposed job and the instances a request names (None: all).
fn proposal(job: Option<&v1::JobConfig>, instances: &[u32]) -> Result<(JobSpec, Option<BTreeSet<u32>>), Status> {
    let config = job.ok_or_else(|| Status::invalid_argument("invalid job: missing"))?;
    let spec = JobSpec::try_from(config).map_err(wire_status)?;
    let scope = (!instances.is_empty()).then(|| instances.iter().copied().collect());
    Ok((spec, scope))
}

impl UpdateApi {
    async fn act(
        &self,
        request: Request<v1::JobUpdateRequest>,
        action: UpdateAction,
    ) -> Result<Response<v1::JobUpdateActionResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let key = job_key(request.job.as_ref()).map_err(wire_status)?;
        let verb = format!("{action:?} the update of").to_lowercase();
        let (id, state) = self
            .control_plane
            .change_job(&caller, &key, &verb, &format!("{action:?}JobUpdate"), |state, now| {
                let id = state.active_update(&key).map(|u| u.id);
                let message = (!request.message.is_empty()).then_some(request.message.as_str());
                let (after, outcome) = state.act_on_update(&key, action, message, now)?;
                Ok(((id.unwrap_or_default(), after), outcome))
            })
            .await?;
        tracing::info!(job = %key, update = id, ?action, state = state.name(), "update action");
        Ok(Response::new(v1::JobUpdateActionResponse { update_id: id, state: v1::JobUpdateState::from(state) as i32 }))
    }
}

#[tonic::async_trait]
impl UpdateService for UpdateApi {
    async fn start_job_update(
        &self,
        request: Request<v1::StartJobUpdateRequest>,
    ) -> Result<Response<v1::StartJobUpdateResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let (spec, scope) = proposal(request.job.as_ref(), &request.instances)?;
        let key = spec.key.clone();
        let message = (!request.message.is_empty()).then_some(request.message);
        let started = self
            .control_plane
            .put_job(&caller, &spec.clone(), "update", "StartJobUpdate", |state, now| {
                state.start_update(spec, scope.as_ref(), message, now)
            })
            .await?;
        Ok(Response::new(match started {
            UpdateStart::Unchanged => {
                v1::StartJobUpdateResponse { unchanged: true, update_id: 0, instances: Vec::new() }
            }
            UpdateStart::Started { id, instances } => {
                tracing::info!(job = %key, update = id, instances = instances.len(), "update started");
                v1::StartJobUpdateResponse { unchanged: false, update_id: id, instances }
            }
        }))
    }

    async fn pause_job_update(
        &self,
        request: Request<v1::JobUpdateRequest>,
    ) -> Result<Response<v1::JobUpdateActionResponse>, Status> {
        self.act(request, UpdateAction::Pause).await
    }

    async fn resume_job_update(
        &self,
        request: Request<v1::JobUpdateRequest>,
    ) -> Result<Response<v1::JobUpdateActionResponse>, Status> {
        self.act(request, UpdateAction::Resume).await
    }

    async fn abort_job_update(
        &self,
        request: Request<v1::JobUpdateRequest>,
    ) -> Result<Response<v1::JobUpdateActionResponse>, Status> {
        self.act(request, UpdateAction::Abort).await
    }

    async fn rollback_job_update(
        &self,
        request: Request<v1::JobUpdateRequest>,
    ) -> Result<Response<v1::JobUpdateActionResponse>, Status> {
        self.act(request, UpdateAction::Rollback).await
    }

    async fn pulse_job_update(
        &self,
        request: Request<v1::JobUpdateRequest>,
    ) -> Result<Response<v1::JobUpdateActionResponse>, Status> {
        self.act(request, UpdateAction::Pulse).await
    }

    async fn get_job_update(
        &self,
        request: Request<v1::GetJobUpdateRequest>,
    ) -> Result<Response<v1::GetJobUpdateResponse>, Status> {
        let request = request.into_inner();
        let key = job_key(request.job.as_ref()).map_err(wire_status)?;
        let update = self.control_plane.read(|state| {
            let found = match request.update_id {
                Some(id) => state.job_update(id).filter(|u| u.job == key),
                None => state.latest_update(&key),
            };
            found.map(update_to_wire).ok_or_else(|| match request.update_id {
                Some(id) => Status::not_found(format!(
                    "job {key} has no update {id}; `atoll update list {key}` lists its updates"
                )),
                None if state.job(&key).is_none() => {
                    Status::not_found(StateError::JobNotFound(Box::new(key.clone())).to_string())
                }
                None => Status::not_found(format!("job {key} has never been updated")),
            })
        })?;
        Ok(Response::new(v1::GetJobUpdateResponse { update: Some(update) }))
    }

    async fn list_job_updates(
        &self,
        request: Request<v1::ListJobUpdatesRequest>,
    ) -> Result<Response<v1::ListJobUpdatesResponse>, Status> {
        let request = request.into_inner();
        let mut text = request.cluster.clone();
        for part in [&request.role, &request.environment].into_iter().flatten() {
            text = format!("{text}/{part}");
        }
        let prefix: JobKeyPrefix =
            text.parse().map_err(|e: atoll_model::JobKeyError| Status::invalid_argument(e.to_string()))?;
        let states = request
            .states
            .iter()
            .map(|raw| update_state(*raw))
            .collect::<Result<BTreeSet<_>, _>>()
            .map_err(wire_status)?;
        let updates = self.control_plane.read(|state| {
            state
                .list_updates(&prefix, request.name.as_deref())
                .into_iter()
                .filter(|u| states.is_empty() || states.contains(&u.state))
                .map(summary_to_wire)
                .collect()
        });
        Ok(Response::new(v1::ListJobUpdatesResponse { updates }))
    }

    async fn diff_job(&self, request: Request<v1::DiffJobRequest>) -> Result<Response<v1::DiffJobResponse>, Status> {
        let request = request.into_inner();
        let (spec, scope) = proposal(request.job.as_ref(), &request.instances)?;
        let changes =
            self.control_plane.read(|state| state.diff(&spec, scope.as_ref())).map_err(|e| core_status(e.into()))?;
        Ok(Response::new(v1::DiffJobResponse {
            proposed_config: ConfigId::of(&spec.config).to_string(),
            instances: changes.iter().map(change_to_wire).collect(),
            groups: groups(&spec.key, &changes),
        }))
    }

    async fn plan_job_update(
        &self,
        request: Request<v1::PlanJobUpdateRequest>,
    ) -> Result<Response<v1::PlanJobUpdateResponse>, Status> {
        let request = request.into_inner();
        let (spec, scope) = proposal(request.job.as_ref(), &request.instances)?;
        let key = spec.key.clone();
        let now = self.control_plane.now_ms();
        // The dry run works on a copy, taken under the state lock and run outside it, so that
        // planning holds up no report or placement.
        let (copy, changes) = self
            .control_plane
            .read(|state| Ok::<_, StateError>((state.clone(), state.diff(&spec, scope.as_ref())?)))
            .map_err(|e| core_status(e.into()))?;
        let plan = tokio::task::spawn_blocking(move || copy.into_plan(spec, scope.as_ref(), now))
            .await
            .map_err(|e| Status::internal(format!("the plan did not finish: {e}")))?
            .map_err(|e| core_status(e.into()))?;
        Ok(Response::new(plan_to_wire(&plan, groups(&key, &changes))))
    }
}

fn summary_to_wire(update: &JobUpdate) -> v1::JobUpdateSummary {
    let count = |progress: Progress| update.instances.iter().filter(|i| i.progress == progress).count() as u32;
    v1::JobUpdateSummary {
        id: update.id,
        job: Some((&update.job).into()),
        state: v1::JobUpdateState::from(update.state) as i32,
        created_ms: update.created_ms(),
        updated_ms: update.updated_ms(),
        instances: update.instances.len() as u32,
        succeeded: count(Progress::Succeeded),
        failed: count(Progress::Failed),
        message: update.message.clone().unwrap_or_default(),
    }
}

fn update_to_wire(update: &JobUpdate) -> v1::JobUpdate {
    let id_text = |id: Option<ConfigId>| id.map(|id| id.to_string()).unwrap_or_default();
    v1::JobUpdate {
        id: update.id,
        job: Some((&update.job).into()),
        state: v1::JobUpdateState::from(update.state) as i32,
        settings: Some(atoll_proto::update_config_to_wire(&update.settings)),
        instances: update
            .instances
            .iter()
            .map(|i| v1::InstanceUpdate {
                instance: i.instance,
                initial_config: id_text(i.initial),
                desired_config: id_text(i.desired),
                progress: v1::InstanceProgress::from(i.progress) as i32,
                failures: i.failures,
                task_id: i.attempt.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
                events: i
                    .events
                    .iter()
                    .map(|e| v1::InstanceUpdateEvent {
                        at_ms: e.at_ms,
                        action: v1::InstanceAction::from(e.action) as i32,
                        message: e.message.clone(),
                    })
                    .collect(),
            })
            .collect(),
        message: update.message.clone().unwrap_or_default(),
        events: update
            .events
            .iter()
            .map(|e| v1::JobUpdateEvent {
                at_ms: e.at_ms,
                state: v1::JobUpdateState::from(e.state) as i32,
                message: e.message.clone(),
            })
            .collect(),
        created_ms: update.created_ms(),
        updated_ms: update.updated_ms(),
        last_pulse_ms: update.last_pulse_ms,
        batch: update.batch_progress().0,
        batches: update.batch_progress().1,
    }
}

fn change_to_wire(change: &InstanceChange) -> v1::InstanceChange {
    v1::InstanceChange {
        instance: change.instance,
        kind: v1::InstanceChangeKind::from(change.kind) as i32,
        current_config: change.current.as_ref().map(|c| c.id().to_string()).unwrap_or_default(),
    }
}

/// The configs the instances in `changes` run now, each with its instances.
fn groups(job: &JobKey, changes: &[InstanceChange]) -> Vec<v1::ConfigGroup> {
    let mut groups: BTreeMap<ConfigId, (ConfigVersion, Vec<u32>)> = BTreeMap::new();
    for change in changes {
        if let Some(current) = &change.current {
            groups.entry(current.id()).or_insert_with(|| (current.clone(), Vec::new())).1.push(change.instance);
        }
    }
    groups
        .into_values()
        .map(|(version, instances)| {
            let mut spec = JobSpec::new(job.clone(), version.task.clone());
            spec.config = version.config().clone();
            spec.instances = instances.len() as u32;
            v1::ConfigGroup { config_id: version.id().to_string(), config: Some((&spec).into()), instances }
        })
        .collect()
}

fn plan_to_wire(plan: &UpdatePlan, groups: Vec<v1::ConfigGroup>) -> v1::PlanJobUpdateResponse {
    v1::PlanJobUpdateResponse {
        unchanged: plan.is_unchanged(),
        outcome: plan.outcome.map_or(0, |state| v1::JobUpdateState::from(state) as i32),
        proposed_config: plan.proposed.to_string(),
        instances: plan
            .instances
            .iter()
            .map(|i| v1::PlannedInstance {
                instance: i.instance,
                kind: v1::InstanceChangeKind::from(i.kind) as i32,
                current_config: i.current.map(|c| c.to_string()).unwrap_or_default(),
                from_host: i.from_host.clone().unwrap_or_default(),
                to_host: i.to_host.clone().unwrap_or_default(),
                pending: i.pending.as_deref().map(pending_to_wire),
                reached: i.reached,
            })
            .collect(),
        preempted: plan
            .preempted
            .iter()
            .map(|(task, host)| v1::PreemptedTask { task_id: task.0.clone(), host: host.clone() })
            .collect(),
        groups,
    }
}

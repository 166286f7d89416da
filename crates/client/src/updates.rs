//! Calls of the update service: starting and steering rolling updates, reading them, and the
//! diff and dry-run plan of a proposed job.

use std::collections::BTreeSet;

use atoll_model::{JobKey, JobKeyPrefix, JobSpec, UpdateState};
use atoll_proto::v1::{self, update_service_client::UpdateServiceClient};

use crate::{ClientError, SchedulerClient, Transport};

/// What to do to a job's update in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateCall {
    Pause,
    Resume,
    Abort,
    Rollback,
    Pulse,
}

fn scope(instances: Option<&BTreeSet<u32>>) -> Vec<u32> {
    instances.map(|set| set.iter().copied().collect()).unwrap_or_default()
}

impl SchedulerClient {
    fn updates(&self) -> UpdateServiceClient<Transport> {
        UpdateServiceClient::new(self.channel.clone())
    }

    /// Starts updating `job.key` to `job` (the given instances, or all).
    pub async fn start_update(
        &self,
        job: &JobSpec,
        instances: Option<&BTreeSet<u32>>,
        message: Option<&str>,
    ) -> Result<v1::StartJobUpdateResponse, ClientError> {
        let request = v1::StartJobUpdateRequest {
            job: Some(job.into()),
            instances: scope(instances),
            message: message.unwrap_or_default().to_owned(),
        };
        let response = self.updates().start_job_update(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner())
    }

    /// Pauses, resumes, aborts, rolls back or pulses the job's update in progress.
    pub async fn update_call(
        &self,
        job: &JobKey,
        call: UpdateCall,
        message: Option<&str>,
    ) -> Result<v1::JobUpdateActionResponse, ClientError> {
        let request = v1::JobUpdateRequest { job: Some(job.into()), message: message.unwrap_or_default().to_owned() };
        let mut updates = self.updates();
        let response = match call {
            UpdateCall::Pause => updates.pause_job_update(request).await,
            UpdateCall::Resume => updates.resume_job_update(request).await,
            UpdateCall::Abort => updates.abort_job_update(request).await,
            UpdateCall::Rollback => updates.rollback_job_update(request).await,
            UpdateCall::Pulse => updates.pulse_job_update(request).await,
        };
        Ok(response.map_err(|s| self.api_error(s))?.into_inner())
    }

    /// Update `id` of `job`, or its newest.
    pub async fn job_update(&self, job: &JobKey, id: Option<u64>) -> Result<v1::JobUpdate, ClientError> {
        let request = v1::GetJobUpdateRequest { job: Some(job.into()), update_id: id };
        let response = self.updates().get_job_update(request).await.map_err(|s| self.api_error(s))?;
        response.into_inner().update.ok_or_else(|| ClientError::Malformed("no update in the answer".into()))
    }

    /// The updates under `prefix` (of job `name` there, if given) in `states` (all if empty).
    pub async fn list_updates(
        &self,
        prefix: &JobKeyPrefix,
        name: Option<&str>,
        states: &BTreeSet<UpdateState>,
    ) -> Result<Vec<v1::JobUpdateSummary>, ClientError> {
        let request = v1::ListJobUpdatesRequest {
            cluster: prefix.cluster.clone(),
            role: prefix.role.clone(),
            environment: prefix.environment.clone(),
            name: name.map(str::to_owned),
            states: states.iter().map(|s| v1::JobUpdateState::from(*s) as i32).collect(),
        };
        let response = self.updates().list_job_updates(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner().updates)
    }

    /// How each instance compares with `job`.
    pub async fn diff(
        &self,
        job: &JobSpec,
        instances: Option<&BTreeSet<u32>>,
    ) -> Result<v1::DiffJobResponse, ClientError> {
        let request = v1::DiffJobRequest { job: Some(job.into()), instances: scope(instances) };
        Ok(self.updates().diff_job(request).await.map_err(|s| self.api_error(s))?.into_inner())
    }

    /// A dry run of updating to `job`.
    pub async fn plan(
        &self,
        job: &JobSpec,
        instances: Option<&BTreeSet<u32>>,
    ) -> Result<v1::PlanJobUpdateResponse, ClientError> {
        let request = v1::PlanJobUpdateRequest { job: Some(job.into()), instances: scope(instances) };
        Ok(self.updates().plan_job_update(request).await.map_err(|s| self.api_error(s))?.into_inner())
    }
}

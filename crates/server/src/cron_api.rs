//! The client-facing `atoll.v1.CronService`: scheduling, descheduling, starting and reading
//! cron jobs. Each change is durable before it answers.

use atoll_model::JobSpec;
use atoll_proto::job_key;
use atoll_proto::v1::cron_service_server::{CronService, CronServiceServer};
use atoll_proto::v1::{self};
use atoll_state::{CronView, Scheduled};
use tonic::{Request, Response, Status};

use crate::auth::caller;
use crate::core::ControlPlane;
use crate::scheduler_api::wire_status;

pub(crate) struct CronApi {
    control_plane: ControlPlane,
}

/// The service, ready to serve.
pub(crate) fn service(control_plane: ControlPlane) -> CronServiceServer<CronApi> {
    CronServiceServer::new(CronApi { control_plane })
}

fn view_to_wire(view: CronView) -> v1::GetCronJobResponse {
    let record = view.record;
    v1::GetCronJobResponse {
        template: Some(v1::JobConfig::from(&view.template)),
        zone: record.zone,
        starting_deadline_secs: record.starting_deadline_ms / 1000,
        scheduled_at_ms: record.scheduled_at_ms,
        handled_ms: record.handled_ms,
        runs: record
            .runs
            .into_iter()
            .map(|run| v1::CronRun {
                due_ms: run.due_ms,
                at_ms: run.at_ms,
                state: run.state.name().to_owned(),
                message: run.message,
            })
            .collect(),
        next_ms: view.next_ms,
    }
}

#[tonic::async_trait]
impl CronService for CronApi {
    async fn schedule_cron_job(
        &self,
        request: Request<v1::ScheduleCronJobRequest>,
    ) -> Result<Response<v1::ScheduleCronJobResponse>, Status> {
        let caller = caller(&request)?;
        let config = request.into_inner().job.ok_or_else(|| Status::invalid_argument("invalid job: missing"))?;
        let spec = JobSpec::try_from(&config).map_err(wire_status)?;
        let key = spec.key.clone();
        let scheduled = self
            .control_plane
            .put_job(&caller, &spec.clone(), "schedule", "ScheduleCronJob", |state, now| state.schedule_cron(spec, now))
            .await?;
        tracing::info!(job = %key, ?scheduled, "cron job scheduled");
        Ok(Response::new(v1::ScheduleCronJobResponse { replaced: scheduled == Scheduled::Replaced }))
    }

    async fn deschedule_cron_job(
        &self,
        request: Request<v1::CronJobRequest>,
    ) -> Result<Response<v1::DescheduleCronJobResponse>, Status> {
        let caller = caller(&request)?;
        let key = job_key(request.into_inner().job.as_ref()).map_err(wire_status)?;
        self.control_plane
            .change_job(&caller, &key, "deschedule", "DescheduleCronJob", |state, now| {
                Ok(((), state.deschedule_cron(&key, now)?))
            })
            .await?;
        tracing::info!(job = %key, "cron job descheduled");
        Ok(Response::new(v1::DescheduleCronJobResponse {}))
    }

    async fn start_cron_job(
        &self,
        request: Request<v1::CronJobRequest>,
    ) -> Result<Response<v1::StartCronJobResponse>, Status> {
        let caller = caller(&request)?;
        let key = job_key(request.into_inner().job.as_ref()).map_err(wire_status)?;
        let started = self
            .control_plane
            .change_job(&caller, &key, "start", "StartCronJob", |state, now| state.start_cron(&key, now))
            .await?;
        tracing::info!(job = %key, state = started.name(), "cron job started by request");
        Ok(Response::new(v1::StartCronJobResponse { state: started.name().to_owned() }))
    }

    async fn get_cron_job(
        &self,
        request: Request<v1::CronJobRequest>,
    ) -> Result<Response<v1::GetCronJobResponse>, Status> {
        let key = job_key(request.into_inner().job.as_ref()).map_err(wire_status)?;
        let now = self.control_plane.now_ms();
        let view = self.control_plane.read(|state| state.cron_job(&key, now));
        let view = view.ok_or_else(|| {
            Status::not_found(atoll_state::StateError::CronJobNotFound(Box::new(key.clone())).to_string())
        })?;
        Ok(Response::new(view_to_wire(view)))
    }
}

//! Calls of the cron service: scheduling, descheduling, starting and reading cron jobs.

use atoll_model::{JobKey, JobSpec};
use atoll_proto::v1::{self, cron_service_client::CronServiceClient};

use crate::{ClientError, SchedulerClient, Transport};

impl SchedulerClient {
    fn cron(&self) -> CronServiceClient<Transport> {
        CronServiceClient::new(self.channel.clone())
    }

    /// Creates or replaces the cron job `job`; answers whether it replaced one.
    pub async fn schedule_cron(&self, job: &JobSpec) -> Result<bool, ClientError> {
        let request = v1::ScheduleCronJobRequest { job: Some(job.into()) };
        let response = self.cron().schedule_cron_job(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner().replaced)
    }

    pub async fn deschedule_cron(&self, job: &JobKey) -> Result<(), ClientError> {
        let request = v1::CronJobRequest { job: Some(job.into()) };
        self.cron().deschedule_cron_job(request).await.map_err(|s| self.api_error(s))?;
        Ok(())
    }

    /// Starts a run now; answers what became of it (RUNNING, WAITING or SKIPPED).
    pub async fn start_cron(&self, job: &JobKey) -> Result<String, ClientError> {
        let request = v1::CronJobRequest { job: Some(job.into()) };
        let response = self.cron().start_cron_job(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner().state)
    }

    pub async fn cron_job(&self, job: &JobKey) -> Result<v1::GetCronJobResponse, ClientError> {
        let request = v1::CronJobRequest { job: Some(job.into()) };
        let response = self.cron().get_cron_job(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner())
    }
}

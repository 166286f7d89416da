//! Calls beyond creating and watching jobs: rolling restarts, added instances (on the
//! scheduler service), and the admin service's host maintenance and quota.

use std::collections::BTreeSet;

use atoll_model::{JobKey, ResourceAggregate};
use atoll_proto::v1::{self, admin_service_client::AdminServiceClient};

use crate::{ClientError, SchedulerClient, Transport};

/// What maintenance call to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostCall {
    Drain,
    Deactivate,
    Activate,
    Status,
}

impl SchedulerClient {
    fn admin(&self) -> AdminServiceClient<Transport> {
        AdminServiceClient::new(self.channel.clone())
    }

    /// Starts a rolling restart of the given instances (every instance with `None`); returns
    /// each instance it covers with the task it replaces.
    pub async fn restart(
        &self,
        job: &JobKey,
        instances: Option<&BTreeSet<u32>>,
        batch_size: u32,
    ) -> Result<Vec<(u32, String)>, ClientError> {
        let request = v1::RestartTasksRequest {
            job: Some(job.into()),
            instances: instances.map(|set| set.iter().copied().collect()).unwrap_or_default(),
            batch_size,
        };
        let response = self.inner.clone().restart_tasks(request).await.map_err(|s| self.api_error(s))?;
        Ok(response.into_inner().restarted.into_iter().map(|r| (r.instance, r.task_id)).collect())
    }

    /// Adds `count` instances cloned from `instance`; returns each new instance with its task.
    pub async fn add_instances(
        &self,
        job: &JobKey,
        instance: u32,
        count: u32,
    ) -> Result<Vec<(u32, String)>, ClientError> {
        let request = v1::AddInstancesRequest { job: Some(job.into()), instance, count };
        let response = self.inner.clone().add_instances(request).await.map_err(|s| self.api_error(s))?.into_inner();
        Ok(response.instances.into_iter().zip(response.task_ids).collect())
    }

    /// Drains, deactivates, activates or reads the maintenance mode of `hosts` (of every known
    /// host for a status call without hosts).
    pub async fn hosts(&self, call: HostCall, hosts: &[String]) -> Result<Vec<v1::HostStatus>, ClientError> {
        let request = v1::HostsRequest { hosts: hosts.to_vec() };
        let mut admin = self.admin();
        let response = match call {
            HostCall::Drain => admin.drain_hosts(request).await,
            HostCall::Deactivate => admin.deactivate_hosts(request).await,
            HostCall::Activate => admin.activate_hosts(request).await,
            HostCall::Status => admin.host_status(request).await,
        };
        Ok(response.map_err(|s| self.api_error(s))?.into_inner().hosts)
    }

    /// `role`'s production quota and what its tasks use.
    pub async fn quota(&self, cluster: &str, role: &str) -> Result<v1::GetQuotaResponse, ClientError> {
        let request = v1::GetQuotaRequest { cluster: cluster.to_owned(), role: role.to_owned() };
        Ok(self.admin().get_quota(request).await.map_err(|s| self.api_error(s))?.into_inner())
    }

    /// Sets `role`'s production quota.
    pub async fn set_quota(&self, cluster: &str, role: &str, quota: &ResourceAggregate) -> Result<(), ClientError> {
        let request =
            v1::SetQuotaRequest { cluster: cluster.to_owned(), role: role.to_owned(), quota: Some(quota.into()) };
        self.admin().set_quota(request).await.map_err(|s| self.api_error(s))?;
        Ok(())
    }
}

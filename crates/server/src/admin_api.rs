//! The operator-facing `atoll.v1.AdminService`: host maintenance (drain, activate, status) and
//! production quota per role, each change durable before it answers.

use atoll_model::{JobKeyPrefix, MaintenanceMode, ResourceAggregate};
use atoll_proto::v1;
use atoll_proto::v1::admin_service_server::{AdminService, AdminServiceServer};
use atoll_state::HostMaintenance;
use tonic::{Request, Response, Status};

use crate::auth::caller;
use crate::core::ControlPlane;
use crate::scheduler_api::{core_status, wire_status};

pub(crate) struct AdminApi {
    control_plane: ControlPlane,
}

/// The service, ready to serve.
pub(crate) fn service(control_plane: ControlPlane) -> AdminServiceServer<AdminApi> {
    AdminServiceServer::new(AdminApi { control_plane })
}

impl AdminApi {
    /// Puts the request's hosts into `mode` and answers with their modes afterwards.
    async fn set_mode(
        &self,
        request: Request<v1::HostsRequest>,
        mode: MaintenanceMode,
    ) -> Result<Response<v1::HostsResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        if request.hosts.is_empty() {
            return Err(Status::invalid_argument("no hosts given; name at least one host"));
        }
        let (call, verb) = match mode {
            MaintenanceMode::Drained => ("DrainHosts", "drain hosts"),
            MaintenanceMode::Scheduled => ("DeactivateHosts", "schedule maintenance of hosts"),
            _ => ("ActivateHosts", "end maintenance of hosts"),
        };
        let result = match caller.must_be_admin(verb) {
            Ok(()) => self
                .control_plane
                .mutate(|state, now| Ok(state.set_maintenance(&request.hosts, mode, now)))
                .await
                .map_err(core_status),
            Err(refused) => Err(refused),
        };
        self.control_plane.audit(&caller, call, &request.hosts.join(","), &result);
        let hosts = result?;
        tracing::info!(hosts = ?request.hosts, mode = mode.name(), "maintenance set");
        Ok(Response::new(hosts_response(hosts)))
    }

    /// The role a request names, checked against this scheduler's cluster.
    fn role(&self, cluster: &str, role: &str) -> Result<String, Status> {
        let prefix: JobKeyPrefix = format!("{cluster}/{role}")
            .parse()
            .map_err(|e: atoll_model::JobKeyError| Status::invalid_argument(e.to_string()))?;
        let ours = &self.control_plane.config().state.cluster;
        if prefix.cluster != *ours {
            return Err(Status::invalid_argument(format!(
                "quota of cluster '{}' asked of the scheduler of cluster '{ours}'",
                prefix.cluster
            )));
        }
        prefix.role.ok_or_else(|| Status::invalid_argument("invalid role: missing"))
    }
}

fn hosts_response(hosts: Vec<HostMaintenance>) -> v1::HostsResponse {
    v1::HostsResponse {
        hosts: hosts
            .into_iter()
            .map(|h| v1::HostStatus { host: h.host, mode: h.mode.map(|m| v1::MaintenanceMode::from(m) as i32) })
            .collect(),
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn drain_hosts(&self, request: Request<v1::HostsRequest>) -> Result<Response<v1::HostsResponse>, Status> {
        self.set_mode(request, MaintenanceMode::Drained).await
    }

    async fn deactivate_hosts(
        &self,
        request: Request<v1::HostsRequest>,
    ) -> Result<Response<v1::HostsResponse>, Status> {
        self.set_mode(request, MaintenanceMode::Scheduled).await
    }

    async fn activate_hosts(&self, request: Request<v1::HostsRequest>) -> Result<Response<v1::HostsResponse>, Status> {
        self.set_mode(request, MaintenanceMode::None).await
    }

    async fn host_status(&self, request: Request<v1::HostsRequest>) -> Result<Response<v1::HostsResponse>, Status> {
        let hosts = request.into_inner().hosts;
        Ok(Response::new(hosts_response(self.control_plane.read(|state| state.maintenance(&hosts)))))
    }

    async fn get_quota(&self, request: Request<v1::GetQuotaRequest>) -> Result<Response<v1::GetQuotaResponse>, Status> {
        let request = request.into_inner();
        let role = self.role(&request.cluster, &request.role)?;
        let usage = self.control_plane.read(|state| state.quota(&role));
        Ok(Response::new(v1::GetQuotaResponse {
            quota: usage.quota.as_ref().map(v1::ResourceAggregate::from),
            production: Some((&usage.production).into()),
            dedicated: Some((&usage.dedicated).into()),
            non_production: Some((&usage.non_production).into()),
            unset_means_unlimited: !self.control_plane.config().state.production_needs_quota,
        }))
    }

    async fn set_quota(&self, request: Request<v1::SetQuotaRequest>) -> Result<Response<v1::SetQuotaResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let role = self.role(&request.cluster, &request.role)?;
        let wire = request.quota.ok_or_else(|| Status::invalid_argument("invalid quota: missing"))?;
        let quota = ResourceAggregate::try_from(&wire).map_err(wire_status)?;
        let result = match caller.must_be_admin("set quotas") {
            Ok(()) => {
                self.control_plane.mutate(|state, _| Ok(((), state.set_quota(&role, quota)))).await.map_err(core_status)
            }
            Err(refused) => Err(refused),
        };
        self.control_plane.audit(&caller, "SetQuota", &role, &result);
        result?;
        tracing::info!(%role, cpu = quota.cores(), ram_mb = quota.ram_mb, disk_mb = quota.disk_mb, "quota set");
        Ok(Response::new(v1::SetQuotaResponse {}))
    }
}

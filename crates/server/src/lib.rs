//! The scheduler daemon: serves the client and agent gRPC APIs (plus `grpc.health.v1` and
//! server reflection), keeps the cluster state durable, and runs the placement and
//! housekeeping loops.
//!
//! Invariants:
//! - Every change is durable before the call that caused it returns: [`core::ControlPlane`]
//!   writes the state machine's changes to the store under the state lock, and a group flush
//!   (`group_commit`) makes them durable off it; only then does it answer, tell agents or send
//!   events, in the order the changes were made.
//! - If a commit fails, the in-memory state is reloaded from the store, so memory never runs
//!   ahead of disk; the caller gets INTERNAL with the store's error, and nothing is
//!   half-written.
//! - Protobuf types stop at the service modules; the core speaks the domain model.

mod admin_api;
mod agent_api;
mod audit;
mod auth;
mod clock;
mod core;
mod cron_api;
mod events_api;
mod frameworks_api;
mod group_commit;
mod logs_api;
mod metrics;
mod registry_api;
mod scheduler_api;
mod self_announce;
mod updates_api;
mod webhooks;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use atoll_proto::TlsIdentity;
use atoll_proto::v1::agent_service_server::AgentServiceServer;
use atoll_proto::v1::cron_service_server::CronServiceServer;
use atoll_proto::v1::event_service_server::EventServiceServer;
use atoll_proto::v1::registry_service_server::RegistryServiceServer;
use atoll_proto::v1::scheduler_service_server::SchedulerServiceServer;
use atoll_proto::v1::update_service_server::UpdateServiceServer;
use atoll_state::StateConfig;
use atoll_storage::SledStore;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;

use crate::auth::{CallLimits, Gate};

pub use audit::AuditLog;
pub use auth::{Access, AuthFileError, Caller};
pub use clock::{Clock, SystemClock};
pub use core::ControlPlane;
pub use logs_api::ChunkStream;
pub use self_announce::{DEFAULT_SCHEDULER_PATH, announce_scheduler};
pub use webhooks::WebhookConfig;

/// How long a stopping scheduler waits for its clients to finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the scheduler could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] atoll_storage::StoreError),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(
        "stopped: the data directory's disk did not take a change ({0}); make room or mend the disk, then start \
         the scheduler again (it recovers every change that was durable)"
    )]
    StoreFailed(String),
}

/// Settings of a scheduler process.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub state: StateConfig,
    /// How often agents must send a heartbeat.
    pub heartbeat_interval_ms: u64,
    /// How often timeouts and backoffs are checked.
    pub housekeeping_interval_ms: u64,
    /// Who may call, and with which permissions.
    pub access: Access,
    /// Where calls that change something are recorded, if anywhere.
    pub audit: Option<AuditLog>,
    /// How many calls a second each user may make (agents and local callers aside).
    pub user_calls_per_second: Option<u32>,
    /// Serve TLS with this certificate and key; none: plaintext.
    pub tls: Option<TlsIdentity>,
    /// The CA (PEM) whose client certificates name callers (mutual TLS, with TLS served), and
    /// which agents' TLS log services are checked against.
    pub tls_ca: Option<Vec<u8>>,
    /// Where task state changes are POSTed, if anywhere.
    pub webhook: Option<WebhookConfig>,
    /// How long a change waits for the flush that makes it durable before its caller is told
    /// it is not yet (a full or failing disk); the change stays in line meanwhile.
    pub durable_wait: std::time::Duration,
}

impl ServerConfig {
    pub fn new(cluster: &str) -> ServerConfig {
        ServerConfig {
            state: StateConfig::new(cluster),
            heartbeat_interval_ms: 1_000,
            housekeeping_interval_ms: 250,
            access: Access::default(),
            audit: None,
            user_calls_per_second: None,
            tls: None,
            tls_ca: None,
            webhook: None,
            durable_wait: std::time::Duration::from_secs(10),
        }
    }
}

/// Opens the sled store in `data_dir` (raising an older schema to the current one) and
/// restores the control plane from it. Also returns the schema the directory was upgraded
/// from, if it was, for the operator to hear of.
pub fn open(config: ServerConfig, data_dir: &Path) -> Result<(ControlPlane, Option<u64>), ServerError> {
    let store = SledStore::open(data_dir)?;
    let upgraded_from = store.upgraded_from();
    if let Some(older) = upgraded_from {
        let current = atoll_storage::SCHEMA_VERSION;
        tracing::info!(data_dir = %data_dir.display(), from = older, to = current, "data directory upgraded");
    }
    Ok((ControlPlane::start(config, Box::new(store), Arc::new(SystemClock))?, upgraded_from))
}

/// Serves `control_plane` on `listener` until `shutdown` resolves.
pub async fn serve(
    control_plane: ControlPlane,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<SchedulerServiceServer<scheduler_api::SchedulerApi>>().await;
    health_reporter.set_serving::<AgentServiceServer<agent_api::AgentApi>>().await;
    health_reporter.set_serving::<RegistryServiceServer<registry_api::RegistryApi>>().await;
    health_reporter.set_serving::<UpdateServiceServer<updates_api::UpdateApi>>().await;
    health_reporter.set_serving::<CronServiceServer<cron_api::CronApi>>().await;
    health_reporter.set_serving::<EventServiceServer<events_api::EventsApi>>().await;
    let registry = registry_api::RegistryApi::start(Arc::new(SystemClock));
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(atoll_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the descriptor sets are generated at build time and valid");
    let access = control_plane.config().access.clone();
    if matches!(access, Access::LoopbackOnly) {
        tracing::warn!("no --auth file: accepting callers on this machine only, each with every permission");
    }
    let limits = control_plane.config().user_calls_per_second.map(|n| Arc::new(CallLimits::new(n)));
    let gate = Gate::new(access.clone(), limits);
    let loops = control_plane.spawn_loops();
    let (stopping, stop_requested) = tokio::sync::oneshot::channel::<()>();
    let store_failure = Arc::new(std::sync::Mutex::new(None));
    let shutdown = {
        let (control_plane, store_failure) = (control_plane.clone(), store_failure.clone());
        async move {
            tokio::select! {
                () = shutdown => {}
                failure = control_plane.store_failed() => {
                    *store_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(failure);
                }
            }
            let _ = stopping.send(());
        }
    };
    let call_metrics = metrics::CallMetricsLayer { metrics: control_plane.metrics().clone() };
    // HTTP/2 pings find a peer gone without a word (a framework's host lost), so its stream
    // ends and it counts as disconnected within a minute instead of TCP's quarter of an hour.
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
        .layer(call_metrics);
    if let Some(tls) = &control_plane.config().tls {
        let mut config = tonic::transport::ServerTlsConfig::new().identity(tls.identity());
        if let Some(ca) = &control_plane.config().tls_ca {
            // Optional: users with tokens present no certificate.
            config = config.client_ca_root(tonic::transport::Certificate::from_pem(ca)).client_auth_optional(true);
        }
        builder = builder.tls_config(config)?;
    }
    let server = builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(SchedulerServiceServer::with_interceptor(
            scheduler_api::SchedulerApi::new(control_plane.clone()),
            gate.clone(),
        ))
        .add_service(AgentServiceServer::with_interceptor(
            agent_api::AgentApi::new(control_plane.clone()),
            Gate::agents(access.clone()),
        ))
        .add_service(RegistryServiceServer::with_interceptor(registry, gate.clone()))
        .add_service(InterceptedService::new(admin_api::service(control_plane.clone()), gate.clone()))
        .add_service(InterceptedService::new(logs_api::service(control_plane.clone()), gate.clone()))
        .add_service(InterceptedService::new(updates_api::service(control_plane.clone()), gate.clone()))
        .add_service(InterceptedService::new(cron_api::service(control_plane.clone()), gate.clone()))
        .add_service(InterceptedService::new(events_api::service(control_plane.clone()), gate.clone()))
        .add_service(InterceptedService::new(frameworks_api::service(control_plane.clone()), gate))
        // Nagle's algorithm off: a reply written in more than one piece would otherwise wait
        // for the client's delayed acknowledgement (40 ms on Linux).
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown);
    // A graceful stop waits for clients to finish; one that never answers must not hold the
    // scheduler up for ever.
    let grace_over = async {
        if stop_requested.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        result = server => result,
        () = grace_over => {
            tracing::warn!("clients still connected {} s after the stop request; stopping anyway", SHUTDOWN_GRACE.as_secs());
            Ok(())
        }
    };
    loops.abort();
    if let Some(failure) = store_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
        return Err(ServerError::StoreFailed(failure));
    }
    result.map_err(ServerError::from)
}

//! `atoll scheduler`, `atoll agent` and `atoll executor`: the long-running processes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use atoll_agent::isolation::{DEFAULT_BASE, HostIsolation, Isolator, NoIsolation, check_host};
use atoll_agent::users::TaskUsers;
use atoll_agent::{AgentConfig, OnExit};
use atoll_executor::run_task;
use atoll_model::{AgentResources, Attributes, TaskState};
use atoll_sandbox::Sandbox;
use atoll_server::ServerConfig;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::args::{AgentArgs, ExecutorArgs, OnExitArg, SchedulerArgs};
use crate::exit::{CliError, CliResult};

/// Installs SIGINT and SIGTERM handlers now, and returns a future that resolves on the first
/// of them. Installing eagerly matters: a signal that arrives before the future is first
/// polled is caught, not left to kill the process.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let handlers = signal(SignalKind::interrupt()).and_then(|i| Ok((i, signal(SignalKind::terminate())?)));
    async move {
        let Ok((mut interrupt, mut terminate)) = handlers else {
            tracing::error!("cannot listen for signals; stop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
}

pub async fn bind(address: std::net::SocketAddr) -> Result<TcpListener, CliError> {
    TcpListener::bind(address)
        .await
        .map_err(|e| CliError::failed(format!("cannot listen on {address}: {e}; pass --grpc with a free address")))
}

pub async fn scheduler(args: SchedulerArgs, cluster: &str) -> CliResult {
    let shutdown = shutdown_signal();
    let mut config = ServerConfig::new(cluster);
    config.state.agent_timeout_ms = args.agent_timeout_secs.saturating_mul(1000);
    config.state.preemption_delay_ms = args.preemption_delay_secs.saturating_mul(1000);
    config.state.update_stuck_timeout_ms = args.update_stuck_timeout_secs.saturating_mul(1000);
    let zone = atoll_cron::parse_zone(&args.cron_timezone)
        .map_err(|e| CliError::invalid_parameter(format!("--cron-timezone: {e}")))?;
    config.state.cron_default_zone = zone.name().to_owned();
    config.state.cron_starting_deadline_ms = args.cron_starting_deadline_secs.saturating_mul(1000);
    if let Some(path) = &args.auth {
        config.access =
            atoll_server::Access::from_file(path).map_err(|e| CliError::invalid_parameter(e.to_string()))?;
    }
    config.user_calls_per_second = Some(args.user_calls_per_second);
    config.state.frameworks.role_weights = args.role_weights.iter().cloned().collect();
    config.state.frameworks.role_guarantees = args.role_guarantees.iter().cloned().collect();
    config.state.frameworks.offer_timeout_ms = args.offer_timeout_secs.saturating_mul(1000);
    if let Some(path) = &args.webhook_config {
        config.webhook = Some(atoll_server::WebhookConfig::from_file(path).map_err(CliError::invalid_parameter)?);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let read = |flag: &str, path: &std::path::Path| {
            std::fs::read(path)
                .map_err(|e| CliError::invalid_parameter(format!("cannot read {flag} {}: {e}", path.display())))
        };
        config.tls =
            Some(atoll_proto::TlsIdentity { cert_pem: read("--tls-cert", cert)?, key_pem: read("--tls-key", key)? });
        if let Some(ca) = &args.tls_ca {
            config.tls_ca = Some(read("--tls-ca", ca)?);
        }
    }
    if let (Some(user), None) = (config.access.certificate_user(), &config.tls_ca) {
        return Err(CliError::invalid_parameter(format!(
            "users.{user} of the --auth file proves who they are with a certificate (certificate_name), but this \
             scheduler takes no client certificates: pass --tls-ca with --tls-cert and --tls-key"
        )));
    }
    if let Some(path) = &args.audit_log {
        let log = atoll_server::AuditLog::open(path)
            .map_err(|e| CliError::failed(format!("cannot open the audit log {}: {e}", path.display())))?;
        config.audit = Some(log);
    }
    // Open the store before binding, so a second scheduler on the same directory fails at once.
    let (control_plane, upgraded_from) =
        atoll_server::open(config, &args.data_dir).map_err(|e| CliError::failed(e.to_string()))?;
    if let Some(older) = upgraded_from {
        eprintln!(
            "Upgraded data directory {} from schema {older} to {}; an older Atoll cannot open it now",
            args.data_dir.display(),
            atoll_storage::SCHEMA_VERSION
        );
    }
    let listener = bind(args.grpc).await?;
    let address = listener.local_addr().map_err(|e| CliError::failed(e.to_string()))?;
    tracing::info!(%cluster, %address, data_dir = %args.data_dir.display(), "scheduler serving");
    eprintln!("Scheduler for cluster {cluster} serving on http://{address}");
    let _http = match args.http {
        Some(address) => {
            let scheme = if control_plane.config().tls.is_some() { "https" } else { "http" };
            let (serving, bound) = serve_http(address, control_plane.clone()).await?;
            eprintln!("Web UI, metrics (/metrics) and health (/health) on {scheme}://{bound}/");
            Some(serving)
        }
        None => None,
    };
    let _announcement = args.zk.clone().map(|ensemble| {
        let host = args.advertise_host.clone().unwrap_or_else(machine_hostname);
        let path = args.serverset_path.clone();
        eprintln!("Announcing at zk://{ensemble}{path}");
        AbortOnDrop(tokio::spawn(atoll_server::announce_scheduler(ensemble, path, host, address.port())))
    });
    atoll_server::serve(control_plane, listener, shutdown).await.map_err(|e| CliError::failed(e.to_string()))
}

/// Serves the scheduler's HTTP routes on `address` until dropped; answers the address bound.
pub async fn serve_http(
    address: std::net::SocketAddr,
    control_plane: atoll_server::ControlPlane,
) -> Result<(AbortOnDrop, std::net::SocketAddr), CliError> {
    let listener = bind(address).await?;
    let bound = listener.local_addr().map_err(|e| CliError::failed(e.to_string()))?;
    let tls = control_plane.config().tls.clone();
    let routes = atoll_web::scheduler_routes(control_plane);
    Ok((
        AbortOnDrop(tokio::spawn(async move {
            if let Err(error) = atoll_web::serve(listener, routes, tls.as_ref(), std::future::pending()).await {
                tracing::error!(%error, "the HTTP listener stopped");
            }
        })),
        bound,
    ))
}

/// The isolator this host supports: its cgroups, or none when `no_isolation` allows that.
/// The error says why cgroups cannot be used and what to do.
pub fn host_isolator(no_isolation: bool, cgroup_parent: &str) -> Result<Arc<dyn Isolator>, String> {
    if no_isolation {
        return Ok(Arc::new(NoIsolation));
    }
    match check_host(Path::new(DEFAULT_BASE), cgroup_parent) {
        HostIsolation::Available(isolator) => Ok(Arc::new(isolator)),
        HostIsolation::Unavailable { reason } => Err(reason),
    }
}

/// Aborts a background task when dropped.
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// This machine's hostname.
pub fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The command that starts an executor: this very binary.
pub fn executor_command() -> Result<Vec<String>, CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::failed(format!("cannot find the atoll binary: {e}")))?;
    Ok(vec![exe.display().to_string(), "executor".to_owned()])
}

/// The agent's credential: `--token-file`, else `ATOLL_TOKEN`, else none.
fn agent_token(args: &AgentArgs) -> Result<Option<String>, CliError> {
    if let Some(path) = &args.token_file {
        let token = std::fs::read_to_string(path)
            .map_err(|e| CliError::invalid_parameter(format!("cannot read --token-file {}: {e}", path.display())))?;
        return Ok(Some(token.trim().to_owned()));
    }
    Ok(std::env::var("ATOLL_TOKEN").ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
}

pub async fn agent(args: AgentArgs, scheduler: &str) -> CliResult {
    let shutdown = shutdown_signal();
    let resources: AgentResources = match &args.resources {
        Some(text) => text.parse().map_err(|e| CliError::invalid_parameter(format!("--resources: {e}")))?,
        None => {
            std::fs::create_dir_all(&args.work_dir)
                .map_err(|e| CliError::failed(format!("cannot create {}: {e}", args.work_dir.display())))?;
            atoll_agent::host::machine_resources(&args.work_dir)
                .map_err(|e| CliError::failed(format!("cannot read this machine's resources: {e}; pass --resources")))?
        }
    };
    let attributes: Attributes =
        args.attributes.parse().map_err(|e| CliError::invalid_parameter(format!("--attributes: {e}")))?;
    let isolator = host_isolator(args.no_isolation, &args.cgroup_parent).map_err(CliError::failed)?;
    let hostname = args.hostname.clone().unwrap_or_else(machine_hostname);
    let config = AgentConfig {
        scheduler: scheduler.to_owned(),
        // Absolute: executors run in their sandboxes and are handed their paths.
        work_dir: std::path::absolute(&args.work_dir)
            .map_err(|e| CliError::invalid_parameter(format!("--work-dir {}: {e}", args.work_dir.display())))?,
        agent_id: hostname.clone(),
        hostname,
        resources,
        attributes,
        executor_command: executor_command()?,
        isolator,
        disk_check_interval: std::time::Duration::from_secs(args.disk_check_interval_secs.max(1)),
        executor_recovery_timeout: std::time::Duration::from_secs(args.executor_recovery_timeout_secs),
        sandbox_retention: atoll_agent::sandbox_gc::Retention {
            max_age: std::time::Duration::from_secs(args.sandbox_retention_secs),
            max_kept: args.sandboxes_kept,
        },
        zookeeper: args.zk.clone(),
        serverset_root: args.serverset_root.clone(),
        token: agent_token(&args)?,
        tls_ca: args.tls_ca.clone(),
        http: args.http,
        tls_identity: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(atoll_agent::TlsFiles { cert: cert.clone(), key: key.clone() }),
            _ => None,
        },
        task_users: if args.no_switch_user {
            TaskUsers::AgentsOwn
        } else {
            TaskUsers::Switch {
                allowed: args.allowed_users.as_ref().map(|names| names.iter().cloned().collect()),
                allow_root: args.allow_root,
            }
        },
    };
    eprintln!("Agent {} offering {} to {}", config.agent_id, config.resources, config.scheduler);
    eprintln!("Isolation: {}", config.isolator.describe());
    eprintln!("Users: {}", config.task_users.describe());
    if config.task_users == TaskUsers::AgentsOwn && nix::unistd::geteuid().is_root() {
        eprintln!("Warning: this agent runs as root, so with --no-switch-user every task runs as root");
    }
    let on_exit = match args.on_exit {
        OnExitArg::Leave => OnExit::LeaveTasks,
        OnExitArg::Kill => OnExit::KillTasks,
    };
    atoll_agent::run(config, shutdown, on_exit).await.map_err(|e| CliError::failed(e.to_string()))
}

pub async fn executor(args: ExecutorArgs) -> CliResult {
    let shutdown = shutdown_signal();
    let sandbox = Sandbox::new(PathBuf::from(&args.sandbox));
    let status = run_task(&sandbox, shutdown).await.map_err(|e| CliError::failed(e.to_string()))?;
    match status.state {
        TaskState::Finished => Ok(()),
        state => Err(CliError::failed(format!("task ended {state}: {}", status.message))),
    }
}

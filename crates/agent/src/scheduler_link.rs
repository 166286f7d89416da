//! The agent's connection to the scheduler: register, heartbeat, take commands from the
//! Commands stream, and deliver task status updates in order, reconnecting whenever the
//! scheduler goes away. Reconnects back off exponentially with jitter, so the agents of a
//! scheduler that restarted come back spread out rather than all at once.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use atoll_model::{AgentResources, Attributes, TaskId, TaskState};
use atoll_proto::TlsIdentity;
use atoll_proto::v1::{self, agent_service_client::AgentServiceClient};
use tokio::sync::mpsc;
use tonic::transport::Endpoint;

use crate::logs::{LogServer, fresh_secret, listen_ip};
use crate::supervisor::{Supervisors, TaskUpdate};

/// How an agent is set up.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The scheduler's address, `http://HOST:PORT`.
    pub scheduler: String,
    pub work_dir: PathBuf,
    /// Unique among the scheduler's agents.
    pub agent_id: String,
    /// The name tasks and clients reach this host by.
    pub hostname: String,
    pub resources: AgentResources,
    pub attributes: Attributes,
    /// The program and leading arguments that start an executor; the agent appends
    /// `--sandbox DIR`.
    pub executor_command: Vec<String>,
    /// Puts each task in its own control group with its cpu and memory limits.
    pub isolator: std::sync::Arc<dyn crate::isolation::Isolator>,
    /// How often each task's sandbox is measured against its disk limit.
    pub disk_check_interval: Duration,
    /// The ZooKeeper ensemble tasks announce themselves in; `None`: the scheduler's embedded
    /// registry.
    pub zookeeper: Option<String>,
    /// The root of the ServerSet paths tasks announce themselves under.
    pub serverset_root: String,
    /// The agent credential every call to the scheduler carries, if the scheduler wants one.
    pub token: Option<String>,
    /// The CA certificate (PEM file) an `https://` scheduler is checked against; executors get
    /// its path too, for the embedded registry.
    pub tls_ca: Option<PathBuf>,
    /// Which user each task runs as.
    pub task_users: crate::users::TaskUsers,
    /// How long and how many finished tasks' sandboxes are kept ([`crate::sandbox_gc`]).
    pub sandbox_retention: crate::sandbox_gc::Retention,
    /// How long an executor waits for this agent to come back after it stopped before it ends
    /// its task ([`crate::pulse`]).
    pub executor_recovery_timeout: Duration,
    /// Serve HTTP here: metrics at `/metrics`, and `/health`.
    pub http: Option<std::net::SocketAddr>,
    /// The agent's certificate and key (PEM files): presented to an `https://` scheduler in
    /// place of a token (mutual TLS), served by the log service, and handed to executors.
    pub tls_identity: Option<TlsFiles>,
}

/// The files of a certificate and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    fn read(&self) -> Result<TlsIdentity, AgentError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| AgentError::Tls(format!("cannot read {}: {e}", path.display())))
        };
        Ok(TlsIdentity { cert_pem: read(&self.cert)?, key_pem: read(&self.key)? })
    }
}

/// What happens to running tasks when the agent stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnExit {
    /// Leave them running under their executors (the production default).
    LeaveTasks,
    /// Kill every task and wait for it to end (`atoll dev`).
    KillTasks,
}

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid scheduler address '{address}': {detail}")]
    BadAddress { address: String, detail: String },
    #[error("cannot create work directory {dir}: {detail}")]
    WorkDir { dir: String, detail: String },
    #[error("cannot serve task logs: {0}")]
    LogServer(std::io::Error),
    #[error("{0}")]
    TaskUsers(#[from] crate::users::StartError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot serve HTTP: {0}")]
    Http(std::io::Error),
    #[error(transparent)]
    Incarnation(#[from] crate::incarnation::IncarnationError),
    #[error("the scheduler refused this agent: {0}")]
    Refused(String),
}

/// What the agent tells the scheduler about itself at each registration: where it serves its
/// tasks' logs, the secret its log service asks for, whether it serves TLS, and its
/// incarnation.
struct Introduction {
    log_address: String,
    log_token: String,
    log_tls: bool,
    incarnation: String,
}

/// Runs the agent until `shutdown` resolves.
pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>, on_exit: OnExit) -> Result<(), AgentError> {
    let work_dir_error =
        |e: std::io::Error| AgentError::WorkDir { dir: config.work_dir.display().to_string(), detail: e.to_string() };
    std::fs::create_dir_all(config.work_dir.join("sandboxes")).map_err(work_dir_error)?;
    if config.task_users != crate::users::TaskUsers::AgentsOwn {
        let closed = crate::users::unreachable_ancestor(&config.work_dir.join("sandboxes")).map_err(work_dir_error)?;
        config.task_users.check_start(nix::unistd::geteuid().as_raw(), closed)?;
    }
    let incarnation = crate::incarnation::load_or_create(&config.work_dir, fresh_secret)?;
    let identity = config.tls_identity.as_ref().map(TlsFiles::read).transpose()?;
    let log_token = fresh_secret().map_err(AgentError::LogServer)?;
    let logs = LogServer::start(
        &config.work_dir.join("sandboxes"),
        listen_ip(&config.scheduler),
        &log_token,
        identity.as_ref(),
    )
    .await
    .map_err(AgentError::LogServer)?;
    let ca = match &config.tls_ca {
        Some(path) => Some(std::fs::read(path).map_err(|e| AgentError::BadAddress {
            address: config.scheduler.clone(),
            detail: format!("cannot read the CA certificate {}: {e}", path.display()),
        })?),
        None => None,
    };
    let endpoint = Endpoint::from_shared(config.scheduler.clone())
        .map_err(|e| AgentError::BadAddress { address: config.scheduler.clone(), detail: e.to_string() })?;
    let endpoint = atoll_proto::secure(endpoint, &config.scheduler, ca.as_deref(), identity.as_ref())
        .map_err(|e| AgentError::BadAddress { address: config.scheduler.clone(), detail: e.to_string() })?
        .connect_timeout(Duration::from_secs(3))
        // Notice a scheduler that vanished without closing the connection.
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    let (updates_tx, updates_rx) = mpsc::unbounded_channel();
    let supervisors = Arc::new(Supervisors::new(&config, updates_tx));
    let http = match config.http {
        Some(address) => {
            let gathered = supervisors.clone();
            let (bound, serving) =
                crate::metrics::serve(address, Arc::new(move || gathered.metrics_text()), identity.clone())
                    .await
                    .map_err(AgentError::Http)?;
            tracing::info!(address = %bound, "serving HTTP: /metrics, /health");
            Some(tokio::spawn(async move {
                if let Err(error) = serving.await {
                    tracing::error!(%error, "the HTTP listener stopped");
                }
            }))
        }
        None => None,
    };
    let pulse_file = crate::pulse::agent_watch(&config.work_dir, config.executor_recovery_timeout).pulse_file;
    crate::pulse::beat(&pulse_file).map_err(work_dir_error)?;
    let pulse =
        tokio::spawn(crate::pulse::keep_beating(pulse_file, crate::pulse::interval(config.executor_recovery_timeout)));
    let recovered = supervisors.recover();
    if recovered > 0 {
        tracing::info!(tasks = recovered, "took over tasks left by an earlier agent");
    }
    let collection = tokio::spawn(crate::sandbox_gc::keep_collecting(
        config.work_dir.join("sandboxes"),
        config.sandbox_retention,
        supervisors.ends(),
    ));
    let introduction =
        Introduction { log_address: logs.address().to_string(), log_token, log_tls: identity.is_some(), incarnation };
    let mut connection =
        tokio::spawn(stay_connected(config.clone(), endpoint, introduction, supervisors.clone(), updates_rx));
    tokio::select! {
        () = shutdown => {}
        refused = &mut connection => {
            // Only a refusal ends the connection; its tasks keep running, for the agent that
            // owns the id to adopt, or for their executors' recovery timeout.
            if let Some(http) = http {
                http.abort();
            }
            pulse.abort();
            collection.abort();
            return Err(refused.unwrap_or_else(|e| AgentError::Refused(format!("the connection task failed: {e}"))));
        }
    }
    if on_exit == OnExit::KillTasks {
        // Longer than any task's kill grace (finalization_wait, at most 60 s, plus a margin).
        supervisors.kill_all_and_wait(Duration::from_secs(70)).await;
        // Give the last status updates a moment to reach the scheduler.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    connection.abort();
    pulse.abort();
    collection.abort();
    if let Some(http) = http {
        http.abort();
    }
    Ok(())
}

/// Keeps a session with the scheduler up, until the scheduler refuses the agent.
async fn stay_connected(
    config: AgentConfig,
    endpoint: Endpoint,
    introduction: Introduction,
    supervisors: Arc<Supervisors>,
    mut updates: mpsc::UnboundedReceiver<TaskUpdate>,
) -> AgentError {
    // An update that could not be delivered is kept here and sent first on the next session.
    let mut undelivered: Option<TaskUpdate> = None;
    let mut delays = atoll_retry::delays(RECONNECT_MIN, RECONNECT_MAX);
    loop {
        let mut registered = false;
        let ended =
            session(&config, &endpoint, &introduction, &supervisors, &mut updates, &mut undelivered, &mut registered);
        match ended.await {
            Ok(()) => tracing::warn!("scheduler asked the agent to register again"),
            Err(e) if e.code() == tonic::Code::AlreadyExists => return AgentError::Refused(e.message().to_owned()),
            Err(e) => tracing::warn!(scheduler = %config.scheduler, error = %e, "lost the scheduler; retrying"),
        }
        if registered {
            delays = atoll_retry::delays(RECONNECT_MIN, RECONNECT_MAX);
        }
        tokio::time::sleep(delays.next().expect("reconnect delays never run out")).await;
    }
}

/// The first wait before trying the scheduler again, before jitter.
const RECONNECT_MIN: Duration = Duration::from_millis(250);
/// The longest wait between attempts, before jitter.
const RECONNECT_MAX: Duration = Duration::from_secs(4);

/// One registration: lasts until the scheduler stops answering or forgets the agent.
/// `registered` is set once the scheduler has accepted the registration.
async fn session(
    config: &AgentConfig,
    endpoint: &Endpoint,
    introduction: &Introduction,
    supervisors: &Supervisors,
    updates: &mut mpsc::UnboundedReceiver<TaskUpdate>,
    undelivered: &mut Option<TaskUpdate>,
    registered: &mut bool,
) -> Result<(), tonic::Status> {
    let channel = endpoint.connect().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let bearer =
        atoll_proto::Bearer::new(config.token.as_deref()).map_err(|e| tonic::Status::unauthenticated(e.to_string()))?;
    let mut client = AgentServiceClient::new(bearer.wrap(channel));
    let last_updates: Vec<TaskUpdate> =
        supervisors.last_updates().into_iter().filter(|u| u.state != TaskState::Assigned).collect();
    let tasks = last_updates
        .iter()
        .map(|u| v1::RunningTask {
            task_id: u.task.0.clone(),
            state: v1::TaskState::from(u.state) as i32,
            message: u.message.clone(),
            exit_code: u.exit_code,
            sandbox: u.sandbox.clone(),
        })
        .collect();
    let request = v1::RegisterRequest {
        agent_id: config.agent_id.clone(),
        hostname: config.hostname.clone(),
        resources: Some((&config.resources).into()),
        attributes: config.attributes.0.clone().into_iter().collect(),
        tasks,
        log_address: introduction.log_address.clone(),
        log_token: introduction.log_token.clone(),
        log_tls: introduction.log_tls,
        incarnation: introduction.incarnation.clone(),
    };
    let registration = within(CALL_TIMEOUT, client.register(request)).await?.into_inner();
    *registered = true;
    for update in &last_updates {
        supervisors.acknowledge(update);
    }
    tracing::info!(scheduler = %config.scheduler, cluster = %registration.cluster, "registered");
    let mut commands = client.commands(v1::CommandsRequest { agent_id: config.agent_id.clone() }).await?.into_inner();
    let mut heartbeat = tokio::time::interval(Duration::from_millis(registration.heartbeat_interval_ms.max(100)));
    let mut outboxes = tokio::time::interval(OUTBOX_INTERVAL);
    loop {
        if let Some(update) = undelivered.take() {
            deliver(&mut client, config, &update).await.inspect_err(|_| *undelivered = Some(update.clone()))?;
            supervisors.acknowledge(&update);
        }
        tokio::select! {
            command = commands.message() => match command? {
                Some(command) => handle_command(supervisors, command).await,
                None => return Err(tonic::Status::unavailable("the scheduler closed the command stream")),
            },
            Some(update) = updates.recv() => {
                *undelivered = Some(update);
            }
            _ = outboxes.tick() => {
                for (task, data) in supervisors.messages_from_executors() {
                    let message = v1::ExecutorMessageFromAgent { agent_id: config.agent_id.clone(), task_id: task.0.clone(), data };
                    // Best effort, as framework messages are: one the scheduler does not take is dropped.
                    if let Err(e) = within(CALL_TIMEOUT, client.executor_message(message)).await {
                        tracing::warn!(%task, error = %e, "a custom executor's message was not delivered");
                    }
                }
            }
            _ = heartbeat.tick() => {
                let beat = client.heartbeat(v1::HeartbeatRequest { agent_id: config.agent_id.clone() });
                let answer = within(CALL_TIMEOUT, beat).await?;
                if !answer.into_inner().registered {
                    return Ok(());
                }
            }
        }
    }
}

async fn deliver(
    client: &mut AgentServiceClient<atoll_proto::Authorized>,
    config: &AgentConfig,
    update: &TaskUpdate,
) -> Result<(), tonic::Status> {
    let call = client.update_task_status(v1::UpdateTaskStatusRequest {
        agent_id: config.agent_id.clone(),
        task_id: update.task.0.clone(),
        state: v1::TaskState::from(update.state) as i32,
        message: update.message.clone(),
        exit_code: update.exit_code,
        sandbox: update.sandbox.clone(),
    });
    within(CALL_TIMEOUT, call).await?;
    Ok(())
}

/// How often the sandboxes' outboxes are looked at for custom executors' messages.
const OUTBOX_INTERVAL: Duration = Duration::from_millis(250);

/// How long one unary call to the scheduler may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

async fn within<T>(limit: Duration, call: impl Future<Output = Result<T, tonic::Status>>) -> Result<T, tonic::Status> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("the scheduler did not answer in time")))
}

async fn handle_command(supervisors: &Supervisors, command: v1::AgentCommand) {
    match command.command {
        Some(v1::agent_command::Command::Launch(launch)) => supervisors.launch(launch),
        Some(v1::agent_command::Command::Kill(kill)) => supervisors.kill(&TaskId(kill.task_id)),
        Some(v1::agent_command::Command::Message(message)) => {
            supervisors.message_to_executor(&TaskId(message.task_id), &message.data)
        }
        None => tracing::warn!("ignoring an empty command from the scheduler"),
    }
}

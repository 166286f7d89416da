//! `atoll dev`: a scheduler and local agents in one process, the given job files submitted,
//! and every instance's status shown as it changes. Ctrl-C (or SIGTERM) kills every task it
//! started, stops the agents and the scheduler, and exits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use atoll_agent::users::TaskUsers;
use atoll_agent::{AgentConfig, OnExit};
use atoll_client::{ApiErrorKind, ClientError, SchedulerClient};
use atoll_model::event::EventFilter;
use atoll_model::{AgentResources, JobKey, JobKeyPrefix, JobSpec, PortRange};
use atoll_server::ServerConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::args::DevArgs;
use crate::daemons::{bind, executor_command, host_isolator, machine_hostname, serve_http, shutdown_signal};
use crate::exit::{CliError, CliResult};
use crate::wakeups::Wakeups;
use crate::{jobfile, render};

const CLUSTER: &str = "devcluster";
/// The cgroup parent of dev tasks, apart from a real agent's on the same machine.
const DEV_CGROUP_PARENT: &str = "atoll-dev";
/// Ports each dev agent offers.
const PORTS_PER_AGENT: u16 = 100;

pub async fn run(args: DevArgs) -> CliResult {
    let shutdown = shutdown_signal();
    let mut jobs = Vec::new();
    for file in &args.files {
        jobs.extend(jobfile::load(file, &args.bindings)?.into_iter().map(|job| (file.clone(), job)));
    }
    let data_dir = DataDir::new(args.data_dir.clone())?;
    let started = Instant::now();

    let mut config = ServerConfig::new(CLUSTER);
    // One machine, one person: no quota to ask an operator for.
    config.state.production_needs_quota = false;
    let (control_plane, _) =
        atoll_server::open(config, &data_dir.path.join("scheduler")).map_err(|e| CliError::failed(e.to_string()))?;
    let listener = bind(args.grpc).await?;
    let url = format!("http://{}", listener.local_addr().map_err(|e| CliError::failed(e.to_string()))?);
    let (stop_server, server_stopped) = watch::channel(false);
    let (_http, http) = serve_http(args.http, control_plane.clone()).await?;
    let server = tokio::spawn(atoll_server::serve(control_plane, listener, wait_for(server_stopped)));

    let (stop_agents, agents_stopped) = watch::channel(false);
    let agents = start_agents(&args, &data_dir.path, &url, &agents_stopped)?;

    // From here on every path, Ctrl-C included, runs the stop sequence below.
    let session = async {
        let client = SchedulerClient::connect(&url, &Default::default()).await?;
        submit(&client, &jobs, &data_dir.path).await;
        eprintln!(
            "Atoll dev cluster '{CLUSTER}': scheduler on {url}, {} agent(s), data in {}.\n\
             Web UI: http://{http}/ (metrics at /metrics)\n\
             Callers on this machine only, no tokens; roles without a quota are not limited.\n\
             From another terminal: atoll job list {CLUSTER}  |  atoll job status JOBKEY\n\
             Ctrl-C stops every task and exits.",
            args.agents,
            data_dir.path.display()
        );
        watch_tasks(client, started).await
    };
    let outcome: CliResult = tokio::select! {
        _ = shutdown => Ok(()),
        result = session => result,
    };
    eprintln!("Stopping: killing every task, then the agents and the scheduler…");
    let _ = stop_agents.send(true);
    for agent in agents {
        let _ = agent.await;
    }
    let _ = stop_server.send(true);
    match server.await {
        Ok(Err(e)) => eprintln!("the scheduler stopped with an error: {e}"),
        Err(e) => eprintln!("the scheduler task failed: {e}"),
        Ok(Ok(())) => {}
    }
    eprintln!("Stopped.");
    outcome
}

async fn submit(client: &SchedulerClient, jobs: &[(PathBuf, JobSpec)], data_dir: &Path) {
    for (file, job) in jobs {
        if job.cron_schedule.is_some() && !job.config.service {
            match client.schedule_cron(job).await {
                Ok(_) => eprintln!(
                    "Scheduled cron job {} from {}; see it with: atoll cron show {}",
                    job.key,
                    file.display(),
                    job.key
                ),
                Err(e) => eprintln!("Could not schedule {} from {}: {e}", job.key, file.display()),
            }
            continue;
        }
        match client.create_job(job).await {
            Ok(ids) => eprintln!("Created {} from {} ({} instance(s))", job.key, file.display(), ids.len()),
            Err(ClientError::Api { kind: ApiErrorKind::AlreadyExists, .. }) => {
                eprintln!("{} already exists in {}; keeping it", job.key, data_dir.display());
            }
            Err(e) => eprintln!("Could not create {} from {}: {e}", job.key, file.display()),
        }
    }
}

async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn start_agents(
    args: &DevArgs,
    data_dir: &Path,
    url: &str,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<Result<(), atoll_agent::AgentError>>>, CliError> {
    let machine = atoll_agent::host::machine_resources(data_dir)
        .map_err(|e| CliError::failed(format!("cannot read this machine's resources: {e}")))?;
    let share = |total: u64| (total / u64::from(args.agents)).max(1);
    let hostname = machine_hostname();
    let command = executor_command()?;
    let isolator = host_isolator(false, DEV_CGROUP_PARENT).unwrap_or_else(|reason| {
        eprintln!("Running tasks without cgroup limits: {reason}");
        host_isolator(true, DEV_CGROUP_PARENT).expect("running without isolation always works")
    });
    eprintln!("Tasks run as you: a dev cluster does not switch to each task's user (atoll agent does)");
    let mut handles = Vec::new();
    for index in 0..args.agents as u16 {
        let first_port = 31000 + index * PORTS_PER_AGENT;
        let config = AgentConfig {
            scheduler: url.to_owned(),
            work_dir: data_dir.join("agents").join(format!("dev-agent-{}", index + 1)),
            agent_id: format!("dev-agent-{}", index + 1),
            hostname: hostname.clone(),
            resources: AgentResources {
                cpus: machine.cpus / f64::from(args.agents),
                mem_mb: share(machine.mem_mb),
                disk_mb: share(machine.disk_mb),
                gpus: 0,
                ports: vec![PortRange { begin: first_port, end: first_port + PORTS_PER_AGENT - 1 }],
            },
            attributes: Default::default(),
            executor_command: command.clone(),
            isolator: isolator.clone(),
            disk_check_interval: std::time::Duration::from_secs(10),
            executor_recovery_timeout: atoll_agent::pulse::DEFAULT_RECOVERY_TIMEOUT,
            sandbox_retention: atoll_agent::sandbox_gc::Retention::default(),
            zookeeper: None,
            token: None,
            tls_ca: None,
            task_users: TaskUsers::AgentsOwn,
            tls_identity: None,
            http: None,
            serverset_root: atoll_announce::DEFAULT_ROOT.to_owned(),
        };
        handles.push(tokio::spawn(atoll_agent::run(config, wait_for(stop.clone()), OnExit::KillTasks)));
    }
    Ok(handles)
}

/// Prints each instance's state whenever it changes, forever: looked at after each event of
/// the cluster, and every two seconds for the reasons pending tasks wait, which are no events.
async fn watch_tasks(client: SchedulerClient, started: Instant) -> CliResult {
    let prefix: JobKeyPrefix = CLUSTER.parse()?;
    let mut seen: BTreeMap<(String, u32), (String, i32)> = BTreeMap::new();
    let mut wakeups = Wakeups::subscribe(&client, &EventFilter::cluster(CLUSTER), Duration::from_millis(100)).await;
    loop {
        for job in client.list_jobs(&prefix).await? {
            let Some(key) = job.key.as_ref().and_then(|k| JobKey::try_from(k).ok()) else { continue };
            for task in client.tasks(&key, false).await? {
                let now = (task.task_id.clone(), task.state);
                let slot = (key.to_string(), task.instance);
                if seen.get(&slot) != Some(&now) {
                    let ports: Vec<String> = task.ports.iter().map(|(n, p)| format!("{n}={p}")).collect();
                    let detail =
                        if task.pending_reason.is_empty() { ports.join(",") } else { task.pending_reason.clone() };
                    println!(
                        "[{:>8.3}s] {key}/{:<3} {:<9} {:<20} {}",
                        started.elapsed().as_secs_f64(),
                        task.instance,
                        render::state_name(task.state),
                        task.host,
                        detail
                    );
                    seen.insert(slot, now);
                }
            }
        }
        wakeups.next(Duration::from_secs(2)).await;
    }
}

/// The dev cluster's directory: the one given, or a temporary one removed on exit.
struct DataDir {
    path: PathBuf,
    temporary: bool,
}

impl DataDir {
    fn new(given: Option<PathBuf>) -> Result<DataDir, CliError> {
        let (path, temporary) = match given {
            Some(path) => (path, false),
            None => {
                let nanos =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
                (std::env::temp_dir().join(format!("atoll-dev-{}-{nanos}", std::process::id())), true)
            }
        };
        std::fs::create_dir_all(&path)
            .map_err(|e| CliError::failed(format!("cannot create data directory {}: {e}", path.display())))?;
        Ok(DataDir { path, temporary })
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

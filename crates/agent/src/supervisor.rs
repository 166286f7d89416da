//! Task supervisors: one tokio task per launched task, which prepares the sandbox, starts the
//! executor process, watches its status file and reports every change, and carries out kills
//! (SIGTERM to the executor, which stops its process groups; SIGKILL to all of them if it does
//! not finish in time).
//!
//! Recovery: at start the agent scans its sandboxes ([`Supervisors::recover`]). A live executor
//! is adopted and watched as if this agent had started it; an executor that died while no
//! agent watched is reported LOST; a task that ended unseen is reported with its real end. An
//! end the scheduler has acknowledged is recorded in the sandbox (`.executor/acknowledged`),
//! so it is reported exactly once across agent restarts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use atoll_model::{TaskId, TaskSpec, TaskState};
use atoll_proto::v1;
use atoll_sandbox::{AgentWatch, Launch, LaunchFile, MessageBox, RegistryTarget, Sandbox};
use tokio::sync::{mpsc, watch};

pub(crate) use self::watcher::executor_alive;
use self::watcher::{
    Executor, ExecutorCredentials, force_stop, kill_groups, kill_orphan, read_status, spawn_executor, watch_executor,
};
use crate::isolation::{Isolator, Limits, TaskGroup};
use crate::launch::launch_from_wire;
use crate::metrics::AgentMetrics;
use crate::scheduler_link::AgentConfig;
use crate::users::{self, TaskUsers};

mod watcher;

/// How often a supervisor reads its task's status file.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Extra time an executor gets beyond its task's finalization wait before it is SIGKILLed.
const KILL_MARGIN: Duration = Duration::from_secs(5);

/// A task state change to report to the scheduler.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskUpdate {
    pub task: TaskId,
    pub state: TaskState,
    pub message: String,
    pub exit_code: Option<i32>,
    pub sandbox: String,
}

/// A task under supervision. Ended tasks stay here until the scheduler has acknowledged their
/// end, so a registration in between still reports it.
struct Supervised {
    last: TaskUpdate,
    kill: watch::Sender<bool>,
}

/// Every task this agent runs.
pub struct Supervisors {
    work_dir: PathBuf,
    hostname: String,
    /// Where tasks announce themselves.
    registry: RegistryTarget,
    executor_command: Vec<String>,
    /// The agent's token, CA and certificate, handed to executors for the scheduler's embedded
    /// registry.
    credentials: ExecutorCredentials,
    isolator: Arc<dyn Isolator>,
    task_users: TaskUsers,
    disk_check_interval: Duration,
    /// What each executor watches to know this agent is there.
    agent_watch: AgentWatch,
    updates: mpsc::UnboundedSender<TaskUpdate>,
    tasks: Arc<Mutex<BTreeMap<TaskId, Supervised>>>,
    /// Set once the agent is stopping and killing its tasks: no new launches after that.
    closing: std::sync::atomic::AtomicBool,
    /// Woken at each end the scheduler acknowledged: a sandbox may be collected.
    ended: Arc<tokio::sync::Notify>,
    metrics: AgentMetrics,
}

impl Supervisors {
    pub fn new(config: &AgentConfig, updates: mpsc::UnboundedSender<TaskUpdate>) -> Supervisors {
        Supervisors {
            work_dir: config.work_dir.clone(),
            hostname: config.hostname.clone(),
            registry: RegistryTarget {
                scheduler: config.scheduler.clone(),
                root: config.serverset_root.clone(),
                zookeeper: config.zookeeper.clone(),
            },
            executor_command: config.executor_command.clone(),
            credentials: ExecutorCredentials {
                token: config.token.clone(),
                ca_file: config.tls_ca.clone(),
                identity: config.tls_identity.clone(),
            },
            isolator: config.isolator.clone(),
            task_users: config.task_users.clone(),
            disk_check_interval: config.disk_check_interval,
            agent_watch: crate::pulse::agent_watch(&config.work_dir, config.executor_recovery_timeout),
            updates,
            tasks: Arc::new(Mutex::new(BTreeMap::new())),
            closing: std::sync::atomic::AtomicBool::new(false),
            ended: Arc::new(tokio::sync::Notify::new()),
            metrics: AgentMetrics::default(),
        }
    }

    /// Every metric, read now ([`crate::metrics`]).
    pub fn metrics_text(&self) -> String {
        let updates = self.last_updates();
        let figures = crate::metrics::task_figures(&updates, self.isolator.as_ref());
        self.metrics.render(&updates, &figures)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<TaskId, Supervised>> {
        self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The last update of every task here, ended ones not yet acknowledged included.
    pub fn last_updates(&self) -> Vec<TaskUpdate> {
        self.lock().values().map(|s| s.last.clone()).collect()
    }

    /// The scheduler has `update`: a task whose end it now knows is no longer kept, and the
    /// sandbox records that the end was delivered.
    pub fn acknowledge(&self, update: &TaskUpdate) {
        let mut tasks = self.lock();
        if update.state.is_terminal() && tasks.get(&update.task).is_some_and(|s| s.last.state == update.state) {
            tasks.remove(&update.task);
            if let Err(e) = Sandbox::new(&update.sandbox).write_acknowledged(update.state) {
                tracing::warn!("cannot record an acknowledged end: {e}");
            }
            self.ended.notify_one();
        }
    }

    /// Woken at each end the scheduler acknowledged ([`crate::sandbox_gc::keep_collecting`]).
    pub(crate) fn ends(&self) -> Arc<tokio::sync::Notify> {
        self.ended.clone()
    }

    /// Takes over the tasks an earlier agent left in the work directory; returns how many
    /// tasks it found that are not yet over for the scheduler.
    pub fn recover(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.work_dir.join("sandboxes")) else { return 0 };
        let mut found = 0;
        for entry in entries.flatten() {
            let sandbox = Sandbox::new(entry.path());
            let task = TaskId(entry.file_name().to_string_lossy().into_owned());
            if sandbox.is_acknowledged() {
                continue;
            }
            let launch = sandbox.read_launch();
            let status = read_status(&sandbox);
            found += 1;
            let (kill_tx, kill_rx) = watch::channel(false);
            let sandbox_text = sandbox.root().display().to_string();
            let reporter = Reporter {
                task: task.clone(),
                sandbox: sandbox_text.clone(),
                updates: self.updates.clone(),
                tasks: self.tasks.clone(),
                metrics: self.metrics.clone(),
            };
            let last = TaskUpdate {
                task: task.clone(),
                state: TaskState::Assigned,
                message: String::new(),
                exit_code: None,
                sandbox: sandbox_text,
            };
            self.lock().insert(task.clone(), Supervised { last, kill: kill_tx });
            let file = match launch {
                Ok(file) => file,
                Err(error) => {
                    // Without its launch file the task cannot be watched: its processes are
                    // ended and the scheduler hears why, with the path, and runs it again.
                    tracing::warn!(%task, %error, "unreadable sandbox");
                    if let Some(status) = &status {
                        force_stop(status.executor_pid as i32, &sandbox);
                        kill_groups(status.process_groups.clone());
                    }
                    reporter.report(TaskState::Lost, &format!("unreadable sandbox: {error}"), None);
                    continue;
                }
            };
            match status {
                Some(status) if status.state.is_terminal() => {
                    tracing::info!(%task, state = %status.state, "found a task that ended while the agent was away");
                    reporter.report(status.state, &status.message, status.exit_code);
                }
                Some(status) if executor_alive(status.executor_pid as i32, sandbox.root()) => {
                    tracing::info!(%task, pid = status.executor_pid, "adopting a running executor");
                    reporter.report(status.state, &status.message, status.exit_code);
                    let group = self.isolator.open(&task.0).ok().flatten();
                    let limits = TaskLimits::of(&file.launch.config.task, group, self.disk_check_interval);
                    let executor = Executor::Adopted(status.executor_pid as i32);
                    tokio::spawn(async move {
                        watch_executor(executor, &sandbox, limits, kill_rx, &reporter, status.state).await;
                    });
                }
                dead => {
                    tracing::warn!(%task, "its executor died while the agent was away");
                    kill_groups(dead.map(|s| s.process_groups).unwrap_or_default());
                    reporter.report(TaskState::Lost, "the executor died while the agent was away", None);
                }
            }
        }
        found
    }

    fn sandbox(&self, task: &TaskId) -> Sandbox {
        Sandbox::new(self.work_dir.join("sandboxes").join(&task.0))
    }

    /// Starts supervising a launched task; a launch of a task already here is ignored.
    pub fn launch(&self, launch: v1::LaunchTask) {
        let id = TaskId(launch.task_id.clone());
        let (kill_tx, kill_rx) = watch::channel(false);
        let sandbox = self.sandbox(&id);
        let sandbox_text = sandbox.root().display().to_string();
        {
            let mut tasks = self.lock();
            // Checked under the lock, so no launch slips past kill_all_and_wait.
            if self.closing.load(std::sync::atomic::Ordering::SeqCst) {
                tracing::info!(task = %id, "not launching: the agent is stopping");
                return;
            }
            if tasks.contains_key(&id) {
                return;
            }
            let last = TaskUpdate {
                task: id.clone(),
                state: TaskState::Assigned,
                message: String::new(),
                exit_code: None,
                sandbox: sandbox_text.clone(),
            };
            tasks.insert(id.clone(), Supervised { last, kill: kill_tx });
        }
        let reporter = Reporter {
            task: id,
            sandbox: sandbox_text,
            updates: self.updates.clone(),
            tasks: self.tasks.clone(),
            metrics: self.metrics.clone(),
        };
        let received = launch_from_wire(&launch);
        let start = Start {
            command: self.executor_command.clone(),
            credentials: self.credentials.clone(),
            isolator: self.isolator.clone(),
            task_users: self.task_users.clone(),
            disk_check_interval: self.disk_check_interval,
            hostname: self.hostname.clone(),
            registry: self.registry.clone(),
            agent_watch: self.agent_watch.clone(),
        };
        tokio::spawn(async move {
            match received {
                Ok(launch) => supervise(launch, sandbox, start, kill_rx, &reporter).await,
                Err(message) => reporter.report(TaskState::Failed, &message, None),
            }
        });
    }

    /// Puts a framework's message in the inbox of `task`'s sandbox, for its custom executor. A
    /// task not supervised here gets none (best effort, as framework messages are).
    pub fn message_to_executor(&self, task: &TaskId, data: &[u8]) {
        if !self.lock().contains_key(task) {
            tracing::warn!(%task, "a framework message for a task this agent does not run; dropped");
            return;
        }
        if let Err(e) = self.sandbox(task).put_message(MessageBox::Inbox, data) {
            tracing::warn!(%task, error = %e, "a framework message could not be put in the sandbox; dropped");
        }
    }

    /// Every message custom executors left in their sandboxes' outboxes, by task, oldest first.
    pub fn messages_from_executors(&self) -> Vec<(TaskId, Vec<u8>)> {
        let tasks: Vec<TaskId> = self.lock().keys().cloned().collect();
        let mut messages = Vec::new();
        for task in tasks {
            match self.sandbox(&task).take_messages(MessageBox::Outbox) {
                Ok(taken) => messages.extend(taken.into_iter().map(|data| (task.clone(), data))),
                Err(e) => tracing::warn!(%task, error = %e, "a custom executor's outbox could not be read"),
            }
        }
        messages
    }

    /// Kills a task. A task this agent does not supervise (say, one left from before an agent
    /// restart) is found through its sandbox and killed there.
    pub fn kill(&self, task: &TaskId) {
        if let Some(supervised) = self.lock().get(task) {
            let _ = supervised.kill.send(true);
            return;
        }
        let sandbox = self.sandbox(task);
        tokio::spawn(async move { kill_orphan(&sandbox).await });
    }

    /// Kills every task and waits, at most `timeout`, for all of them to end; whatever still
    /// runs then is SIGKILLed through the process groups its status file lists.
    pub async fn kill_all_and_wait(&self, timeout: Duration) {
        {
            let tasks = self.lock();
            self.closing.store(true, std::sync::atomic::Ordering::SeqCst);
            for supervised in tasks.values() {
                let _ = supervised.kill.send(true);
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let running = || -> Vec<TaskId> {
            self.lock().values().filter(|s| !s.last.state.is_terminal()).map(|s| s.last.task.clone()).collect()
        };
        while !running().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        for task in running() {
            tracing::warn!(%task, "still running at the shutdown deadline; SIGKILL");
            let sandbox = self.sandbox(&task);
            if let Some(status) = read_status(&sandbox) {
                force_stop(status.executor_pid as i32, &sandbox);
                kill_groups(status.process_groups);
            }
        }
    }
}

/// Sends one task's updates and keeps its last state current.
struct Reporter {
    task: TaskId,
    sandbox: String,
    updates: mpsc::UnboundedSender<TaskUpdate>,
    tasks: Arc<Mutex<BTreeMap<TaskId, Supervised>>>,
    metrics: AgentMetrics,
}

impl Reporter {
    fn report(&self, state: TaskState, message: &str, exit_code: Option<i32>) {
        let update = TaskUpdate {
            task: self.task.clone(),
            state,
            message: message.to_owned(),
            exit_code,
            sandbox: self.sandbox.clone(),
        };
        if let Some(supervised) = self.tasks.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&self.task) {
            supervised.last = update.clone();
        }
        tracing::info!(task = %self.task, %state, message, "task state");
        let _ = self.updates.send(update);
    }
}

/// What starting an executor takes besides the launch: how, and the host's facts the launch
/// file adds to the launch.
struct Start {
    command: Vec<String>,
    credentials: ExecutorCredentials,
    isolator: Arc<dyn Isolator>,
    task_users: TaskUsers,
    disk_check_interval: Duration,
    hostname: String,
    registry: RegistryTarget,
    agent_watch: AgentWatch,
}

async fn supervise(
    launch: Launch,
    sandbox: Sandbox,
    start: Start,
    kill_requested: watch::Receiver<bool>,
    reporter: &Reporter,
) {
    // The user first: a task whose user cannot run here fails before anything is made for it.
    let wanted = launch.config.task.user.clone().unwrap_or_else(|| launch.job.role.clone());
    let (task_users, hostname) = (start.task_users.clone(), start.hostname.clone());
    let user = match tokio::task::spawn_blocking(move || task_users.resolve(&wanted, &hostname, users::lookup)).await {
        Ok(Ok(user)) => user,
        Ok(Err(message)) => return reporter.report(TaskState::Failed, &message, None),
        Err(e) => return reporter.report(TaskState::Failed, &format!("could not look up the task's user: {e}"), None),
    };
    let limits = Limits::from_resources(&launch.config.task.resources);
    let (isolator, task_id) = (start.isolator.clone(), launch.task_id.clone());
    let group = match tokio::task::spawn_blocking(move || isolator.create(&task_id.0, &limits)).await {
        Ok(Ok(group)) => group,
        Ok(Err(e)) => return reporter.report(TaskState::Failed, &format!("could not isolate the task: {e}"), None),
        Err(e) => return reporter.report(TaskState::Failed, &format!("could not isolate the task: {e}"), None),
    };
    let file =
        LaunchFile::new(launch, start.hostname, group.dirs(), user, Some(start.registry), Some(start.agent_watch));
    let limits = TaskLimits::of(&file.launch.config.task, Some(group), start.disk_check_interval);
    // Writing the sandbox and forking block: keep them off the threads that carry
    // status updates, so a burst of launches does not hold up reports.
    let (root, command, credentials) = (sandbox.root().to_owned(), start.command, start.credentials);
    let started = tokio::task::spawn_blocking(move || {
        let sandbox = Sandbox::new(root);
        sandbox.write_launch(&file).map_err(|e| format!("could not prepare the sandbox: {e}"))?;
        spawn_executor(&command, &credentials, &sandbox).map_err(|e| format!("could not start the executor: {e}"))
    })
    .await;
    let child = match started {
        Ok(Ok(child)) => child,
        Ok(Err(message)) => return reporter.report(TaskState::Failed, &message, None),
        Err(e) => return reporter.report(TaskState::Failed, &format!("could not start the executor: {e}"), None),
    };
    reporter.report(TaskState::Starting, "Executor started", None);
    watch_executor(Executor::Child(child), &sandbox, limits, kill_requested, reporter, TaskState::Starting).await;
}

/// How a task is held to its resources while it runs.
struct TaskLimits {
    /// How long the executor gets to stop after SIGTERM before it is SIGKILLed.
    kill_grace: Duration,
    /// The task's control group, if it has one.
    group: Option<TaskGroup>,
    disk_limit_bytes: u64,
    disk_check_interval: Duration,
}

impl TaskLimits {
    fn of(spec: &TaskSpec, group: Option<TaskGroup>, disk_check_interval: Duration) -> TaskLimits {
        TaskLimits {
            kill_grace: Duration::from_secs(spec.finalization_wait.min(60)) + KILL_MARGIN,
            group,
            disk_limit_bytes: spec.resources.disk_mb.saturating_mul(1024 * 1024),
            disk_check_interval,
        }
    }
}

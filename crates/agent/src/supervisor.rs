//! Task supervisors: one tokio task per launched task, which prepares the sandbox, starts the
//! executor process, watches its status file and reports every change, and carries out kills
//! (SIGTERM to the executor, which stops its process groups; SIGKILL to all of them if it does
//! not finish in time).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use atoll_model::{JobKey, TaskId, TaskSpec, TaskState};
use atoll_proto::v1;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};

use crate::runtime::AgentConfig;
use crate::sandbox::{ExecutorStatus, LaunchFile, Sandbox};

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
    executor_command: Vec<String>,
    updates: mpsc::UnboundedSender<TaskUpdate>,
    tasks: Arc<Mutex<BTreeMap<TaskId, Supervised>>>,
    /// Set once the agent is stopping and killing its tasks: no new launches after that.
    closing: std::sync::atomic::AtomicBool,
}

impl Supervisors {
    pub fn new(config: &AgentConfig, updates: mpsc::UnboundedSender<TaskUpdate>) -> Supervisors {
        Supervisors {
            work_dir: config.work_dir.clone(),
            hostname: config.hostname.clone(),
            executor_command: config.executor_command.clone(),
            updates,
            tasks: Arc::new(Mutex::new(BTreeMap::new())),
            closing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<TaskId, Supervised>> {
        self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The last update of every task here, ended ones not yet acknowledged included.
    pub fn last_updates(&self) -> Vec<TaskUpdate> {
        self.lock().values().map(|s| s.last.clone()).collect()
    }

    /// The scheduler has `update`: a task whose end it now knows is no longer kept.
    pub fn acknowledge(&self, update: &TaskUpdate) {
        let mut tasks = self.lock();
        if update.state.is_terminal() && tasks.get(&update.task).is_some_and(|s| s.last.state == update.state) {
            tasks.remove(&update.task);
        }
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
        let reporter =
            Reporter { task: id, sandbox: sandbox_text, updates: self.updates.clone(), tasks: self.tasks.clone() };
        let prepared = prepare_launch(&launch, &self.hostname);
        let command = self.executor_command.clone();
        tokio::spawn(async move {
            match prepared {
                Ok(file) => supervise(file, sandbox, command, kill_rx, &reporter).await,
                Err(message) => reporter.report(TaskState::Failed, &message, None),
            }
        });
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
            let status = read_status(&self.sandbox(&task));
            if let Some(status) = status {
                let _ = kill(Pid::from_raw(status.executor_pid as i32), Signal::SIGKILL);
                for pgid in status.process_groups {
                    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                }
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

fn prepare_launch(launch: &v1::LaunchTask, hostname: &str) -> Result<LaunchFile, String> {
    let bad = |e: atoll_proto::WireError| format!("the scheduler sent an invalid launch: {e}");
    let job: JobKey = atoll_proto::job_key(launch.job.as_ref()).map_err(bad)?;
    let spec =
        TaskSpec::try_from(launch.task.as_ref().ok_or("the scheduler sent a launch without a task")?).map_err(bad)?;
    Ok(LaunchFile {
        task_id: launch.task_id.clone(),
        job,
        instance: launch.instance,
        hostname: hostname.to_owned(),
        ports: atoll_proto::ports_from_wire(&launch.ports).map_err(bad)?,
        spec,
        health_check: atoll_proto::health_check_from_wire(launch.health_check_config.as_ref()),
        lifecycle: atoll_proto::lifecycle_from_wire(launch.lifecycle.as_ref()),
        announce: launch.announce.as_ref().map(atoll_proto::announcer_from_wire).transpose().map_err(bad)?,
    })
}

async fn supervise(
    launch: LaunchFile,
    sandbox: Sandbox,
    command: Vec<String>,
    mut kill_requested: watch::Receiver<bool>,
    reporter: &Reporter,
) {
    let grace = Duration::from_secs(launch.spec.finalization_wait.min(60)) + KILL_MARGIN;
    if let Err(e) = sandbox.write_launch(&launch) {
        return reporter.report(TaskState::Failed, &format!("could not prepare the sandbox: {e}"), None);
    }
    let mut child = match spawn_executor(&command, &sandbox) {
        Ok(child) => child,
        Err(e) => return reporter.report(TaskState::Failed, &format!("could not start the executor: {e}"), None),
    };
    reporter.report(TaskState::Starting, "Executor started", None);
    let executor_pid = child.id().and_then(|pid| i32::try_from(pid).ok());
    let mut reported = TaskState::Starting;
    let mut kill_deadline: Option<tokio::time::Instant> = None;
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    let exit = loop {
        tokio::select! {
            exit = child.wait() => break exit,
            changed = kill_requested.changed(), if kill_deadline.is_none() => {
                if changed.is_ok() && *kill_requested.borrow() {
                    if let Some(pid) = executor_pid {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                    }
                    kill_deadline = Some(tokio::time::Instant::now() + grace);
                }
            }
            _ = poll.tick() => {
                if let Some(status) = read_status(&sandbox)
                    && status.state != reported
                    && !status.state.is_terminal()
                {
                    reported = status.state;
                    reporter.report(status.state, &status.message, status.exit_code);
                }
                if kill_deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    tracing::warn!(task = %reporter.task, "executor did not stop in time; SIGKILL");
                    if let Some(pid) = executor_pid {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
            }
        }
    };
    let status = read_status(&sandbox);
    match status {
        Some(status) if status.state.is_terminal() => {
            reporter.report(status.state, &status.message, status.exit_code);
        }
        leftover => {
            for pgid in leftover.map(|s| s.process_groups).unwrap_or_default() {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
            if kill_deadline.is_some() {
                reporter.report(TaskState::Killed, "Killed (the executor was forced to stop)", None);
            } else {
                let how = exit.map_or_else(|e| e.to_string(), |s| s.to_string());
                reporter.report(TaskState::Failed, &format!("the executor exited unexpectedly ({how})"), None);
            }
        }
    }
}

fn read_status(sandbox: &Sandbox) -> Option<ExecutorStatus> {
    match sandbox.read_status() {
        Ok(status) => status,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable executor status");
            None
        }
    }
}

fn spawn_executor(command: &[String], sandbox: &Sandbox) -> std::io::Result<tokio::process::Child> {
    let (program, args) =
        command.split_first().ok_or_else(|| std::io::Error::other("no executor command configured"))?;
    let log = |name: &str| std::fs::File::create(sandbox.root().join(".executor").join(name));
    tokio::process::Command::new(program)
        .args(args)
        .arg("--sandbox")
        .arg(sandbox.root())
        .current_dir(sandbox.root())
        .stdin(Stdio::null())
        .stdout(log("stdout")?)
        .stderr(log("stderr")?)
        // Its own process group: a Ctrl-C at the agent's terminal does not reach the task.
        .process_group(0)
        .spawn()
}

/// Kills the executor and processes of a task found only on disk. The executor's pid is
/// trusted only while `/proc/PID/cmdline` still names the sandbox, so a reused pid is safe.
async fn kill_orphan(sandbox: &Sandbox) {
    let Some(status) = read_status(sandbox) else { return };
    if status.state.is_terminal() {
        return;
    }
    let pid = status.executor_pid as i32;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains(&*sandbox.root().to_string_lossy());
    if ours {
        tracing::info!(sandbox = %sandbox.root().display(), pid, "killing a task left from before");
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        tokio::time::sleep(KILL_MARGIN).await;
        let still_ours = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == cmdline);
        if still_ours {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    for pgid in status.process_groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

//! Watching one executor: its status file, its end, kills with escalation, and the task's
//! limits. The executor is either one this agent started (a child it can wait on) or one an
//! earlier agent started and this one adopted after a restart (watched through `/proc`).
//!
//! Limits: the sandbox is measured every `disk_check_interval`, and a task over its disk is
//! killed and reported FAILED "Disk limit exceeded"; a task that fails after the kernel's OOM
//! killer struck in its control group is reported FAILED "Memory limit exceeded". Once the task
//! has ended its control group is emptied and removed.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use atoll_model::TaskState;
use atoll_sandbox::logs::Stream;
use atoll_sandbox::{ExecutorStatus, Sandbox};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

use super::{KILL_MARGIN, POLL_INTERVAL, Reporter, TaskLimits};
use crate::isolation::{TaskGroup, sandbox_disk_usage};

/// The slowest a quiet task's status file is read. Reads start at [`POLL_INTERVAL`] and double
/// while nothing changes, so a busy task is seen at once and an idle one costs little.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(400);

/// The executor process a supervisor watches.
pub(super) enum Executor {
    /// Started by this agent.
    Child(tokio::process::Child),
    /// Left running by an earlier agent; only its pid is known.
    Adopted(i32),
}

impl Executor {
    fn pid(&self) -> Option<i32> {
        match self {
            Executor::Child(child) => child.id().and_then(|pid| i32::try_from(pid).ok()),
            Executor::Adopted(pid) => Some(*pid),
        }
    }

    /// Waits for the executor to exit and says how it did.
    async fn exited(&mut self, sandbox: &Path) -> String {
        match self {
            Executor::Child(child) => child.wait().await.map_or_else(|e| e.to_string(), |s| s.to_string()),
            Executor::Adopted(pid) => {
                let mut wait = POLL_INTERVAL;
                while executor_alive(*pid, sandbox) {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_POLL_INTERVAL);
                }
                "it exited".to_owned()
            }
        }
    }
}

/// Whether `pid` is still the executor of `sandbox`: alive, not a zombie, and with the sandbox
/// on its command line (so a reused pid is never mistaken for it).
pub(crate) fn executor_alive(pid: i32, sandbox: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true);
    !zombie && String::from_utf8_lossy(&cmdline).contains(&*sandbox.to_string_lossy())
}

/// Watches `executor` until it exits, reporting every state its status file shows, carrying
/// out a kill request (SIGTERM, then SIGKILL after `grace`), and reporting how the task ended.
pub(super) async fn watch_executor(
    mut executor: Executor,
    sandbox: &Sandbox,
    limits: TaskLimits,
    mut kill_requested: watch::Receiver<bool>,
    reporter: &Reporter,
    mut reported: TaskState,
) {
    let pid = executor.pid();
    let grace = limits.kill_grace;
    let mut next_disk_check = tokio::time::Instant::now() + limits.disk_check_interval;
    let mut over_limit: Option<String> = None;
    let mut kill_deadline: Option<tokio::time::Instant> = None;
    let mut poll_every = POLL_INTERVAL;
    let killing = |requested: bool, deadline: &mut Option<tokio::time::Instant>| {
        if requested && deadline.is_none() {
            if let Some(pid) = pid {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            *deadline = Some(tokio::time::Instant::now() + grace);
        }
    };
    killing(*kill_requested.borrow(), &mut kill_deadline);
    let exit = loop {
        tokio::select! {
            exit = executor.exited(sandbox.root()) => break exit,
            changed = kill_requested.changed(), if kill_deadline.is_none() => {
                let requested = changed.is_ok() && *kill_requested.borrow();
                killing(requested, &mut kill_deadline);
                poll_every = POLL_INTERVAL;
            }
            () = tokio::time::sleep_until(next_disk_check), if kill_deadline.is_none() => {
                next_disk_check = tokio::time::Instant::now() + limits.disk_check_interval;
                if let Some(reason) = disk_exceeded(sandbox, limits.disk_limit_bytes).await {
                    tracing::warn!(task = %reporter.task, "{reason}");
                    over_limit = Some(reason);
                    killing(true, &mut kill_deadline);
                }
            }
            () = tokio::time::sleep(poll_every) => {
                poll_every = (poll_every * 2).min(MAX_POLL_INTERVAL);
                if let Some(status) = read_status(sandbox)
                    && status.state != reported
                    && !status.state.is_terminal()
                {
                    reported = status.state;
                    reporter.report(status.state, &status.message, status.exit_code);
                    poll_every = POLL_INTERVAL;
                }
                if kill_deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    tracing::warn!(task = %reporter.task, "executor did not stop in time; SIGKILL");
                    if let Some(pid) = pid {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
            }
        }
    };
    let (state, message, exit_code) = match read_status(sandbox) {
        Some(status) if status.state.is_terminal() => (status.state, status.message, status.exit_code),
        leftover => {
            kill_groups(leftover.map(|s| s.process_groups).unwrap_or_default());
            if kill_deadline.is_some() {
                (TaskState::Killed, "Killed (the executor was forced to stop)".to_owned(), None)
            } else {
                (TaskState::Failed, format!("the executor exited unexpectedly ({exit})"), None)
            }
        }
    };
    let oom = match &limits.group {
        Some(group) if state == TaskState::Failed => {
            let group = group.clone();
            tokio::task::spawn_blocking(move || group.oom_killed().unwrap_or(false)).await.unwrap_or(false)
        }
        _ => false,
    };
    match over_limit {
        Some(reason) => reporter.report(TaskState::Failed, &reason, None),
        None if oom => {
            reporter.metrics.oom_kill();
            reporter.report(TaskState::Failed, &format!("Memory limit exceeded ({message})"), exit_code);
        }
        None => reporter.report(state, &message, exit_code),
    }
    if let Some(group) = limits.group {
        release(group).await;
    }
}

/// Measures the sandbox; says why if it is over `limit_bytes`.
async fn disk_exceeded(sandbox: &Sandbox, limit_bytes: u64) -> Option<String> {
    let root = sandbox.root().to_owned();
    let used = tokio::task::spawn_blocking(move || sandbox_disk_usage(&root)).await.ok()?;
    let mib = 1024 * 1024;
    match used {
        Ok(bytes) if bytes > limit_bytes => Some(format!(
            "Disk limit exceeded: the sandbox uses {} MB of its {} MB",
            bytes.div_ceil(mib),
            limit_bytes / mib
        )),
        Ok(_) => None,
        Err(e) => Some(format!("Disk limit exceeded: the sandbox could not be measured within bounds ({e})")),
    }
}

/// Empties and removes a finished task's control group.
async fn release(group: TaskGroup) {
    let outcome = tokio::task::spawn_blocking(move || group.kill_all().and_then(|()| group.remove())).await;
    if let Ok(Err(e)) = outcome {
        tracing::warn!("could not remove a task's control group: {e}");
    }
}

/// SIGKILLs the executor of `sandbox`, if `pid` still is it.
pub(super) fn force_stop(pid: i32, sandbox: &Sandbox) {
    if executor_alive(pid, sandbox.root()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

pub(super) fn kill_groups(groups: Vec<i32>) {
    for pgid in groups.into_iter().filter(|g| *g > 1) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

pub(super) fn read_status(sandbox: &Sandbox) -> Option<ExecutorStatus> {
    match sandbox.read_status() {
        Ok(status) => status,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable executor status");
            None
        }
    }
}

/// What an executor reaches the scheduler's embedded registry with: the agent's token, the
/// path of its CA certificate, and the paths of its own certificate and key.
#[derive(Clone, Debug, Default)]
pub(super) struct ExecutorCredentials {
    pub(super) token: Option<String>,
    pub(super) ca_file: Option<std::path::PathBuf>,
    pub(super) identity: Option<crate::TlsFiles>,
}

/// Starts the executor of `sandbox`, with the agent's credentials in its environment
/// (`ATOLL_TOKEN`, `ATOLL_CA_FILE`, `ATOLL_CERT_FILE`, `ATOLL_KEY_FILE`); the task's processes,
/// whose environment is their own, never see them.
pub(super) fn spawn_executor(
    command: &[String],
    credentials: &ExecutorCredentials,
    sandbox: &Sandbox,
) -> std::io::Result<tokio::process::Child> {
    let (program, args) =
        command.split_first().ok_or_else(|| std::io::Error::other("no executor command configured"))?;
    let log = |stream: Stream| std::fs::File::create(sandbox.executor_output(stream));
    let mut executor = tokio::process::Command::new(program);
    if let Some(token) = &credentials.token {
        executor.env(atoll_sandbox::TOKEN_VARIABLE, token);
    }
    if let Some(ca_file) = &credentials.ca_file {
        executor.env(atoll_sandbox::CA_FILE_VARIABLE, ca_file);
    }
    if let Some(identity) = &credentials.identity {
        executor
            .env(atoll_sandbox::CERT_FILE_VARIABLE, &identity.cert)
            .env(atoll_sandbox::KEY_FILE_VARIABLE, &identity.key);
    }
    executor
        .args(args)
        .arg("--sandbox")
        .arg(sandbox.root())
        .current_dir(sandbox.root())
        .stdin(Stdio::null())
        .stdout(log(Stream::Stdout)?)
        .stderr(log(Stream::Stderr)?)
        // Its own process group: a Ctrl-C at the agent's terminal does not reach the task.
        .process_group(0)
        .spawn()
}

/// Kills the executor and processes of a task found only on disk.
pub(super) async fn kill_orphan(sandbox: &Sandbox) {
    let Some(status) = read_status(sandbox) else { return };
    if status.state.is_terminal() {
        return;
    }
    let pid = status.executor_pid as i32;
    if executor_alive(pid, sandbox.root()) {
        tracing::info!(sandbox = %sandbox.root().display(), pid, "killing a task left from before");
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        tokio::time::sleep(KILL_MARGIN).await;
        if executor_alive(pid, sandbox.root()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    kill_groups(status.process_groups);
}

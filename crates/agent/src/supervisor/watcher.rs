//! Watching one executor: its status file, its end, and kills with escalation. The executor is
//! either one this agent started (a child it can wait on) or one an earlier agent started and
//! this one adopted after a restart (watched through `/proc`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use atoll_model::TaskState;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

use super::{KILL_MARGIN, POLL_INTERVAL, Reporter};
use crate::sandbox::{ExecutorStatus, Sandbox};

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
                while executor_alive(*pid, sandbox) {
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                "it exited".to_owned()
            }
        }
    }
}

/// Whether `pid` is still the executor of `sandbox`: alive, not a zombie, and with the sandbox
/// on its command line (so a reused pid is never mistaken for it).
pub(super) fn executor_alive(pid: i32, sandbox: &Path) -> bool {
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
    grace: Duration,
    mut kill_requested: watch::Receiver<bool>,
    reporter: &Reporter,
    mut reported: TaskState,
) {
    let pid = executor.pid();
    let mut kill_deadline: Option<tokio::time::Instant> = None;
    let mut poll = tokio::time::interval(POLL_INTERVAL);
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
            }
            _ = poll.tick() => {
                if let Some(status) = read_status(sandbox)
                    && status.state != reported
                    && !status.state.is_terminal()
                {
                    reported = status.state;
                    reporter.report(status.state, &status.message, status.exit_code);
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
    match read_status(sandbox) {
        Some(status) if status.state.is_terminal() => {
            reporter.report(status.state, &status.message, status.exit_code);
        }
        leftover => {
            kill_groups(leftover.map(|s| s.process_groups).unwrap_or_default());
            if kill_deadline.is_some() {
                reporter.report(TaskState::Killed, "Killed (the executor was forced to stop)", None);
            } else {
                reporter.report(TaskState::Failed, &format!("the executor exited unexpectedly ({exit})"), None);
            }
        }
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

pub(super) fn spawn_executor(command: &[String], sandbox: &Sandbox) -> std::io::Result<tokio::process::Child> {
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

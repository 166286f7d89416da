//! Runs one task: the logic of `atoll executor --sandbox DIR`, a small Thermos.
//!
//! The executor reads the sandbox's launch file, runs the task's processes as the
//! `planner` decides (ordering, retries, daemons, ephemeral and final processes, the task's
//! failure limit), and writes every change of task state or of the set of live process groups
//! to the sandbox's status file. Each run of a process is `bash -c <command line>` in its own
//! process group (`process`), so stopping a process signals everything it started.
//!
//! Layout: `planner` is the pure decision core; `process` is the operating-system edge;
//! this module is the thin async loop between them and the status file.

mod planner;
mod process;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::{Future, pending};
use std::pin::pin;
use std::time::Duration;

use atoll_model::TaskState;
use nix::sys::signal::Signal;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use self::planner::{Planner, RunEnd, Start, Step};
use crate::sandbox::{ExecutorStatus, LaunchFile, Sandbox, SandboxError};

/// Why the executor could not run its task.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

/// Runs the task described by the sandbox's launch file until it ends or `shutdown` resolves,
/// writing every state change to the status file. Returns the final status.
///
/// On shutdown every live process group gets SIGTERM, then SIGKILL once the task's
/// `finalization_wait` (at most 60 seconds) has passed, and the task ends KILLED. If the status
/// file cannot be written, the task's process groups are killed and the error returned.
pub async fn run_task(sandbox: &Sandbox, shutdown: impl Future<Output = ()>) -> Result<ExecutorStatus, ExecutorError> {
    let launch = match sandbox.read_launch() {
        Ok(launch) => launch,
        Err(error) => {
            report_unreadable_launch(sandbox, &error);
            return Err(error.into());
        }
    };
    let mut runner = TaskRunner::new(sandbox, &launch);
    let result = runner.run(shutdown).await;
    if result.is_err() {
        runner.kill_all();
    }
    result
}

/// Tells the agent, through the status file, why the task never started; a sandbox directory
/// that does not exist is left alone.
fn report_unreadable_launch(sandbox: &Sandbox, error: &SandboxError) {
    if sandbox.root().is_dir() {
        let failed = status(TaskState::Failed, error.to_string(), None, Vec::new());
        if let Err(write_error) = sandbox.write_status(&failed) {
            tracing::warn!("{write_error}");
        }
    }
}

fn status(state: TaskState, message: String, exit_code: Option<i32>, process_groups: Vec<i32>) -> ExecutorStatus {
    ExecutorStatus { state, message, exit_code, executor_pid: std::process::id(), process_groups }
}

/// The async loop: carries out the planner's steps and feeds it run ends, timers and shutdown.
struct TaskRunner<'a> {
    sandbox: &'a Sandbox,
    launch: &'a LaunchFile,
    planner: Planner,
    /// Process index to the process group of its live run.
    groups: BTreeMap<usize, i32>,
    /// One waiter per started run, yielding the process index and how the run ended.
    waiters: JoinSet<(usize, RunEnd)>,
    started_at: Instant,
    /// STARTING until the first run is spawned, then RUNNING.
    state: TaskState,
    last_written: Option<ExecutorStatus>,
}

impl<'a> TaskRunner<'a> {
    fn new(sandbox: &'a Sandbox, launch: &'a LaunchFile) -> TaskRunner<'a> {
        TaskRunner {
            sandbox,
            launch,
            planner: Planner::new(&launch.spec),
            groups: BTreeMap::new(),
            waiters: JoinSet::new(),
            started_at: Instant::now(),
            state: TaskState::Starting,
            last_written: None,
        }
    }

    async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Result<ExecutorStatus, ExecutorError> {
        let mut shutdown = pin!(shutdown);
        let mut shutdown_pending = true;
        self.write_progress()?;
        loop {
            let step = self.planner.step(self.now());
            if let Some(outcome) = step.outcome {
                tracing::info!(task = %self.launch.task_id, state = %outcome.state(), "{}", outcome.message());
                return self.write(status(
                    outcome.state(),
                    outcome.message().to_owned(),
                    outcome.exit_code(),
                    Vec::new(),
                ));
            }
            self.carry_out(&step);
            self.write_progress()?;
            let wake = step.wake_at.map(|at| self.started_at + at);
            tokio::select! {
                Some(joined) = self.waiters.join_next() => {
                    let (process, end) = joined.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
                    self.run_ended(process, end);
                }
                () = sleep_until_some(wake) => {}
                () = &mut shutdown, if shutdown_pending => {
                    shutdown_pending = false;
                    tracing::info!(task = %self.launch.task_id, "shutdown requested");
                    self.planner.request_kill(self.now());
                }
            }
        }
    }

    fn now(&self) -> Duration {
        self.started_at.elapsed()
    }

    fn carry_out(&mut self, step: &Step) {
        for start in &step.start {
            self.start_run(*start);
        }
        for (processes, signal) in [(&step.terminate, Signal::SIGTERM), (&step.kill, Signal::SIGKILL)] {
            for process in processes {
                if let Some(&pgid) = self.groups.get(process) {
                    process::signal_group(pgid, signal);
                }
            }
        }
    }

    /// Spawns the run and a waiter for it; a run that cannot start ends at once, through its waiter.
    fn start_run(&mut self, Start { process, run }: Start) {
        let spec = &self.launch.spec.processes[process];
        match process::spawn_run(self.sandbox, self.launch, spec, run) {
            Ok(mut child) => {
                tracing::info!(process = %spec.name, run, pid = child.id(), "started");
                if let Some(pgid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                    self.groups.insert(process, pgid);
                }
                self.state = TaskState::Running;
                self.waiters.spawn(async move { (process, process::run_end(child.wait().await)) });
            }
            Err(error) => {
                let end = RunEnd::Error(format!("could not be started: {error}"));
                self.waiters.spawn(async move { (process, end) });
            }
        }
    }

    /// Records a run's end, first killing anything its leader left behind in the group.
    fn run_ended(&mut self, process: usize, end: RunEnd) {
        tracing::info!(process = %self.launch.spec.processes[process].name, ?end, "ended");
        if let Some(pgid) = self.groups.remove(&process) {
            process::signal_group(pgid, Signal::SIGKILL);
        }
        self.planner.run_ended(process, end, self.now());
    }

    fn kill_all(&mut self) {
        for pgid in std::mem::take(&mut self.groups).into_values() {
            process::signal_group(pgid, Signal::SIGKILL);
        }
    }

    fn write_progress(&mut self) -> Result<ExecutorStatus, ExecutorError> {
        let message = match self.state {
            TaskState::Starting => "starting",
            _ => "running",
        };
        let mut groups: Vec<i32> = self.groups.values().copied().collect();
        groups.sort_unstable();
        self.write(status(self.state, message.to_owned(), None, groups))
    }

    /// Writes `status` unless it is what the file already says.
    fn write(&mut self, status: ExecutorStatus) -> Result<ExecutorStatus, ExecutorError> {
        if self.last_written.as_ref() != Some(&status) {
            self.sandbox.write_status(&status)?;
            self.last_written = Some(status.clone());
        }
        Ok(status)
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}

//! Runs one task: the logic of `atoll executor --sandbox DIR`, a small Thermos.
//!
//! The executor reads the sandbox's launch file, runs the task's processes as the planner
//! (`atoll-planner`) decides (ordering, retries, daemons, ephemeral and final processes, the
//! task's failure limit), and writes every change of task state or of the set of live process
//! groups to the sandbox's status file. Each run of a process is `bash -c <command line>` in its own
//! process group (`process`), so stopping a process signals everything it started.
//!
//! The task is STARTING until its health check says it is healthy (`health`; a task without a
//! health check is healthy once its processes start), then RUNNING. A kill first asks the task
//! to stop over HTTP when it has the lifecycle port (`POST /quitquitquit`, then
//! `POST /abortabortabort`, each followed by a wait), and only then signals its process groups.
//!
//! Layout: `atoll-planner` is the pure decision core; `health` holds the health rules and
//! checks; `process`, `logs` and `http` are the operating-system edges; `announce` keeps the
//! task's ServerSet member; this module is the thin async loop between them and the status
//! file.
//!
//! Invariants: the executor talks to its agent only through the sandbox's files
//! (`atoll-sandbox`), so it outlives agent restarts and upgrades; but not an agent gone for
//! good: past the recovery timeout without the agent's pulse (`agent_watch`), or with its
//! sandbox removed, it ends its task LOST and exits. It stays outside the task's
//! control groups: each process it starts enters them itself and becomes the task's user
//! ([`ChildSetup`], through [`process::TaskShell`]), so the task's limits never bind the
//! executor that supervises it, and no command of the task runs with the executor's user or
//! environment.

mod agent_watch;
mod announce;
mod custom;
mod health;
mod http;
mod logs;
mod process;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::{Future, pending};
use std::pin::pin;
use std::time::Duration;

use atoll_announce::MemberStatus;
use atoll_model::TaskState;
use atoll_model::config::HttpLifecycleConfig;
use atoll_planner::{Planner, RunEnd, Start, Step};
use atoll_proto::v1;
use atoll_sandbox::{ChildSetup, ExecutorStatus, LaunchFile, STATUS_FORMAT, Sandbox, SandboxError};
use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep_until};

use self::announce::Announcement;
use self::custom::{CustomCall, CustomExecutor};
use self::health::{Checker, HealthTracker, Verdict};
use self::process::TaskShell;

/// The longest a kill waits for the task's member to leave the registry.
const WITHDRAW_LIMIT: Duration = Duration::from_secs(1);

/// How often the sandbox's inbox is looked at for a custom executor's framework messages.
const INBOX_INTERVAL: Duration = Duration::from_millis(250);

/// How long a custom executor that reported its task's end has to exit before it is stopped.
const CUSTOM_EXIT_WAIT: Duration = Duration::from_secs(5);

/// How long a custom executor told KILL has before it gets SIGTERM; within the agent's margin
/// beyond the finalization wait, so the agent's own SIGKILL never comes first.
const CUSTOM_KILL_NOTICE: Duration = Duration::from_secs(3);

/// Why the executor could not run its task.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("{0}")]
    Isolation(String),
}

/// Runs the task described by the sandbox's launch file until it ends or `shutdown` resolves,
/// writing every state change to the status file. Returns the final status.
///
/// On shutdown every live process group gets SIGTERM, then SIGKILL once the task's
/// `finalization_wait` (at most 60 seconds) has passed, and the task ends KILLED. If the status
/// file cannot be written, the task's process groups are killed and the error returned.
pub async fn run_task(sandbox: &Sandbox, shutdown: impl Future<Output = ()>) -> Result<ExecutorStatus, ExecutorError> {
    let file = match sandbox.read_launch() {
        Ok(file) => file,
        Err(error) => {
            report_unreadable_launch(sandbox, &error);
            return Err(error.into());
        }
    };
    let prepared = sandbox
        .prepare_task_home(&file)
        .map_err(|error| format!("could not prepare the task's home: {error}"))
        .and_then(|home| {
            let setup = ChildSetup::open(&file.cgroups, file.user.as_ref())
                .map_err(|error| format!("could not open the task's control groups: {error}"))?;
            Ok(TaskShell::new(sandbox, &file, home, setup))
        });
    let prepared = prepared.and_then(|shell| match &file.launch.config.custom_executor {
        None => Ok((shell, None)),
        Some(custom) => {
            let launch = &file.launch;
            let task_id = atoll_model::framework::framework_task_id(&launch.task_id, &launch.job, launch.instance);
            let (api, calls) = CustomExecutor::start(&file, &task_id, custom.data.clone(), shell.home())?;
            let shell = shell.with_variable(custom::SOCKET_VARIABLE, api.socket());
            Ok((shell, Some((api, calls))))
        }
    });
    let (shell, custom) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => {
            if let Err(write_error) =
                sandbox.write_status(&status(TaskState::Failed, message.clone(), None, Vec::new()))
            {
                tracing::warn!("{write_error}");
            }
            return Err(ExecutorError::Isolation(message));
        }
    };
    let (health_sender, health_events) = mpsc::unbounded_channel();
    let (custom, calls) = match custom {
        Some((api, calls)) => (Some(api), Some(calls)),
        None => (None, None),
    };
    let mut runner = TaskRunner::new(sandbox, &file, shell, health_sender);
    runner.custom = custom;
    let result = runner.run(shutdown, health_events, calls).await;
    // The socket goes with the task.
    runner.custom = None;
    if let Some(monitor) = runner.monitor.take() {
        monitor.abort();
    }
    if let Some(announcement) = runner.announcement.take() {
        announcement.withdraw(WITHDRAW_LIMIT).await;
    }
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
    ExecutorStatus {
        format_version: STATUS_FORMAT,
        state,
        message,
        exit_code,
        executor_pid: std::process::id(),
        process_groups,
    }
}

/// The async loop: carries out the planner's steps and feeds it run ends, timers and shutdown.
struct TaskRunner<'a> {
    sandbox: &'a Sandbox,
    /// The task's launch file.
    file: &'a LaunchFile,
    /// How each command of the task starts: where, with what environment, as whom.
    shell: TaskShell,
    planner: Planner,
    /// Process index to the process group of its live run.
    groups: BTreeMap<usize, i32>,
    /// One waiter per started run, yielding the process index and how the run ended.
    waiters: JoinSet<(usize, RunEnd)>,
    started_at: Instant,
    /// STARTING until the health check passes, then RUNNING.
    state: TaskState,
    last_written: Option<ExecutorStatus>,
    /// The health monitor, started with the first run.
    monitor: Option<JoinHandle<()>>,
    /// The task's ServerSet member: its session from the start, the member itself from the
    /// first run until the task stops.
    announcement: Option<Announcement>,
    health_events: mpsc::UnboundedSender<HealthEvent>,
    /// Why the task was given up without being asked to stop ([`agent_watch`]): it then ends
    /// LOST with this message.
    abandoned: Option<String>,
    /// The executor API, for a task run by a framework's custom executor: its state is then
    /// what the custom executor reports.
    custom: Option<CustomExecutor>,
    /// The end the custom executor reported; the task ends so once its process has exited.
    reported_end: Option<(TaskState, String)>,
    /// What the custom executor said with its RUNNING.
    custom_message: Option<String>,
}

/// What the health monitor tells the runner.
#[derive(Debug)]
enum HealthEvent {
    Healthy,
    /// A healthy task failed a check (not yet enough to be unhealthy).
    Failing,
    /// A failing task passed a check again.
    Recovered,
    Unhealthy(String),
}

/// Where a kill stands when the task has an HTTP lifecycle.
#[derive(Clone, Copy, Debug, PartialEq)]
enum KillPhase {
    None,
    /// `/quitquitquit` sent; waiting until the deadline for the processes to stop.
    Graceful {
        until: Duration,
    },
    /// `/abortabortabort` sent; waiting until the deadline.
    Abort {
        until: Duration,
    },
    /// Signals: the planner terminates and then kills.
    Signals,
}

impl<'a> TaskRunner<'a> {
    fn new(
        sandbox: &'a Sandbox,
        file: &'a LaunchFile,
        shell: TaskShell,
        health_events: mpsc::UnboundedSender<HealthEvent>,
    ) -> TaskRunner<'a> {
        TaskRunner {
            sandbox,
            file,
            shell,
            planner: Planner::new(&file.launch.config.task),
            groups: BTreeMap::new(),
            waiters: JoinSet::new(),
            started_at: Instant::now(),
            state: TaskState::Starting,
            last_written: None,
            monitor: None,
            announcement: None,
            health_events,
            abandoned: None,
            custom: None,
            reported_end: None,
            custom_message: None,
        }
    }

    async fn run(
        &mut self,
        shutdown: impl Future<Output = ()>,
        mut health_events: mpsc::UnboundedReceiver<HealthEvent>,
        mut custom_calls: Option<mpsc::UnboundedReceiver<CustomCall>>,
    ) -> Result<ExecutorStatus, ExecutorError> {
        let mut inbox = tokio::time::interval(INBOX_INTERVAL);
        let mut shutdown = pin!(shutdown);
        let mut shutdown_pending = true;
        let mut agent_gone = pin!(agent_watch::watch(self.file.agent_watch.clone(), self.sandbox.root().to_owned()));
        let mut kill_phase = KillPhase::None;
        self.announcement = Announcement::prepare(self.file);
        self.write_progress()?;
        loop {
            kill_phase = self.advance_kill(kill_phase);
            let step = self.planner.step(self.now());
            if let Some(outcome) = step.outcome {
                let (state, message) = match (self.abandoned.take(), self.reported_end.take()) {
                    (Some(reason), _) => (TaskState::Lost, reason),
                    (None, Some(reported)) => reported,
                    (None, None) if self.custom.is_some() && outcome.state() != TaskState::Killed => (
                        TaskState::Failed,
                        format!("The custom executor ended before it reported its task's end: {}", outcome.message()),
                    ),
                    (None, None) => (outcome.state(), outcome.message().to_owned()),
                };
                tracing::info!(task = %self.file.launch.task_id, %state, "{message}");
                return self.write(status(state, message, outcome.exit_code(), Vec::new()));
            }
            self.carry_out(&step);
            self.write_progress()?;
            let phase_deadline = match kill_phase {
                KillPhase::Graceful { until } | KillPhase::Abort { until } => Some(until),
                KillPhase::None | KillPhase::Signals => None,
            };
            let wake = [step.wake_at, phase_deadline].into_iter().flatten().min().map(|at| self.started_at + at);
            tokio::select! {
                Some(joined) = self.waiters.join_next() => {
                    let (process, end) = joined.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
                    self.run_ended(process, end);
                }
                Some(event) = health_events.recv() => self.health_changed(event),
                Some(call) = recv_some(&mut custom_calls) => {
                    if let Some(phase) = self.custom_call(call)? {
                        kill_phase = phase;
                    }
                }
                _ = inbox.tick(), if self.custom.is_some() => self.deliver_inbox(),
                () = sleep_until_some(wake) => {}
                reason = &mut agent_gone, if shutdown_pending => {
                    shutdown_pending = false;
                    tracing::warn!(task = %self.file.launch.task_id, "{reason}");
                    self.abandoned = Some(reason);
                    kill_phase = self.stop().await;
                }
                () = &mut shutdown, if shutdown_pending => {
                    shutdown_pending = false;
                    tracing::info!(task = %self.file.launch.task_id, "shutdown requested");
                    kill_phase = self.stop().await;
                }
            }
        }
    }

    /// Stops the task: its member leaves the registry first, so consumers stop sending it
    /// work before it is asked to stop; then the kill begins.
    async fn stop(&mut self) -> KillPhase {
        if let Some(announcement) = self.announcement.take() {
            announcement.withdraw(WITHDRAW_LIMIT).await;
        }
        self.begin_kill()
    }

    /// What the custom executor asked: its task RUNNING (acknowledged once written) or ended
    /// (acknowledged, then it is told to shut down, and stopped if it has not after a short
    /// wait: the kill phase returned), or a message for its framework, left in the outbox.
    fn custom_call(&mut self, call: CustomCall) -> Result<Option<KillPhase>, ExecutorError> {
        use v1::executor_event::Event;
        let Some(api) = &self.custom else { return Ok(None) };
        let task_id = api.task_id().to_owned();
        match call {
            CustomCall::Message(data) => {
                if let Err(e) = self.sandbox.put_message(atoll_sandbox::MessageBox::Outbox, &data) {
                    tracing::warn!(error = %e, "a custom executor's message could not be left for the agent");
                }
                Ok(None)
            }
            CustomCall::Update { state: TaskState::Running, message, uuid } => {
                if self.reported_end.is_none() {
                    self.state = TaskState::Running;
                    self.custom_message = Some(message);
                    self.write_progress()?;
                }
                if let Some(api) = &self.custom {
                    api.send(Event::Acknowledged(v1::ExecutorAcknowledged { task_id, uuid }));
                }
                Ok(None)
            }
            CustomCall::Update { state, message, uuid } => {
                tracing::info!(task = %self.file.launch.task_id, %state, "the custom executor reported its task's end");
                let first = self.reported_end.is_none();
                if first {
                    self.reported_end = Some((state, message));
                }
                let grace = self.finalization_wait();
                if let Some(api) = &self.custom {
                    api.send(Event::Acknowledged(v1::ExecutorAcknowledged { task_id, uuid }));
                    if first {
                        api.send(Event::Shutdown(v1::ExecutorShutdown { grace_secs: grace.as_secs_f64() }));
                    }
                }
                if !first {
                    return Ok(None);
                }
                self.planner.drain();
                Ok(Some(KillPhase::Graceful { until: self.now() + grace.min(CUSTOM_EXIT_WAIT) }))
            }
        }
    }

    /// Hands the framework's messages in the inbox to the subscribed custom executor.
    fn deliver_inbox(&mut self) {
        use v1::executor_event::Event;
        let Some(api) = &self.custom else { return };
        if !api.subscribed() {
            return;
        }
        match self.sandbox.take_messages(atoll_sandbox::MessageBox::Inbox) {
            Ok(messages) => {
                for data in messages {
                    if !api.send(Event::Message(v1::ExecutorFrameworkMessage { data })) {
                        tracing::warn!("a framework message was dropped: the custom executor reads too slowly");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "the framework's messages could not be read"),
        }
    }

    /// The task's finalization wait, as a kill gives it (at most a minute).
    fn finalization_wait(&self) -> Duration {
        Duration::from_secs(self.file.launch.config.task.finalization_wait.min(60))
    }

    /// Starts a kill: over HTTP first when the task has its lifecycle port, else with signals.
    /// A custom executor is told KILL first and has [`CUSTOM_KILL_NOTICE`] to report its task's
    /// end and exit; then signals, SIGKILL after the finalization wait.
    fn begin_kill(&mut self) -> KillPhase {
        if let Some(api) = &self.custom {
            let kill =
                v1::ExecutorKill { task_id: api.task_id().to_owned(), grace_secs: CUSTOM_KILL_NOTICE.as_secs_f64() };
            api.send(v1::executor_event::Event::Kill(kill));
            self.planner.drain();
            return KillPhase::Graceful { until: self.now() + CUSTOM_KILL_NOTICE };
        }
        match self.lifecycle() {
            Some((port, lifecycle)) => {
                self.post(port, &lifecycle.graceful_shutdown_endpoint);
                self.planner.drain();
                KillPhase::Graceful {
                    until: self.now() + Duration::from_secs(lifecycle.graceful_shutdown_wait_secs.into()),
                }
            }
            None => {
                self.planner.request_kill(self.now());
                KillPhase::Signals
            }
        }
    }

    /// Moves the kill on when its wait is over: graceful, then abort, then signals.
    fn advance_kill(&mut self, phase: KillPhase) -> KillPhase {
        let now = self.now();
        match (phase, self.lifecycle()) {
            (KillPhase::Graceful { until }, Some((port, lifecycle))) if now >= until => {
                self.post(port, &lifecycle.shutdown_endpoint);
                KillPhase::Abort { until: now + Duration::from_secs(lifecycle.shutdown_wait_secs.into()) }
            }
            (KillPhase::Abort { until }, _) if now >= until => {
                self.planner.request_kill(now);
                KillPhase::Signals
            }
            // A custom executor's wait to exit after its task's end is over.
            (KillPhase::Graceful { until }, None) if now >= until => {
                self.planner.request_kill(now);
                KillPhase::Signals
            }
            (phase, _) => phase,
        }
    }

    /// The lifecycle port and its endpoints, when the task has both.
    fn lifecycle(&self) -> Option<(u16, HttpLifecycleConfig)> {
        let http = self.file.launch.config.lifecycle.http.as_ref()?;
        self.file.launch.ports.get(&http.port).map(|port| (*port, http.clone()))
    }

    /// Sends `POST endpoint` to the task without waiting for the answer.
    fn post(&self, port: u16, endpoint: &str) {
        let endpoint = endpoint.to_owned();
        tracing::info!(task = %self.file.launch.task_id, port, %endpoint, "lifecycle request");
        tokio::spawn(async move {
            if let Err(error) = http::request("POST", port, &endpoint, Duration::from_secs(1)).await {
                tracing::info!(%endpoint, "lifecycle request failed: {error}");
            }
        });
    }

    fn health_changed(&mut self, event: HealthEvent) {
        match event {
            HealthEvent::Healthy => {
                tracing::info!(task = %self.file.launch.task_id, "healthy");
                self.state = TaskState::Running;
                if let Some(announcement) = &self.announcement {
                    announcement.set_status(MemberStatus::Alive);
                }
            }
            HealthEvent::Failing | HealthEvent::Recovered => {
                // Consumers route only to ALIVE members: step aside while checks fail.
                let status =
                    if matches!(event, HealthEvent::Failing) { MemberStatus::Warning } else { MemberStatus::Alive };
                if let Some(announcement) = &self.announcement {
                    announcement.set_status(status);
                }
            }
            HealthEvent::Unhealthy(reason) => {
                tracing::warn!(task = %self.file.launch.task_id, "{reason}");
                self.planner.request_failure(reason, self.now());
            }
        }
    }

    /// Starts the health monitor, once, when the first run starts. A custom executor's task has
    /// none: it is RUNNING when its executor says so.
    fn start_monitor(&mut self) {
        if self.monitor.is_some() || self.custom.is_some() {
            return;
        }
        let checker = Checker::for_launch(self.file, &self.shell);
        let first_status = if matches!(checker, Checker::None) { MemberStatus::Alive } else { MemberStatus::Starting };
        if let Some(announcement) = &self.announcement {
            announcement.announce(first_status);
        }
        let config = self.file.launch.config.health_check_config.clone();
        let home = self.shell.home().to_owned();
        let events = self.health_events.clone();
        self.monitor = Some(tokio::spawn(async move {
            if matches!(checker, Checker::None) {
                let _ = events.send(HealthEvent::Healthy);
                return;
            }
            let mut tracker = HealthTracker::new(&config);
            let interval = Duration::from_secs_f64(config.interval_secs.max(0.01));
            let timeout = Duration::from_secs_f64(config.timeout_secs.max(0.01));
            let (mut healthy, mut failing) = (false, false);
            loop {
                let result = checker.check(&home, timeout).await;
                let passed = result.is_ok();
                match tracker.record(result) {
                    Verdict::Healthy if !healthy => {
                        healthy = true;
                        let _ = events.send(HealthEvent::Healthy);
                    }
                    Verdict::Healthy if passed == failing => {
                        failing = !passed;
                        let _ = events.send(if failing { HealthEvent::Failing } else { HealthEvent::Recovered });
                    }
                    Verdict::Unhealthy(reason) => {
                        let _ = events.send(HealthEvent::Unhealthy(reason));
                        return;
                    }
                    Verdict::Healthy | Verdict::Undecided => {}
                }
                tokio::time::sleep(interval).await;
            }
        }));
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
        let spec = &self.file.launch.config.task.processes[process];
        match process::spawn_run(self.sandbox, self.file, &self.shell, spec, run) {
            Ok(mut child) => {
                tracing::info!(process = %spec.name, run, pid = child.id(), "started");
                if let Some(pgid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                    self.groups.insert(process, pgid);
                }
                self.start_monitor();
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
        tracing::info!(process = %self.file.launch.config.task.processes[process].name, ?end, "ended");
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
        let message = match (self.state, &self.custom_message) {
            (TaskState::Starting, _) if self.custom.is_some() => "waiting for the custom executor to report RUNNING",
            (TaskState::Starting, _) if self.monitor.is_some() => "waiting for the health check to pass",
            (TaskState::Starting, _) => "starting",
            (_, Some(said)) if !said.is_empty() => said,
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

/// The next of `receiver`'s items, or never when there is none.
async fn recv_some<T>(receiver: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match receiver {
        Some(receiver) => receiver.recv().await,
        None => pending().await,
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}

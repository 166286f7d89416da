//! The executor's decision core, after Thermos's task planner: which process may start now,
//! when the task is complete or has failed, and which processes to signal while it stops.
//!
//! It is plain data and pure functions over a caller-supplied clock (`Duration` since the task
//! started), so it is tested without processes. The caller (the executor) reports run ends and
//! kill requests, calls [`Planner::step`] after each, carries out the returned [`Step`], and
//! calls `step` again at [`Step::wake_at`] or when the next run ends, whichever comes first.
//!
//! A task moves through these stages:
//! - *active*: ordinary processes run as their ordering, `min_duration` and `max_concurrency`
//!   allow, until every non-ephemeral ordinary process has finished or failed for good, the
//!   permanent failures reach the task's `max_failures`, or nothing can ever start again;
//! - *cleaning*: ordinary processes still running get SIGTERM, then SIGKILL at the deadline
//!   (`finalization_wait` after the active stage ended, at most 60 seconds);
//! - *finalizing*: final processes run, in their own order, until the same deadline;
//! - *draining* (on request, before killing): no run starts and nothing is signalled, so the
//!   processes can stop on their own after an HTTP lifecycle request; the task ends KILLED once
//!   none runs;
//! - *killing* (on request, from any stage): every running process gets SIGTERM, then SIGKILL at
//!   the deadline; final processes are not started. A kill ends the task KILLED; a failure
//!   request (an unhealthy task) ends it FAILED with the reason.
//!
//! Invariant: pure and deterministic. No clock, no I/O, no randomness, no asynchronous runtime
//! and no operating-system crate: the same calls give the same steps. It depends on the model
//! alone, which `tests/workspace_invariants.rs` checks, with the sources.

use std::collections::BTreeMap;
use std::time::Duration;

use atoll_model::{ProcessSpec, TaskSpec, TaskState};

/// The longest a task gets to stop, whatever its `finalization_wait` says.
pub const MAX_FINALIZATION_WAIT: Duration = Duration::from_secs(60);

/// How one run of a process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    Exited(i32),
    /// Killed by this signal number.
    Signaled(i32),
    /// The run could not be started or waited on; the text says why, completing "process 'x' …".
    Error(String),
}

impl RunEnd {
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            RunEnd::Exited(code) => Some(*code),
            RunEnd::Signaled(_) | RunEnd::Error(_) => None,
        }
    }

    /// Describes a failed run, completing "process 'x' …".
    pub fn describe(&self) -> String {
        match self {
            RunEnd::Exited(code) => format!("failed with exit code {code}"),
            RunEnd::Signaled(number) => match signal_name(*number) {
                Some(name) => format!("was killed by signal {name}"),
                None => format!("was killed by signal {number}"),
            },
            RunEnd::Error(why) => why.clone(),
        }
    }

    fn succeeded(&self) -> bool {
        *self == RunEnd::Exited(0)
    }
}

/// The name of Linux signal `number` (`SIGKILL` for 9), `None` for a number that names none.
pub fn signal_name(number: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    let index = usize::try_from(number).ok()?.checked_sub(1)?;
    NAMES.get(index).copied()
}

/// Why a task failed, as the status file will say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub exit_code: Option<i32>,
}

/// How a task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Finished { message: String },
    Failed(Failure),
    Killed,
}

impl Outcome {
    pub fn state(&self) -> TaskState {
        match self {
            Outcome::Finished { .. } => TaskState::Finished,
            Outcome::Failed(_) => TaskState::Failed,
            Outcome::Killed => TaskState::Killed,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Outcome::Finished { message } | Outcome::Failed(Failure { message, .. }) => message,
            Outcome::Killed => "killed by request",
        }
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Outcome::Finished { .. } => Some(0),
            Outcome::Failed(failure) => failure.exit_code,
            Outcome::Killed => None,
        }
    }
}

/// Start run number `run` (0, 1, 2, …) of the process at index `process` of the task spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    pub process: usize,
    pub run: u32,
}

/// What the caller must do now. Process indexes are positions in the task spec's process list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    pub start: Vec<Start>,
    /// Send SIGTERM to these processes' groups.
    pub terminate: Vec<usize>,
    /// Send SIGKILL to these processes' groups.
    pub kill: Vec<usize>,
    /// Call `step` again at this time if no run ends before; `None` means wait for a run end.
    pub wake_at: Option<Duration>,
    /// Set once the task has ended and no process is running.
    pub outcome: Option<Outcome>,
}

/// The strongest signal sent to a running process so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Signalled {
    Nothing,
    Term,
    Kill,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcessState {
    /// May start once its predecessors have finished and `min_duration` has passed since its last run.
    Waiting,
    Running(Signalled),
    /// Succeeded, or (ephemeral) ran out of retries: done for good.
    Finished,
    /// Ran out of retries.
    Failed,
    /// Stopped by the executor.
    Killed,
}

#[derive(Clone, Debug)]
struct ProcessPlan {
    spec: ProcessSpec,
    predecessors: Vec<String>,
    state: ProcessState,
    runs: u32,
    failures: u32,
    /// When the last run ended, and how.
    last_end: Option<(Duration, RunEnd)>,
}

impl ProcessPlan {
    fn ready_at(&self) -> Duration {
        self.last_end.as_ref().map_or(Duration::ZERO, |(at, _)| *at + Duration::from_secs(self.spec.min_duration))
    }

    /// Moves a run that ended to its next state: killed if signalled, else success or failure
    /// by the process's rules (daemons go round again, failures retry until `max_failures`).
    fn end_run(&mut self, signalled: Signalled, end: RunEnd, now: Duration) {
        self.state = if signalled != Signalled::Nothing {
            ProcessState::Killed
        } else if end.succeeded() {
            if self.spec.daemon { ProcessState::Waiting } else { ProcessState::Finished }
        } else {
            self.failures += 1;
            if self.spec.max_failures == 0 || self.failures < self.spec.max_failures {
                ProcessState::Waiting
            } else if self.spec.ephemeral {
                ProcessState::Finished
            } else {
                ProcessState::Failed
            }
        };
        self.last_end = Some((now, end));
    }

    fn is_running(&self) -> bool {
        matches!(self.state, ProcessState::Running(_))
    }

    /// Non-ephemeral ordinary processes decide whether the task completes.
    fn counts_for_completion(&self) -> bool {
        !self.spec.ephemeral && !self.spec.is_final
    }

    fn failure(&self) -> Failure {
        let end = self.last_end.as_ref().map(|(_, end)| end);
        Failure {
            message: format!(
                "process '{}' {}",
                self.spec.name,
                end.map_or_else(|| "never ran".to_owned(), RunEnd::describe)
            ),
            exit_code: end.and_then(RunEnd::exit_code),
        }
    }
}

/// How the active stage ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TaskEnd {
    Completed,
    Failed(Failure),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    Active,
    Cleaning { end: TaskEnd, deadline: Duration },
    Finalizing { end: TaskEnd, deadline: Duration },
    Draining,
    Killing { deadline: Duration, outcome: Outcome },
    Done(Outcome),
}

/// The state of one task's processes and the rules that move them.
#[derive(Clone, Debug)]
pub struct Planner {
    processes: Vec<ProcessPlan>,
    index: BTreeMap<String, usize>,
    max_failures: u32,
    max_concurrency: u32,
    finalization_wait: Duration,
    stage: Stage,
}

impl Planner {
    pub fn new(spec: &TaskSpec) -> Planner {
        let mut predecessors = spec.predecessors();
        let processes = spec
            .processes
            .iter()
            .map(|process| ProcessPlan {
                spec: process.clone(),
                predecessors: predecessors
                    .remove(process.name.as_str())
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                state: ProcessState::Waiting,
                runs: 0,
                failures: 0,
                last_end: None,
            })
            .collect();
        Planner {
            processes,
            index: spec.processes.iter().enumerate().map(|(i, p)| (p.name.clone(), i)).collect(),
            max_failures: spec.max_failures,
            max_concurrency: spec.max_concurrency,
            finalization_wait: Duration::from_secs(spec.finalization_wait).min(MAX_FINALIZATION_WAIT),
            stage: Stage::Active,
        }
    }

    /// Records that the running process at `process` ended (a process not running is left
    /// alone). A run the executor signalled counts as killed, not failed.
    pub fn run_ended(&mut self, process: usize, end: RunEnd, now: Duration) {
        let plan = &mut self.processes[process];
        let ProcessState::Running(signalled) = plan.state else { return };
        plan.end_run(signalled, end, now);
        if plan.state == ProcessState::Failed && plan.counts_for_completion() && self.stage == Stage::Active {
            let failure = plan.failure();
            if self.max_failures > 0 && self.permanently_failed().count() >= self.max_failures as usize {
                self.stage = Stage::Cleaning { end: TaskEnd::Failed(failure), deadline: now + self.finalization_wait };
            }
        }
    }

    /// Stops the task: every running process is terminated, then killed at the deadline. The
    /// task ends KILLED (or FAILED, if a failure was requested first).
    pub fn request_kill(&mut self, now: Duration) {
        let outcome = match &self.stage {
            Stage::Killing { outcome, .. } => outcome.clone(),
            _ => Outcome::Killed,
        };
        self.stop(outcome, now);
    }

    /// Fails the task for a reason outside its processes (a failed health check): every running
    /// process is terminated, then killed at the deadline, and the task ends FAILED.
    pub fn request_failure(&mut self, message: String, now: Duration) {
        self.stop(Outcome::Failed(Failure { message, exit_code: None }), now);
    }

    /// Starts no more runs and signals nothing: the running processes may stop on their own.
    pub fn drain(&mut self) {
        if matches!(self.stage, Stage::Active | Stage::Cleaning { .. } | Stage::Finalizing { .. }) {
            self.stage = Stage::Draining;
        }
    }

    fn stop(&mut self, outcome: Outcome, now: Duration) {
        let deadline = now + self.finalization_wait;
        self.stage = match &self.stage {
            Stage::Done(_) => return,
            Stage::Active | Stage::Draining => Stage::Killing { deadline, outcome },
            Stage::Cleaning { deadline: earlier, .. }
            | Stage::Finalizing { deadline: earlier, .. }
            | Stage::Killing { deadline: earlier, .. } => Stage::Killing { deadline: deadline.min(*earlier), outcome },
        };
    }

    /// Decides what to do at `now`, marking started and signalled processes as such.
    pub fn step(&mut self, now: Duration) -> Step {
        self.advance_stage(now);
        let mut step = Step::default();
        match self.stage.clone() {
            Stage::Active => self.start_ready(false, now, &mut step),
            Stage::Cleaning { deadline, .. } => self.stop_running(false, deadline, now, &mut step),
            Stage::Finalizing { deadline, .. } if now >= deadline => self.stop_running(true, deadline, now, &mut step),
            Stage::Finalizing { .. } => self.start_ready(true, now, &mut step),
            Stage::Killing { deadline, .. } => self.stop_running(true, deadline, now, &mut step),
            Stage::Draining => {}
            Stage::Done(outcome) => step.outcome = Some(outcome),
        }
        step.wake_at = self.wake_at(now);
        step
    }

    fn advance_stage(&mut self, now: Duration) {
        loop {
            let next = match &self.stage {
                Stage::Active => {
                    self.active_end().map(|end| Stage::Cleaning { end, deadline: now + self.finalization_wait })
                }
                Stage::Cleaning { end, deadline } if !self.any_running(|p| !p.spec.is_final) => {
                    Some(Stage::Finalizing { end: end.clone(), deadline: *deadline })
                }
                Stage::Finalizing { end, deadline } if !self.finals_can_progress(*deadline, now) => {
                    Some(Stage::Done(self.outcome(end)))
                }
                Stage::Killing { outcome, .. } if !self.any_running(|_| true) => Some(Stage::Done(outcome.clone())),
                Stage::Draining if !self.any_running(|_| true) => Some(Stage::Done(Outcome::Killed)),
                _ => None,
            };
            match next {
                Some(stage) => self.stage = stage,
                None => return,
            }
        }
    }

    /// Whether the active stage is over: complete, or stuck with nothing that can ever start.
    fn active_end(&self) -> Option<TaskEnd> {
        let ordinary = || self.processes.iter().filter(|p| !p.spec.is_final);
        if ordinary()
            .filter(|p| p.counts_for_completion())
            .all(|p| p.state == ProcessState::Finished || p.state == ProcessState::Failed)
        {
            return Some(TaskEnd::Completed);
        }
        if ordinary().any(|p| p.is_running() || self.may_start(p)) {
            return None;
        }
        let blocked = ordinary().find(|p| p.counts_for_completion() && p.state == ProcessState::Waiting)?;
        Some(TaskEnd::Failed(self.deadlock(blocked)))
    }

    fn deadlock(&self, blocked: &ProcessPlan) -> Failure {
        let (waits_on, exit_code) = match blocked.predecessors.iter().find(|name| !self.has_finished(name)) {
            Some(name) => match self.index.get(name.as_str()) {
                Some(&i) if self.processes[i].state == ProcessState::Failed => {
                    let failure = self.processes[i].failure();
                    (failure.message, failure.exit_code)
                }
                Some(_) => (format!("process '{name}' never finished"), None),
                None => (format!("'{name}' is not a process of this task"), None),
            },
            None => ("its predecessors never finished".to_owned(), None),
        };
        Failure { message: format!("process '{}' can never start: {waits_on}", blocked.spec.name), exit_code }
    }

    fn outcome(&self, end: &TaskEnd) -> Outcome {
        match end {
            TaskEnd::Failed(failure) => Outcome::Failed(failure.clone()),
            TaskEnd::Completed => {
                let tolerated: Vec<String> = self.permanently_failed().map(|p| p.failure().message).collect();
                let message = if tolerated.is_empty() {
                    "all processes finished".to_owned()
                } else {
                    format!("finished within the task's max_failures: {}", tolerated.join("; "))
                };
                Outcome::Finished { message }
            }
        }
    }

    fn permanently_failed(&self) -> impl Iterator<Item = &ProcessPlan> {
        self.processes.iter().filter(|p| p.counts_for_completion() && p.state == ProcessState::Failed)
    }

    fn has_finished(&self, name: &str) -> bool {
        self.index.get(name).is_some_and(|&i| self.processes[i].state == ProcessState::Finished)
    }

    /// Waiting with every predecessor finished: only time or concurrency holds it back.
    fn may_start(&self, plan: &ProcessPlan) -> bool {
        plan.state == ProcessState::Waiting && plan.predecessors.iter().all(|name| self.has_finished(name))
    }

    fn any_running(&self, in_scope: impl Fn(&ProcessPlan) -> bool) -> bool {
        self.processes.iter().any(|p| p.is_running() && in_scope(p))
    }

    fn finals_can_progress(&self, deadline: Duration, now: Duration) -> bool {
        let finals = || self.processes.iter().filter(|p| p.spec.is_final);
        finals().any(ProcessPlan::is_running) || (now < deadline && finals().any(|p| self.may_start(p)))
    }

    fn start_ready(&mut self, finals: bool, now: Duration, step: &mut Step) {
        let mut running = self.processes.iter().filter(|p| p.is_running()).count();
        for i in 0..self.processes.len() {
            if self.max_concurrency > 0 && running >= self.max_concurrency as usize {
                return;
            }
            let plan = &self.processes[i];
            if plan.spec.is_final == finals && self.may_start(plan) && plan.ready_at() <= now {
                let plan = &mut self.processes[i];
                step.start.push(Start { process: i, run: plan.runs });
                plan.runs += 1;
                plan.state = ProcessState::Running(Signalled::Nothing);
                running += 1;
            }
        }
    }

    /// Terminates running processes (finals too if `finals`), or kills them once `deadline` has come.
    fn stop_running(&mut self, finals: bool, deadline: Duration, now: Duration, step: &mut Step) {
        let signal = if now >= deadline { Signalled::Kill } else { Signalled::Term };
        for (i, plan) in self.processes.iter_mut().enumerate() {
            match plan.state {
                ProcessState::Running(sent) if sent < signal && (finals || !plan.spec.is_final) => {
                    plan.state = ProcessState::Running(signal);
                    match signal {
                        Signalled::Kill => step.kill.push(i),
                        _ => step.terminate.push(i),
                    }
                }
                _ => {}
            }
        }
    }

    fn wake_at(&self, now: Duration) -> Option<Duration> {
        let unkilled =
            self.processes.iter().any(|p| matches!(p.state, ProcessState::Running(sent) if sent < Signalled::Kill));
        match &self.stage {
            Stage::Active => self.next_ready_at(false, now),
            Stage::Finalizing { deadline, .. } if now < *deadline => {
                Some(self.next_ready_at(true, now).map_or(*deadline, |at| at.min(*deadline)))
            }
            Stage::Cleaning { deadline, .. } | Stage::Finalizing { deadline, .. } | Stage::Killing { deadline, .. } => {
                Some(*deadline).filter(|_| unkilled)
            }
            Stage::Draining | Stage::Done(_) => None,
        }
    }

    /// The earliest future time a process held back only by `min_duration` may start.
    fn next_ready_at(&self, finals: bool, now: Duration) -> Option<Duration> {
        self.processes
            .iter()
            .filter(|p| p.spec.is_final == finals && self.may_start(p))
            .map(ProcessPlan::ready_at)
            .filter(|at| *at > now)
            .min()
    }
}

#[cfg(test)]
mod tests;

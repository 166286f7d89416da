//! A fake agent: the real agent's protocol without processes. It registers with what it runs,
//! heartbeats on the virtual clock, reconnects when a call fails or the scheduler forgets it,
//! and carries out launches and kills by moving its tasks through STARTING and RUNNING to an
//! end its job's [`Behaviour`] scripts, reporting each change in order.
//!
//! Like the real agent it keeps an ended task until the scheduler acknowledges the end, reports
//! every task it has when it registers, and sends after a registration whatever changed while
//! it was connecting. Its tasks' "executors" keep running while the agent itself is down.

use std::collections::BTreeMap;

use atoll_model::{AgentId, AgentResources, Attributes, ConfigId, JobKey, Resources, ScheduledTask, TaskId, TaskState};
use atoll_state::{Registration, StatusReport};

use crate::net::{Down, Up};
use crate::rng::Rng;

/// How long a call to the scheduler may go unanswered before the agent reconnects.
pub const CALL_TIMEOUT_MS: u64 = 10_000;
/// How long the agent waits before connecting again after losing its session.
pub const RECONNECT_MS: u64 = 500;

/// A host the simulation runs.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    pub id: AgentId,
    pub resources: AgentResources,
    pub attributes: Attributes,
}

/// What the tasks of a job do once RUNNING.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Run until killed.
    Serve,
    /// Exit 0 after a time drawn from the range.
    Finish { after_ms: (u64, u64) },
    /// Exit 1 after a time drawn from the range.
    Fail { after_ms: (u64, u64) },
}

/// The virtual delays of a task's executor, each drawn from its range.
#[derive(Clone, Copy, Debug)]
pub struct TaskTiming {
    /// From the launch command to STARTING.
    pub starting_ms: (u64, u64),
    /// From STARTING to RUNNING.
    pub running_ms: (u64, u64),
    /// From the kill command to KILLED.
    pub kill_ms: (u64, u64),
}

/// Something that happens to an agent.
#[derive(Clone, Debug)]
pub enum Input {
    /// The agent process starts (again).
    Start,
    /// Connect and register, for `session`.
    Connect { session: u64 },
    /// Heartbeat time, for `session`.
    Timer { session: u64 },
    /// A message from the scheduler.
    Message(Down),
    /// A message of `session` to or from the scheduler was lost: the session is broken.
    SessionLost { session: u64 },
    /// A task's executor moved it to `state` (`launch` tells runs of one task id apart).
    Progress { task: TaskId, launch: u64, state: TaskState },
}

/// What an agent asks the world to do.
#[derive(Clone, Debug)]
pub enum Action {
    Send(Up),
    After(u64, Input),
}

/// The context an agent acts in.
pub struct Ctx<'a> {
    pub now_ms: u64,
    pub heartbeat_ms: u64,
    pub timing: &'a TaskTiming,
    pub behaviours: &'a Behaviours,
    pub rng: &'a mut Rng,
}

/// What each job's tasks do, and what tasks of particular config versions (an update's) do
/// instead.
#[derive(Clone, Debug, Default)]
pub struct Behaviours {
    pub by_job: BTreeMap<JobKey, Behaviour>,
    pub by_config: BTreeMap<ConfigId, Behaviour>,
}

impl Behaviours {
    /// What a task of `job` running config `config` does; a service's by default.
    pub fn of(&self, job: &JobKey, config: ConfigId) -> Behaviour {
        self.by_config.get(&config).or_else(|| self.by_job.get(job)).copied().unwrap_or(Behaviour::Serve)
    }
}

/// One task as the fake agent runs it.
#[derive(Clone, Debug)]
pub struct FakeTask {
    pub job: JobKey,
    pub instance: u32,
    pub config: ConfigId,
    pub resources: Resources,
    pub ports: Vec<u16>,
    /// ASSIGNED from the launch until the executor reports STARTING.
    pub state: TaskState,
    launch: u64,
    killing: bool,
}

/// A simulated agent.
#[derive(Clone, Debug)]
pub struct FakeAgent {
    pub spec: AgentSpec,
    up: bool,
    session: u64,
    connected: bool,
    last_heard_ms: u64,
    tasks: BTreeMap<TaskId, FakeTask>,
    launches: u64,
}

impl FakeAgent {
    /// An agent that is down until it gets [`Input::Start`].
    pub fn new(spec: AgentSpec) -> FakeAgent {
        FakeAgent {
            spec,
            up: false,
            session: 0,
            connected: false,
            last_heard_ms: 0,
            tasks: BTreeMap::new(),
            launches: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The tasks this agent has that have not ended.
    pub fn live_tasks(&self) -> impl Iterator<Item = (&TaskId, &FakeTask)> {
        self.tasks.iter().filter(|(_, t)| !t.state.is_terminal())
    }

    pub fn task(&self, id: &TaskId) -> Option<&FakeTask> {
        self.tasks.get(id)
    }

    /// The process dies. Its tasks die with it unless `keep_tasks` (their executors survive).
    pub fn stop(&mut self, keep_tasks: bool) {
        self.up = false;
        self.connected = false;
        self.session += 1;
        if keep_tasks {
            // A launch whose executor never started leaves nothing behind.
            self.tasks.retain(|_, t| t.state != TaskState::Assigned);
        } else {
            self.tasks.clear();
        }
    }

    /// Handles one input, returning what the world must do.
    pub fn handle(&mut self, input: Input, ctx: &mut Ctx<'_>) -> Vec<Action> {
        let mut actions = Vec::new();
        match input {
            Input::Start if !self.up => {
                self.up = true;
                self.reconnect(&mut actions);
            }
            Input::Connect { session } if self.current(session) => {
                self.last_heard_ms = ctx.now_ms;
                actions.push(Action::Send(Up::Register { session, registration: self.registration() }));
                actions.push(Action::After(ctx.heartbeat_ms, Input::Timer { session }));
            }
            Input::Timer { session } if self.current(session) => {
                if ctx.now_ms.saturating_sub(self.last_heard_ms) > CALL_TIMEOUT_MS {
                    self.reconnect(&mut actions);
                } else {
                    if self.connected {
                        actions.push(Action::Send(Up::Heartbeat { session }));
                    }
                    actions.push(Action::After(ctx.heartbeat_ms, Input::Timer { session }));
                }
            }
            Input::SessionLost { session } if self.current(session) => self.reconnect(&mut actions),
            Input::Message(message) if self.current(message.session()) => {
                self.last_heard_ms = ctx.now_ms;
                self.receive(message, ctx, &mut actions);
            }
            Input::Progress { task, launch, state } => self.progress(task, launch, state, ctx, &mut actions),
            _ => {}
        }
        actions
    }

    fn current(&self, session: u64) -> bool {
        self.up && session == self.session
    }

    fn reconnect(&mut self, actions: &mut Vec<Action>) {
        self.session += 1;
        self.connected = false;
        actions.push(Action::After(RECONNECT_MS, Input::Connect { session: self.session }));
    }

    fn registration(&self) -> Registration {
        Registration {
            id: self.spec.id.clone(),
            hostname: self.spec.id.0.clone(),
            incarnation: Some(format!("sim-{}", self.spec.id)),
            resources: self.spec.resources.clone(),
            attributes: self.spec.attributes.clone(),
            tasks: self
                .tasks
                .iter()
                .filter(|(_, t)| t.state != TaskState::Assigned)
                .map(|(id, t)| (id.clone(), report(t.state)))
                .collect(),
        }
    }

    fn receive(&mut self, message: Down, ctx: &mut Ctx<'_>, actions: &mut Vec<Action>) {
        match message {
            Down::Registered { session, reported } => {
                self.connected = true;
                let reported: BTreeMap<TaskId, TaskState> = reported.into_iter().collect();
                for (id, state) in &reported {
                    if state.is_terminal() && self.tasks.get(id).is_some_and(|t| t.state == *state) {
                        self.tasks.remove(id);
                    }
                }
                // What changed while the registration was on its way goes now.
                for (id, task) in &self.tasks {
                    if task.state != TaskState::Assigned && reported.get(id) != Some(&task.state) {
                        let report = report(task.state);
                        actions.push(Action::Send(Up::Status { session, task: id.clone(), report }));
                    }
                }
            }
            Down::Heartbeat { registered, .. } => {
                if !registered {
                    self.reconnect(actions);
                }
            }
            Down::StatusAcknowledged { task, state, .. } => {
                if state.is_terminal() && self.tasks.get(&task).is_some_and(|t| t.state == state) {
                    self.tasks.remove(&task);
                }
            }
            Down::Launch { task, .. } => self.launch(*task, ctx, actions),
            Down::Kill { task, .. } => {
                if let Some(fake) = self.tasks.get_mut(&task).filter(|t| !t.state.is_terminal() && !t.killing) {
                    fake.killing = true;
                    let input = Input::Progress { task, launch: fake.launch, state: TaskState::Killed };
                    actions.push(Action::After(ctx.rng.between(ctx.timing.kill_ms), input));
                }
            }
        }
    }

    fn launch(&mut self, task: ScheduledTask, ctx: &mut Ctx<'_>, actions: &mut Vec<Action>) {
        if self.tasks.contains_key(&task.id) {
            return;
        }
        self.launches += 1;
        let ports = task.assignment.as_ref().map(|a| a.ports.values().copied().collect()).unwrap_or_default();
        let fake = FakeTask {
            job: task.job,
            instance: task.instance,
            config: task.config.id(),
            resources: task.config.task.resources.clone(),
            ports,
            state: TaskState::Assigned,
            launch: self.launches,
            killing: false,
        };
        let input = Input::Progress { task: task.id.clone(), launch: self.launches, state: TaskState::Starting };
        actions.push(Action::After(ctx.rng.between(ctx.timing.starting_ms), input));
        self.tasks.insert(task.id, fake);
    }

    fn progress(&mut self, id: TaskId, launch: u64, state: TaskState, ctx: &mut Ctx<'_>, out: &mut Vec<Action>) {
        let Some(task) = self.tasks.get_mut(&id).filter(|t| t.launch == launch && !t.state.is_terminal()) else {
            return;
        };
        if task.killing && state != TaskState::Killed {
            return;
        }
        task.state = state;
        let next = match state {
            TaskState::Starting => Some((ctx.rng.between(ctx.timing.running_ms), TaskState::Running)),
            TaskState::Running => match ctx.behaviours.of(&task.job, task.config) {
                Behaviour::Serve => None,
                Behaviour::Finish { after_ms } => Some((ctx.rng.between(after_ms), TaskState::Finished)),
                Behaviour::Fail { after_ms } => Some((ctx.rng.between(after_ms), TaskState::Failed)),
            },
            _ => None,
        };
        if let Some((delay, state)) = next {
            out.push(Action::After(delay, Input::Progress { task: id.clone(), launch, state }));
        }
        if self.up && self.connected {
            out.push(Action::Send(Up::Status { session: self.session, task: id, report: report(state) }));
        }
    }
}

/// The report of a task in `state`, as the real agent words it.
fn report(state: TaskState) -> StatusReport {
    let exit_code = match state {
        TaskState::Finished => Some(0),
        TaskState::Failed => Some(1),
        _ => None,
    };
    StatusReport { state, message: format!("simulated {}", state.name()), exit_code, sandbox: None }
}

//! The simulation loop: the scheduler side as the server runs it (one state-machine call per
//! message, its outcome's changes kept as the store keeps them, a placement round when the
//! outcome wants one and at least every second, housekeeping every interval), the network to
//! and from the agents, and the run's bookkeeping; the agents' side is in `agents`.

use std::collections::BTreeMap;

use atoll_model::{AgentId, ConfigId, JobKey, JobSpec, MaintenanceMode, TaskId};
use atoll_state::{ClusterState, Effect, Outcome, StoreImage};

use crate::agent::{Behaviour, Behaviours, FakeAgent, Input};
use crate::faults::Fault;
use crate::invariants::Checker;
use crate::net::{Delivery, Down, Network, Up};
use crate::rng::Rng;
use crate::trace::{Mark, Trace};
use crate::views::{self, JobRecord, Physical};
use crate::{AgentSpec, SimConfig, Stats, Violation};

mod agents;

/// Something due at a virtual time.
#[derive(Debug)]
enum Event {
    Tick,
    Place,
    ToScheduler {
        agent: usize,
        message: Up,
    },
    ToAgent {
        agent: usize,
        input: Input,
    },
    Fault(Fault),
    Submit(Box<JobSpec>),
    /// A rolling update of the job to this spec.
    Update(Box<JobSpec>),
    /// Draining a host for maintenance (by agent number).
    Drain(usize),
    Kill(JobKey),
    KillDeadline(JobKey),
}

/// A deterministic simulation of one cluster.
pub struct Sim {
    pub(crate) config: SimConfig,
    now_ms: u64,
    pub(crate) state: ClusterState,
    pub(crate) agents: Vec<FakeAgent>,
    pub(crate) index: BTreeMap<AgentId, usize>,
    /// The session of each agent's last registration: its commands travel on that session.
    link_session: Vec<u64>,
    pub(crate) net: Network,
    agenda: crate::queue::Agenda<Event>,
    task_rng: Rng,
    behaviours: Behaviours,
    pub(crate) jobs: BTreeMap<JobKey, JobRecord>,
    pub(crate) checker: Checker,
    /// What the store holds: every outcome's changes, applied in order.
    stored: StoreImage,
    physical: Physical,
    trace: Trace,
    stats: Stats,
    /// A placement round is on the agenda.
    placement_pending: bool,
    /// When the next regular placement round is due, as the server runs one at least every
    /// [`PLACEMENT_EVERY_MS`] (tasks that stay unplaceable, preemption delays).
    next_regular_placement_ms: u64,
    quiet_ms: u64,
}

/// The server's longest wait between placement rounds.
const PLACEMENT_EVERY_MS: u64 = 1_000;

impl Sim {
    /// A cluster of `agents`, which start within the first second after `config.start_ms`;
    /// the faults of `config.faults` are drawn now, from the seed, their window counted from
    /// the start.
    pub fn new(config: SimConfig, agents: Vec<AgentSpec>) -> Sim {
        let seed = config.seed;
        let start = config.start_ms;
        let mut start_rng = Rng::stream(seed, 1);
        let mut sim = Sim {
            state: ClusterState::new(config.state.clone()),
            agents: Vec::new(),
            index: BTreeMap::new(),
            link_session: Vec::new(),
            net: Network::new(config.latency_ms, Rng::stream(seed, 2)),
            agenda: Default::default(),
            task_rng: Rng::stream(seed, 3),
            behaviours: Behaviours::default(),
            jobs: BTreeMap::new(),
            checker: Checker::default(),
            stored: StoreImage::default(),
            physical: Physical::default(),
            trace: Trace::default(),
            stats: Stats::default(),
            placement_pending: false,
            next_regular_placement_ms: start + PLACEMENT_EVERY_MS,
            quiet_ms: start,
            now_ms: start,
            config,
        };
        for spec in agents {
            let number = sim.agents.len();
            sim.index.insert(spec.id.clone(), number);
            sim.checker.add_agent(spec.id.clone(), spec.resources.clone());
            sim.agents.push(FakeAgent::new(spec));
            sim.link_session.push(0);
            sim.net.add_link();
            sim.agenda.push(start + start_rng.below(1_000), Event::ToAgent { agent: number, input: Input::Start });
        }
        for (after_start_ms, fault) in sim.config.faults.draw(sim.agents.len(), &mut Rng::stream(seed, 4)) {
            let at_ms = start + after_start_ms;
            sim.quiet_ms = sim.quiet_ms.max(fault.over_at(at_ms));
            sim.agenda.push(at_ms, Event::Fault(fault));
        }
        sim.agenda.push(start, Event::Tick);
        sim
    }

    /// Creates `job` at `at_ms` (schedules it, if it is a cron job); its tasks do what
    /// `behaviour` says.
    pub fn submit(&mut self, at_ms: u64, job: JobSpec, behaviour: Behaviour) {
        self.behaviours.by_job.insert(job.key.clone(), behaviour);
        self.jobs.insert(job.key.clone(), JobRecord { instances: job.instances, behaviour, killed_at_ms: None });
        self.agenda.push(at_ms, Event::Submit(Box::new(job)));
    }

    /// Starts updating the job `spec` names to `spec` at `at_ms`; tasks of the new config do
    /// what `behaviour` says.
    pub fn update(&mut self, at_ms: u64, spec: JobSpec, behaviour: Behaviour) {
        self.behaviours.by_config.insert(ConfigId::of(&spec.config), behaviour);
        self.agenda.push(at_ms, Event::Update(Box::new(spec)));
    }

    /// Drains agent `agent`'s host at `at_ms`: its tasks move elsewhere.
    pub fn drain(&mut self, at_ms: u64, agent: usize) {
        self.agenda.push(at_ms, Event::Drain(agent));
    }

    /// Adds one fault at `at_ms`, besides those drawn from the plan.
    pub fn inject(&mut self, at_ms: u64, fault: Fault) {
        self.quiet_ms = self.quiet_ms.max(fault.over_at(at_ms));
        self.agenda.push(at_ms, Event::Fault(fault));
    }

    /// Kills every instance of `job` at `at_ms`; by `at_ms + kill_bound_ms` none may run.
    pub fn kill_job(&mut self, at_ms: u64, job: JobKey) {
        self.agenda.push(at_ms, Event::Kill(job.clone()));
        self.agenda.push(at_ms + self.config.kill_bound_ms, Event::KillDeadline(job));
    }

    /// Runs every event due up to `until_ms`, checking the invariants after each.
    pub fn run_until(&mut self, until_ms: u64) -> Result<(), Violation> {
        while let Some((at_ms, event)) = self.agenda.pop_until(until_ms) {
            self.now_ms = at_ms;
            self.step(event)?;
        }
        self.now_ms = self.now_ms.max(until_ms);
        Ok(())
    }

    /// Runs until every fault is over, then until the cluster has converged (see
    /// [`views::converged`]), at most `settle_ms` longer. Returns when it converged.
    pub fn run_to_convergence(&mut self, settle_ms: u64) -> Result<u64, Violation> {
        self.run_until(self.quiet_ms)?;
        let deadline = self.quiet_ms + settle_ms;
        loop {
            let problem = match views::converged(self) {
                Ok(()) => {
                    self.stats.converged_at_ms = Some(self.now_ms);
                    if self.stored.durable() != self.state.durable() {
                        let detail = "a change to the scheduler's durable state never reached the store".to_owned();
                        return Err(self.violation("store holds the state", detail));
                    }
                    return Ok(self.now_ms);
                }
                Err(problem) => problem,
            };
            if self.now_ms >= deadline {
                return Err(self.violation(
                    "convergence",
                    format!("not converged {settle_ms} ms after the faults ended: {problem}"),
                ));
            }
            self.run_until(self.now_ms + self.config.housekeeping_ms)?;
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// When the last fault is over.
    pub fn quiet_ms(&self) -> u64 {
        self.quiet_ms
    }

    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// Agent number `number`, in the order they were given.
    pub fn agent(&self, number: usize) -> &FakeAgent {
        &self.agents[number]
    }

    /// The number of the agent with id `id`.
    pub fn agent_number(&self, id: &AgentId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The hash of every step taken so far: one seed, one hash.
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            steps: self.trace.steps(),
            illegal_reports: self.state.illegal_transitions(),
            lost_tasks: self.checker.lost,
            rescheduled: self.checker.rescheduled,
            ..self.stats.clone()
        }
    }

    fn mark(&mut self, what: &'static str, agent: Option<usize>, task: Option<&TaskId>, detail: u64) {
        let mark = Mark { at_ms: self.now_ms, what, agent, task: task.cloned(), detail };
        self.trace.record(mark);
    }

    pub(crate) fn violation(&self, invariant: &'static str, detail: String) -> Violation {
        Violation { seed: self.config.seed, at_ms: self.now_ms, invariant, detail, recent: self.trace.recent() }
    }

    fn step(&mut self, event: Event) -> Result<(), Violation> {
        let now = self.now_ms;
        let tick = matches!(event, Event::Tick);
        let outcome = match event {
            Event::Tick => {
                self.mark("tick", None, None, 0);
                if now >= self.next_regular_placement_ms {
                    self.want_placement();
                }
                self.agenda.push(now + self.config.housekeeping_ms, Event::Tick);
                self.state.tick(now)
            }
            Event::Place => {
                self.placement_pending = false;
                self.next_regular_placement_ms = now + PLACEMENT_EVERY_MS;
                let outcome = self.state.placement_round(now);
                self.mark("place", None, None, outcome.effects.len() as u64);
                outcome
            }
            Event::ToScheduler { agent, message } => self.at_scheduler(agent, message),
            Event::ToAgent { agent, input } => {
                self.at_agent(agent, input);
                Outcome::default()
            }
            Event::Fault(fault) => {
                self.fault(fault);
                Outcome::default()
            }
            Event::Submit(job) => {
                self.mark("submit", None, None, u64::from(job.instances));
                let key = job.key.clone();
                // A cron job is scheduled; its runs come from the ticks.
                let created = if job.cron_schedule.is_some() {
                    self.state.schedule_cron(*job, now).map(|(_, outcome)| outcome)
                } else {
                    self.state.create_job(*job, now).map(|(_, outcome)| outcome)
                };
                match created {
                    Ok(outcome) => outcome,
                    Err(e) => return Err(self.violation("job creation", format!("{key} was refused: {e}"))),
                }
            }
            Event::Update(spec) => {
                self.mark("update", None, None, u64::from(spec.instances));
                let key = spec.key.clone();
                match self.state.start_update(*spec, None, None, now) {
                    Ok((_, outcome)) => outcome,
                    Err(e) => return Err(self.violation("update start", format!("{key} was refused: {e}"))),
                }
            }
            Event::Drain(agent) => {
                self.mark("drain", Some(agent), None, 0);
                let host = self.agents[agent].spec.id.0.clone();
                self.state.set_maintenance(&[host], MaintenanceMode::Draining, now).1
            }
            Event::Kill(job) => {
                self.mark("kill job", None, None, 0);
                if let Some(record) = self.jobs.get_mut(&job) {
                    record.killed_at_ms = Some(now);
                }
                match self.state.kill(&job, None, now) {
                    Ok((_, outcome)) => outcome,
                    Err(e) => return Err(self.violation("job kill", format!("{job} could not be killed: {e}"))),
                }
            }
            Event::KillDeadline(job) => {
                self.mark("kill deadline", None, None, 0);
                views::check_killed(self, &job).map_err(|detail| self.violation("killed jobs stop", detail))?;
                Outcome::default()
            }
        };
        self.carry_out(outcome)?;
        if tick {
            self.check_agents()?;
        }
        Ok(())
    }

    /// Does what the server does with an outcome: keeps its changes (and checks them), sends
    /// its effects to the agents, and runs a placement round soon if it wants one.
    fn carry_out(&mut self, outcome: Outcome) -> Result<(), Violation> {
        self.route(outcome.effects);
        if outcome.placement_wanted {
            self.want_placement();
        }
        self.stored.apply(&outcome.changes);
        self.checker.apply(&outcome.changes).map_err(|detail| self.violation("scheduler books", detail))
    }

    /// The per-tick check of what the agents really run (see [`views::check_physical`]).
    fn check_agents(&mut self) -> Result<(), Violation> {
        let mut physical = std::mem::take(&mut self.physical);
        let sample = views::check_physical(self, &mut physical);
        self.physical = physical;
        let sample = sample.map_err(|detail| self.violation("agents' tasks", detail))?;
        self.stats.max_orphans = self.stats.max_orphans.max(sample.orphans);
        self.stats.max_duplicated_instances = self.stats.max_duplicated_instances.max(sample.duplicated);
        self.stats.overcommitted_samples += sample.overcommitted;
        Ok(())
    }

    fn want_placement(&mut self) {
        if !self.placement_pending {
            self.placement_pending = true;
            self.agenda.push(self.now_ms, Event::Place);
        }
    }

    fn at_scheduler(&mut self, agent: usize, message: Up) -> Outcome {
        let now = self.now_ms;
        let id = self.agents[agent].spec.id.clone();
        match message {
            Up::Register { session, registration } => {
                self.mark("register", Some(agent), None, session);
                self.stats.registrations += 1;
                let reported = registration.tasks.iter().map(|(id, r)| (id.clone(), r.state)).collect();
                let outcome = self
                    .state
                    .register_agent(registration, now)
                    .expect("each simulated agent keeps one incarnation, so none is refused");
                self.link_session[agent] = session;
                self.send_down(agent, Down::Registered { session, reported });
                outcome
            }
            Up::Heartbeat { session } => {
                let registered = self.state.heartbeat(&id, now);
                self.mark("heartbeat", Some(agent), None, u64::from(registered));
                self.send_down(agent, Down::Heartbeat { session, registered });
                Outcome::default()
            }
            Up::Status { session, task, report } => {
                self.mark("status", Some(agent), Some(&task), report.state as u64);
                let state = report.state;
                let outcome = self.state.update_status(&id, &task, report, now);
                self.send_down(agent, Down::StatusAcknowledged { session, task, state });
                outcome
            }
        }
    }

    /// Sends each effect to its agent, on the session it last registered.
    fn route(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            // The simulator runs no frameworks but the built-in one.
            let (Effect::Launch { agent, .. } | Effect::Kill { agent, .. }) = &effect else { continue };
            let Some(&number) = self.index.get(agent) else { continue };
            let session = self.link_session[number];
            let down = match effect {
                Effect::Launch { task, .. } => {
                    self.stats.launches += 1;
                    Down::Launch { session, task }
                }
                Effect::Kill { task, .. } => {
                    self.stats.kills += 1;
                    Down::Kill { session, task }
                }
                Effect::Framework { .. } | Effect::ExecutorMessage { .. } => continue,
            };
            self.send_down(number, down);
        }
    }

    fn send_down(&mut self, agent: usize, message: Down) {
        self.stats.messages += 1;
        match self.net.send_down(agent, message.session(), self.now_ms) {
            Delivery::At(at_ms) => self.agenda.push(at_ms, Event::ToAgent { agent, input: Input::Message(message) }),
            Delivery::Lost { first } => {
                self.stats.messages_lost += 1;
                self.mark("lost down", Some(agent), None, message.session());
                if first {
                    // The agent notices the broken stream or the failed call.
                    let input = Input::SessionLost { session: message.session() };
                    self.agenda.push(self.now_ms + 1, Event::ToAgent { agent, input });
                }
            }
        }
    }
}

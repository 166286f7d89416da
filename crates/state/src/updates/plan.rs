//! Dry runs of updates (`atoll job plan`): the update is started on a copy of the state and
//! driven to its end with agents that do at once what they are told (a launched task is
//! RUNNING, a killed one KILLED), one report at a time, each followed by a placement round, as
//! the server runs one after each report of an end; time jumps to the next moment anything
//! can change (an instance's watch ending, a pending task becoming eligible to preempt). The
//! real placement core decides where each task goes, so when nothing else changes in the
//! cluster and agents report in that order, the update makes the same decisions. Nothing of
//! the real state changes.
//!
//! A replacement that cannot be placed even after the preemption delay stops the run: the
//! plan reports why (with host counts), and the instances after it as not reached.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use atoll_model::{ConfigId, JobKey, JobSpec, TaskId, TaskState};
use atoll_placement::PendingReason;

use super::{ChangeKind, Progress, UpdateStart, UpdateState};
use crate::{ClusterState, Effect, StateError, StatusReport};

/// Reports and rounds a plan may take before it gives up (a bound, never reached in practice).
const MAX_STEPS: usize = 100_000;
/// Jumps in time a plan may take.
const MAX_JUMPS: usize = 10_000;

/// What an update would do to one instance.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedInstance {
    pub instance: u32,
    pub kind: ChangeKind,
    /// The config it runs now, if it runs.
    pub current: Option<ConfigId>,
    /// The host it runs on now.
    pub from_host: Option<String>,
    /// Where its new task would run.
    pub to_host: Option<String>,
    /// Why its new task could not be placed, if it could not.
    pub pending: Option<Arc<PendingReason>>,
    /// Whether the run got to it before it stopped.
    pub reached: bool,
}

/// What an update would do.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdatePlan {
    /// Every instance in scope, unchanged ones included, by id.
    pub instances: Vec<PlannedInstance>,
    /// Tasks of other jobs that would be preempted, with the host each runs on.
    pub preempted: Vec<(TaskId, String)>,
    /// How the simulated update ended: ROLLED_FORWARD, or where it stood when a replacement
    /// could not be placed. None when nothing would change.
    pub outcome: Option<UpdateState>,
    /// The config version the proposed job would run.
    pub proposed: ConfigId,
}

impl UpdatePlan {
    /// Whether nothing would change ("Job is unchanged by proposed update.").
    pub fn is_unchanged(&self) -> bool {
        self.outcome.is_none()
    }
}

impl ClusterState {
    /// Plans updating the job to `spec` (the instances in `scope`, or all), without changing
    /// anything; see the module documentation.
    pub fn plan_update(
        &self,
        spec: JobSpec,
        scope: Option<&BTreeSet<u32>>,
        now_ms: u64,
    ) -> Result<UpdatePlan, StateError> {
        self.clone().into_plan(spec, scope, now_ms)
    }

    /// [`plan_update`](ClusterState::plan_update) on this state, which is a copy the caller
    /// gives up (so that a server copies its state under its lock and plans outside it).
    pub fn into_plan(
        self,
        spec: JobSpec,
        scope: Option<&BTreeSet<u32>>,
        now_ms: u64,
    ) -> Result<UpdatePlan, StateError> {
        let job = spec.key.clone();
        let proposed = ConfigId::of(&spec.config);
        let mut instances: Vec<PlannedInstance> = self
            .diff(&spec, scope)?
            .into_iter()
            .map(|change| PlannedInstance {
                instance: change.instance,
                kind: change.kind,
                current: change.current.as_ref().map(|c| c.id()),
                from_host: self
                    .active_task(&job, change.instance)
                    .and_then(|t| t.assignment.as_ref())
                    .map(|a| a.hostname.clone()),
                to_host: None,
                pending: None,
                reached: change.kind == ChangeKind::Unchanged,
            })
            .collect();
        let mut sim = self;
        let (start, started) = sim.start_update(spec, scope, None, now_ms)?;
        let UpdateStart::Started { id, .. } = start else {
            return Ok(UpdatePlan { instances, preempted: Vec::new(), outcome: None, proposed });
        };
        let mut run = Run { sim, job, now_ms, placed: BTreeMap::new(), preempted: Vec::new() };
        // A pulsed update waits for pulses; the plan gives it one.
        if run.sim.job_update(id).is_some_and(|u| u.state.is_awaiting_pulse()) {
            let (_, pulsed) = run.sim.act_on_update(&run.job, super::UpdateAction::Pulse, None, now_ms)?;
            run.carry_out(started.effects.into_iter().chain(pulsed.effects).collect());
        } else {
            run.carry_out(started.effects);
        }
        for _ in 0..MAX_JUMPS {
            let Some(update) = run.sim.job_update(id) else { break };
            if update.state.is_terminal() || update.state.is_paused() {
                break;
            }
            let Some(next) = run.next_moment(id) else { break };
            run.now_ms = next;
            run.keep_agents_alive();
            if run.sim.job_update(id).is_some_and(|u| u.state.is_awaiting_pulse()) {
                let (_, pulsed) = run.sim.act_on_update(&run.job, super::UpdateAction::Pulse, None, next)?;
                run.carry_out(pulsed.effects);
            }
            let housekept = run.sim.tick(next);
            run.carry_out(housekept.effects);
        }
        let update = run.sim.job_update(id).cloned().expect("the update is in the copy");
        for planned in &mut instances {
            let Some(progress) = update.instances.iter().find(|i| i.instance == planned.instance) else { continue };
            planned.reached = progress.progress != Progress::Waiting;
            planned.to_host = run.placed.get(&planned.instance).cloned();
            let attempt = progress.attempt.as_ref().and_then(|t| run.sim.tasks.get(t));
            if let Some(task) = attempt.filter(|t| t.state == TaskState::Pending) {
                planned.pending = run.sim.why_pending(&task.id).map(|r| Arc::new(r.clone()));
                planned.to_host = None;
            }
        }
        Ok(UpdatePlan { instances, preempted: run.preempted, outcome: Some(update.state), proposed })
    }
}

/// The copy an update is planned on, and what it saw.
struct Run {
    sim: ClusterState,
    job: JobKey,
    now_ms: u64,
    /// The host of the newest task launched for each instance of the job.
    placed: BTreeMap<u32, String>,
    preempted: Vec<(TaskId, String)>,
}

impl Run {
    /// Has agents carry out `effects` one at a time, each report followed by a placement round.
    fn carry_out(&mut self, effects: Vec<Effect>) {
        let mut queue: VecDeque<Effect> = effects.into();
        queue.extend(self.sim.placement_round(self.now_ms).effects);
        let mut steps = 0;
        while let Some(effect) = queue.pop_front() {
            steps += 1;
            if steps > MAX_STEPS {
                break;
            }
            let (agent, task, state) = match effect {
                Effect::Launch { agent, task } => {
                    if task.job == self.job
                        && let Some(assignment) = &task.assignment
                    {
                        self.placed.insert(task.instance, assignment.hostname.clone());
                    }
                    (agent, task.id.clone(), TaskState::Running)
                }
                Effect::Kill { agent, task } => {
                    let victim = self.sim.tasks.get(&task).filter(|t| t.state == TaskState::Preempting);
                    if let Some(assignment) = victim.and_then(|t| t.assignment.as_ref()) {
                        self.preempted.push((task.clone(), assignment.hostname.clone()));
                    }
                    (agent, task, TaskState::Killed)
                }
                // Frameworks hear nothing of a plan.
                Effect::Framework { .. } | Effect::ExecutorMessage { .. } => continue,
            };
            let report = StatusReport { state, message: "planned".into(), exit_code: None, sandbox: None };
            queue.extend(self.sim.update_status(&agent, &task, report, self.now_ms).effects);
            queue.extend(self.sim.placement_round(self.now_ms).effects);
        }
    }

    /// The next time anything of the update can change: an instance's watch ends, a pending
    /// replacement may preempt, a throttled one is released. None when nothing will.
    fn next_moment(&self, id: u64) -> Option<u64> {
        let update = self.sim.job_update(id)?;
        let watch_ms = u64::from(update.settings.watch_secs) * 1000;
        let mut moments = BTreeSet::new();
        for instance in update.instances.iter().filter(|i| i.progress == Progress::Updating) {
            let Some(task) = instance.attempt.as_ref().and_then(|t| self.sim.tasks.get(t)) else { continue };
            match task.state {
                TaskState::Running => {
                    let since = task.events.iter().rev().find(|e| e.state == TaskState::Running).map_or(0, |e| e.at_ms);
                    moments.insert(since + watch_ms);
                }
                TaskState::Pending => {
                    moments.insert(task.since_ms() + self.sim.config.preemption_delay_ms);
                }
                TaskState::Throttled => {
                    moments.insert(task.not_before_ms);
                }
                _ => {}
            }
        }
        moments.into_iter().find(|at| *at > self.now_ms)
    }

    /// Heartbeats from every agent, so that jumps in time lose none.
    fn keep_agents_alive(&mut self) {
        let agents: Vec<_> = self.sim.agents.keys().cloned().collect();
        for agent in agents {
            self.sim.heartbeat(&agent, self.now_ms);
        }
    }
}

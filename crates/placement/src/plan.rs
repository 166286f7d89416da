//! The plan of a round and the round itself: tasks in order, each through the static class of
//! its job, the sampled dynamic checks and scoring, then reserved on the chosen agent so that
//! the tasks after it (of its own job too) see what it took.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use atoll_model::{AgentId, JobKey, TaskId};

use crate::constraints::{AttributeIndex, CountRule, StaticKey, StaticRules};
use crate::feasibility::{AgentState, Ask, StaticClass, dynamic_vetoes, feasible};
use crate::input::{AgentSnapshot, ClusterSnapshot, PendingJob, PendingTask, Policy};
use crate::reasons::{PendingReason, Tally};
use crate::sampling::{Walk, best_of, candidate_limit};

/// A decision to run a task on an agent with the given ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub task: TaskId,
    pub agent: AgentId,
    pub ports: BTreeMap<String, u16>,
}

/// A task that could not be placed, and why. Tasks of one job that failed alike share a reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unplaced {
    pub task: TaskId,
    pub reason: Arc<PendingReason>,
}

/// What a round cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanStats {
    /// Agents put through the static filters: once per distinct set of static constraints.
    pub eligibility_checks: u64,
    /// Agents put through the dynamic filters while choosing, over all tasks.
    pub agents_examined: u64,
    /// Feasible agents scored, over all tasks: at most the candidate limit per task.
    pub candidates_scored: u64,
}

/// The outcome of one placement round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// In the order the tasks were placed.
    pub placements: Vec<Placement>,
    pub unplaced: Vec<Unplaced>,
    pub stats: PlanStats,
}

/// One job's working state in the round.
struct JobRound {
    class: Rc<StaticClass>,
    counts: Vec<CountRule>,
    /// Asks that found no agent, with the reason. Within a round agents only fill up and counts
    /// only grow, so a later task of the job with the same ask fails the same way.
    failures: Vec<(Ask, Arc<PendingReason>)>,
}

/// Runs a round; see [`crate::place`].
pub(crate) fn run(snapshot: &ClusterSnapshot, pending: &[PendingJob], policy: &Policy, now_ms: u64) -> Plan {
    let order = task_order(pending, now_ms);
    let mut round = Round::new(snapshot, *policy);
    if round.agents.is_empty() {
        let reason = Arc::new(PendingReason::no_agents());
        round.plan.unplaced = order
            .iter()
            .map(|&(j, t)| Unplaced { task: pending[j].tasks[t].id.clone(), reason: Arc::clone(&reason) })
            .collect();
        return round.plan;
    }
    let mut remaining = vec![0usize; pending.len()];
    for &(j, _) in &order {
        remaining[j] += 1;
    }
    let mut jobs: Vec<Option<JobRound>> = pending.iter().map(|_| None).collect();
    // The other entries of each job (one per config during an update): a placement counts
    // towards their count rules too.
    let mut by_key: BTreeMap<&JobKey, Vec<usize>> = BTreeMap::new();
    for (j, job) in pending.iter().enumerate() {
        by_key.entry(&job.key).or_default().push(j);
    }
    for (j, t) in order {
        let job = &pending[j];
        let job_round = jobs[j].get_or_insert_with(|| round.start_job(job));
        if let Some(agent) = round.place_task(job, job_round, t) {
            for &sibling in by_key[&job.key].iter().filter(|&&s| s != j) {
                if let Some(other) = jobs[sibling].as_mut() {
                    other.counts.iter_mut().for_each(|rule| rule.record(agent));
                }
            }
        }
        remaining[j] -= 1;
        if remaining[j] == 0 {
            // The job's working state is not needed any more.
            jobs[j] = None;
        }
    }
    round.plan
}

/// `(job, task)` indexes of the tasks that may be placed at `now_ms`: tasks with a reserved
/// agent first (the slot is theirs), then by tier, priority (highest first), how long they may
/// have been eligible, then id.
fn task_order(pending: &[PendingJob], now_ms: u64) -> Vec<(usize, usize)> {
    let mut order: Vec<(usize, usize)> = pending
        .iter()
        .enumerate()
        .flat_map(|(j, job)| {
            job.tasks.iter().enumerate().filter(|(_, t)| t.not_before_ms <= now_ms).map(move |(t, _)| (j, t))
        })
        .collect();
    order.sort_by(|&(ja, ta), &(jb, tb)| {
        let (job_a, job_b) = (&pending[ja], &pending[jb]);
        let (a, b) = (&job_a.tasks[ta], &job_b.tasks[tb]);
        (a.reserved_agent.is_none().cmp(&b.reserved_agent.is_none()))
            .then(job_a.tier.cmp(&job_b.tier))
            .then(job_b.priority.cmp(&job_a.priority))
            .then(a.not_before_ms.cmp(&b.not_before_ms))
            .then(a.id.cmp(&b.id))
    });
    order
}

/// The cluster's working state during a round.
struct Round<'a> {
    snapshot: &'a ClusterSnapshot,
    /// The agents in id order; every agent index in the round refers to this list.
    agents: Vec<&'a AgentSnapshot>,
    states: Vec<AgentState>,
    classes: BTreeMap<StaticKey, Rc<StaticClass>>,
    index: AttributeIndex,
    policy: Policy,
    plan: Plan,
    /// The agents each job's tasks were placed on in this round, for the count rules of its
    /// entries started later.
    placed_in_round: BTreeMap<JobKey, Vec<usize>>,
}

impl<'a> Round<'a> {
    fn new(snapshot: &'a ClusterSnapshot, policy: Policy) -> Round<'a> {
        let mut agents: Vec<&AgentSnapshot> = snapshot.agents.iter().collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        let states = agents.iter().map(|a| AgentState::new(a)).collect();
        Round {
            snapshot,
            agents,
            states,
            classes: BTreeMap::new(),
            index: AttributeIndex::default(),
            policy,
            plan: Plan::default(),
            placed_in_round: BTreeMap::new(),
        }
    }

    /// The job's static class (built if no job before had the same static constraints) and
    /// its count rules, counting the instances it already runs.
    fn start_job(&mut self, job: &PendingJob) -> JobRound {
        let (agents, index, stats) = (&self.agents, &mut self.index, &mut self.plan.stats);
        let class = self.classes.entry(StaticKey::of(&job.constraints)).or_insert_with(|| {
            stats.eligibility_checks += agents.len() as u64;
            Rc::new(StaticClass::build(&StaticRules::compile(&job.constraints, agents, index), agents))
        });
        let mut counts = count_rules(self.snapshot, job, agents, index);
        for &agent in self.placed_in_round.get(&job.key).into_iter().flatten() {
            counts.iter_mut().for_each(|rule| rule.record(agent));
        }
        JobRound { class: Rc::clone(class), counts, failures: Vec::new() }
    }

    /// Places task `t` of `job` and returns the agent (its index in the round), or records why
    /// it cannot be placed.
    fn place_task(&mut self, job: &PendingJob, round: &mut JobRound, t: usize) -> Option<usize> {
        let task = &job.tasks[t];
        let ask = Ask::of(task);
        let reserved = self.reserved_agent(task, round, &ask);
        if reserved.is_none()
            && let Some((_, reason)) = round.failures.iter().find(|(failed, _)| *failed == ask)
        {
            self.plan.unplaced.push(Unplaced { task: task.id.clone(), reason: Arc::clone(reason) });
            return None;
        }
        let chosen = reserved.or_else(|| {
            let eligible = &round.class.eligible;
            let limit = candidate_limit(self.agents.len(), job.service);
            let (states, strategy) = (&self.states, self.policy.strategy);
            let walk = Walk::of(&job.key, task.instance, eligible.len());
            let sample = best_of(eligible, walk, limit, |agent| {
                let state = &states[agent];
                feasible(&round.counts, agent, state, &ask).then(|| state.score(&ask, strategy))
            });
            self.plan.stats.agents_examined += sample.examined;
            self.plan.stats.candidates_scored += sample.scored;
            sample.best
        });
        match chosen {
            Some(agent) => {
                let ports = self.states[agent].take(self.agents[agent], &ask, &task.ports);
                round.counts.iter_mut().for_each(|rule| rule.record(agent));
                self.placed_in_round.entry(job.key.clone()).or_default().push(agent);
                let placement = Placement { task: task.id.clone(), agent: self.agents[agent].id.clone(), ports };
                self.plan.placements.push(placement);
                Some(agent)
            }
            None => {
                let reason = Arc::new(explain(round, &self.states, &ask, &self.agents));
                round.failures.push((ask, Arc::clone(&reason)));
                self.plan.unplaced.push(Unplaced { task: task.id.clone(), reason });
                None
            }
        }
    }

    /// The task's reserved agent, if it still passes every filter for the task.
    fn reserved_agent(&mut self, task: &PendingTask, round: &JobRound, ask: &Ask) -> Option<usize> {
        let wanted = task.reserved_agent.as_ref()?;
        let agent = self.agents.binary_search_by(|a| a.id.cmp(wanted)).ok()?;
        self.plan.stats.agents_examined += 1;
        let eligible = round.class.eligible.binary_search(&(agent as u32)).is_ok();
        (eligible && feasible(&round.counts, agent, &self.states[agent], ask)).then_some(agent)
    }
}

/// The job's count rules over `agents` (in id order), counting the instances it already runs.
pub(crate) fn count_rules(
    snapshot: &ClusterSnapshot,
    job: &PendingJob,
    agents: &[&AgentSnapshot],
    index: &mut AttributeIndex,
) -> Vec<CountRule> {
    let mut counts = CountRule::compile_all(&job.constraints, job.instances, agents, index);
    if !counts.is_empty() {
        for id in snapshot.placed.get(&job.key).into_iter().flatten() {
            if let Ok(agent) = agents.binary_search_by(|a| a.id.cmp(id)) {
                counts.iter_mut().for_each(|rule| rule.record(agent));
            }
        }
    }
    counts
}

/// Why no agent can take `ask` for the job: its class's static vetoes and, over the eligible
/// agents, the dynamic ones.
fn explain(round: &JobRound, states: &[AgentState], ask: &Ask, agents: &[&AgentSnapshot]) -> PendingReason {
    let mut dynamic = Tally::default();
    for agent in round.class.eligible.iter().map(|i| *i as usize) {
        dynamic.add(agent, &dynamic_vetoes(&round.counts, agent, &states[agent], ask));
    }
    round.class.tally.merged(&dynamic).reason(agents)
}

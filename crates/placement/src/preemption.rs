//! Preemption: which running tasks to kill so that a pending task fits, by Aurora's rules
//! (`PreemptionVictimFilter`).
//!
//! A task may preempt a victim if it is not preemptible (preferred tier) and the victim is, or
//! if both are alike in preemptibility, belong to the same role, and the task's priority is
//! higher. On each agent the task may use (its static constraints and count rules hold), the
//! eligible victims are taken largest first until the task fits; victims that turn out not to
//! be needed are given back, smallest first. The agent needing the fewest victims wins; ties go
//! to the lower agent id. If the task already fits somewhere, nothing is preempted.
//!
//! Pure and deterministic like the rest of the crate: the same inputs in any order give the
//! same answer.

use std::collections::BTreeMap;

use atoll_model::{AgentId, Resources, TaskId, Tier};

use crate::constraints::{AttributeIndex, StaticRules};
use crate::feasibility::{AgentState, Ask, StaticClass, feasible};
use crate::input::{AgentSnapshot, ClusterSnapshot, PendingJob, PendingTask};
use crate::plan::count_rules;

/// A task running on an agent that could make room for a pending one.
#[derive(Clone, Debug, PartialEq)]
pub struct Victim {
    pub task: TaskId,
    pub agent: AgentId,
    pub role: String,
    pub tier: Tier,
    pub priority: i32,
    pub resources: Resources,
    /// How many ports it holds on the agent.
    pub ports: usize,
}

/// The victims on one agent whose preemption makes room for a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preemption {
    pub agent: AgentId,
    /// Largest first.
    pub victims: Vec<TaskId>,
}

/// Aurora's rule: whether a pending task of `role`, `tier` and `priority` may preempt `victim`.
pub fn may_preempt(role: &str, tier: Tier, priority: i32, victim: &Victim) -> bool {
    let (candidate, target) = (tier.is_preemptible(), victim.tier.is_preemptible());
    if !candidate && target {
        return true;
    }
    candidate == target && role == victim.role && priority > victim.priority
}

/// The smallest set of `victims` on one agent of `snapshot` whose preemption lets `task` of
/// `job` fit, or None if no set does or none is needed (the task fits already).
///
/// `snapshot` should count the resources of tasks already on their way out (being killed or
/// preempted) as free, so that a task waiting for those does not preempt again.
pub fn find_preemption(
    snapshot: &ClusterSnapshot,
    job: &PendingJob,
    task: &PendingTask,
    victims: &[Victim],
) -> Option<Preemption> {
    let eligible: Vec<&Victim> =
        victims.iter().filter(|v| may_preempt(&job.key.role, job.tier, job.priority, v)).collect();
    if eligible.is_empty() {
        return None;
    }
    let mut agents: Vec<&AgentSnapshot> = snapshot.agents.iter().collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    let mut by_agent: BTreeMap<usize, Vec<(Ask, &TaskId)>> = BTreeMap::new();
    for victim in eligible {
        if let Ok(agent) = agents.binary_search_by(|a| a.id.cmp(&victim.agent)) {
            by_agent.entry(agent).or_default().push((Ask::new(&victim.resources, victim.ports), &victim.task));
        }
    }
    let mut index = AttributeIndex::default();
    let class = StaticClass::build(&StaticRules::compile(&job.constraints, &agents, &mut index), &agents);
    let counts = count_rules(snapshot, job, &agents, &mut index);
    let ask = Ask::of(task);
    let mut best: Option<(usize, Vec<&TaskId>)> = None;
    for agent in class.eligible.iter().map(|i| *i as usize) {
        let mut state = AgentState::new(agents[agent]);
        if feasible(&counts, agent, &state, &ask) {
            return None;
        }
        if !counts.iter().all(|rule| rule.allows(agent)) {
            // Victims are of other jobs: preempting them never satisfies this job's count rules.
            continue;
        }
        let Some(on_agent) = by_agent.get_mut(&agent) else { continue };
        on_agent.sort_by(|(a, a_id), (b, b_id)| b.size().cmp(&a.size()).then(a_id.cmp(b_id)));
        let mut chosen: Vec<(Ask, &TaskId)> = Vec::new();
        for (victim, id) in on_agent.iter() {
            if state.fits(&ask) {
                break;
            }
            state.release(victim);
            chosen.push((*victim, id));
        }
        if !state.fits(&ask) {
            continue;
        }
        for i in (0..chosen.len()).rev() {
            state.reclaim(&chosen[i].0);
            if state.fits(&ask) {
                chosen.remove(i);
            } else {
                state.release(&chosen[i].0);
            }
        }
        if best.as_ref().is_none_or(|(_, fewest)| chosen.len() < fewest.len()) {
            best = Some((agent, chosen.into_iter().map(|(_, id)| id).collect()));
        }
    }
    best.map(|(agent, ids)| Preemption { agent: agents[agent].id.clone(), victims: ids.into_iter().cloned().collect() })
}

//! The placement core: decides which agent each pending task runs on, and which ports it gets.
//!
//! Invariant: [`place`] is a pure, deterministic function of (cluster snapshot, pending tasks,
//! policy, now). It does no I/O, reads no clock and draws no random numbers; the same inputs
//! always give the same [`Plan`]. Iteration is over sorted collections only, and ties are broken
//! by agent id. Arithmetic is in integers (thousandths of a core, mebibytes).

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::{AgentId, AgentResources, Attributes, Resources, TaskId};

/// Resources already taken on an agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_millis: u64,
    pub ram_mb: u64,
    pub disk_mb: u64,
    pub gpu: u64,
}

impl Usage {
    /// Adds one task's reservation.
    pub fn add(&mut self, r: &Resources) {
        self.cpu_millis += r.cpu_millis();
        self.ram_mb += r.ram_mb;
        self.disk_mb += r.disk_mb;
        self.gpu += r.gpu;
    }
}

/// One schedulable agent as placement sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSnapshot {
    pub id: AgentId,
    pub resources: AgentResources,
    pub attributes: Attributes,
    pub used: Usage,
    pub used_ports: BTreeSet<u16>,
}

/// The agents that can take new tasks now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterSnapshot {
    pub agents: Vec<AgentSnapshot>,
}

/// A task waiting for a place.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingTask {
    pub id: TaskId,
    pub priority: i32,
    pub resources: Resources,
    pub ports: BTreeSet<String>,
    /// The task may not be placed before this time (milliseconds since the epoch).
    pub not_before_ms: u64,
}

/// How to choose among agents that fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Prefer the agent left with the most free cpu and memory: spreads instances out.
    #[default]
    Spread,
    /// Prefer the agent left with the least: packs tasks onto few agents.
    Binpack,
}

/// Placement settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub strategy: Strategy,
}

/// A decision to run a task on an agent with the given ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub task: TaskId,
    pub agent: AgentId,
    pub ports: BTreeMap<String, u16>,
}

/// A task that could not be placed, and why, in Aurora's words (e.g. "Insufficient: CPU, RAM").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unplaced {
    pub task: TaskId,
    pub reason: String,
}

/// The outcome of one placement round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub placements: Vec<Placement>,
    pub unplaced: Vec<Unplaced>,
}

/// Places `pending` tasks on the agents of `snapshot`.
///
/// Tasks are taken by priority (highest first), then by how long they may have been eligible,
/// then by id. Each placement uses up resources and ports for the tasks after it in the same
/// round. Tasks whose `not_before_ms` lies after `now_ms` are left out of the plan entirely.
pub fn place(snapshot: &ClusterSnapshot, pending: &[PendingTask], policy: &Policy, now_ms: u64) -> Plan {
    let mut agents: Vec<AgentSnapshot> = snapshot.agents.clone();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    let mut order: Vec<&PendingTask> = pending.iter().filter(|t| t.not_before_ms <= now_ms).collect();
    order.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.not_before_ms.cmp(&b.not_before_ms)).then(a.id.cmp(&b.id)));

    let mut plan = Plan::default();
    for task in order {
        match choose_agent(&agents, task, policy) {
            Ok(index) => {
                let agent = &mut agents[index];
                let ports = take_ports(agent, &task.ports);
                agent.used.add(&task.resources);
                plan.placements.push(Placement { task: task.id.clone(), agent: agent.id.clone(), ports });
            }
            Err(reason) => plan.unplaced.push(Unplaced { task: task.id.clone(), reason }),
        }
    }
    plan
}

/// Why a task does not fit one agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Veto {
    Cpu,
    Ram,
    Disk,
    Gpu,
    Ports,
}

impl Veto {
    fn name(self) -> &'static str {
        match self {
            Veto::Cpu => "CPU",
            Veto::Ram => "RAM",
            Veto::Disk => "disk",
            Veto::Gpu => "GPU",
            Veto::Ports => "ports",
        }
    }
}

fn vetoes(agent: &AgentSnapshot, task: &PendingTask) -> Vec<Veto> {
    let total = &agent.resources;
    let want = &task.resources;
    let cpu_total = (total.cpus * 1000.0).round().max(0.0) as u64;
    let mut vetoes = Vec::new();
    if agent.used.cpu_millis + want.cpu_millis() > cpu_total {
        vetoes.push(Veto::Cpu);
    }
    if agent.used.ram_mb + want.ram_mb > total.mem_mb {
        vetoes.push(Veto::Ram);
    }
    if agent.used.disk_mb + want.disk_mb > total.disk_mb {
        vetoes.push(Veto::Disk);
    }
    if agent.used.gpu + want.gpu > total.gpus {
        vetoes.push(Veto::Gpu);
    }
    if free_ports(agent).take(task.ports.len()).count() < task.ports.len() {
        vetoes.push(Veto::Ports);
    }
    vetoes
}

/// Higher is better. Scores are integers so that comparisons are exact.
fn score(agent: &AgentSnapshot, task: &PendingTask, policy: &Policy) -> i64 {
    const SCALE: u128 = 1_000_000;
    let free_fraction = |total: u64, used: u64| -> i64 {
        if total == 0 { 0 } else { (u128::from(total.saturating_sub(used)) * SCALE / u128::from(total)) as i64 }
    };
    let cpu_total = (agent.resources.cpus * 1000.0).round().max(0.0) as u64;
    let free = free_fraction(cpu_total, agent.used.cpu_millis + task.resources.cpu_millis())
        + free_fraction(agent.resources.mem_mb, agent.used.ram_mb + task.resources.ram_mb);
    match policy.strategy {
        Strategy::Spread => free,
        Strategy::Binpack => -free,
    }
}

fn choose_agent(agents: &[AgentSnapshot], task: &PendingTask, policy: &Policy) -> Result<usize, String> {
    if agents.is_empty() {
        return Err("No agents available".to_owned());
    }
    let mut best: Option<(i64, usize)> = None;
    let mut nearest: Option<Vec<Veto>> = None;
    for (index, agent) in agents.iter().enumerate() {
        let vetoes = vetoes(agent, task);
        if vetoes.is_empty() {
            let s = score(agent, task, policy);
            // Strictly greater keeps the first (lowest id) agent on ties.
            if best.is_none_or(|(b, _)| s > b) {
                best = Some((s, index));
            }
        } else if nearest.as_ref().is_none_or(|n| vetoes.len() < n.len()) {
            nearest = Some(vetoes);
        }
    }
    match (best, nearest) {
        (Some((_, index)), _) => Ok(index),
        (None, Some(vetoes)) => {
            Err(format!("Insufficient: {}", vetoes.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")))
        }
        (None, None) => Err("No agents available".to_owned()),
    }
}

fn free_ports(agent: &AgentSnapshot) -> impl Iterator<Item = u16> + '_ {
    agent.resources.ports.iter().flat_map(|r| r.begin..=r.end).filter(|p| !agent.used_ports.contains(p))
}

fn take_ports(agent: &mut AgentSnapshot, names: &BTreeSet<String>) -> BTreeMap<String, u16> {
    let ports: Vec<u16> = free_ports(agent).take(names.len()).collect();
    agent.used_ports.extend(ports.iter().copied());
    names.iter().cloned().zip(ports).collect()
}

#[cfg(test)]
mod tests;

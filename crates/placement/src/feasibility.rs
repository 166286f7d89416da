//! Feasibility: whether an agent can take a task, by filters run cheapest first.
//!
//! Static filters depend only on the job's constraints and the agent: dedicated, maintenance
//! (DRAINING and DRAINED hosts take nothing), then the static rules. They run once per round for
//! each distinct set of static constraints ([`StaticClass`]), leaving the eligible agents and the
//! tally of those excluded. Dynamic filters change as the round places tasks: the job's count
//! rules, then cpu, RAM, disk, GPU and named ports.

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::{PortRange, Resources};

use crate::constraints::{CountRule, StaticRules};
use crate::input::{AgentSnapshot, MaintenanceMode, PendingTask, Strategy, Usage};
use crate::reasons::{Resource, Tally, Veto};
use crate::scoring::{Score, fit};

/// What one task needs from an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ask {
    cpu_millis: u64,
    ram_mb: u64,
    disk_mb: u64,
    gpu: u64,
    ports: usize,
}

impl Ask {
    pub(crate) fn of(task: &PendingTask) -> Ask {
        Ask::new(&task.resources, task.ports.len())
    }

    pub(crate) fn new(r: &Resources, ports: usize) -> Ask {
        Ask { cpu_millis: r.cpu_millis(), ram_mb: r.ram_mb, disk_mb: r.disk_mb, gpu: r.gpu, ports }
    }

    /// The order preemption takes victims in: largest first, by cpu, then RAM, disk, GPU.
    pub(crate) fn size(&self) -> (u64, u64, u64, u64) {
        (self.cpu_millis, self.ram_mb, self.disk_mb, self.gpu)
    }
}

/// An agent's capacity as the round uses it up.
#[derive(Clone, Debug)]
pub(crate) struct AgentState {
    total: Usage,
    used: Usage,
    free_ports: usize,
    /// Ports handed out in this round, on top of the snapshot's.
    taken_ports: Vec<u16>,
    maintenance: MaintenanceMode,
}

impl AgentState {
    pub(crate) fn new(agent: &AgentSnapshot) -> AgentState {
        let r = &agent.resources;
        let cpu_millis = (r.cpus * 1000.0).round().max(0.0) as u64;
        let ranges = merged(&r.ports);
        let offered: usize = ranges.iter().map(|(b, e)| (e - b + 1) as usize).sum();
        let in_use =
            agent.used_ports.iter().filter(|p| ranges.iter().any(|(b, e)| (*b..=*e).contains(&u32::from(**p)))).count();
        AgentState {
            total: Usage { cpu_millis, ram_mb: r.mem_mb, disk_mb: r.disk_mb, gpu: r.gpus },
            used: agent.used.clone(),
            free_ports: offered - in_use,
            taken_ports: Vec::new(),
            maintenance: agent.maintenance,
        }
    }

    /// Whether the agent has room for `ask`.
    pub(crate) fn fits(&self, ask: &Ask) -> bool {
        let (used, total) = (&self.used, &self.total);
        used.cpu_millis + ask.cpu_millis <= total.cpu_millis
            && used.ram_mb + ask.ram_mb <= total.ram_mb
            && used.disk_mb + ask.disk_mb <= total.disk_mb
            && used.gpu + ask.gpu <= total.gpu
            && ask.ports <= self.free_ports
    }

    /// Every resource the agent is short of for `ask`.
    fn shortfalls(&self, ask: &Ask) -> Vec<Veto> {
        let (used, total) = (&self.used, &self.total);
        [
            (used.cpu_millis + ask.cpu_millis > total.cpu_millis, Resource::Cpu),
            (used.ram_mb + ask.ram_mb > total.ram_mb, Resource::Ram),
            (used.disk_mb + ask.disk_mb > total.disk_mb, Resource::Disk),
            (used.gpu + ask.gpu > total.gpu, Resource::Gpu),
            (ask.ports > self.free_ports, Resource::Ports),
        ]
        .into_iter()
        .filter(|(short, _)| *short)
        .map(|(_, resource)| Veto::Insufficient(resource))
        .collect()
    }

    /// How good the agent is for `ask`, which fits.
    pub(crate) fn score(&self, ask: &Ask, strategy: Strategy) -> Score {
        let (used, total) = (&self.used, &self.total);
        Score {
            not_scheduled_for_maintenance: self.maintenance != MaintenanceMode::Scheduled,
            fit: fit(
                strategy,
                used.cpu_millis + ask.cpu_millis,
                total.cpu_millis,
                used.ram_mb + ask.ram_mb,
                total.ram_mb,
            ),
        }
    }

    /// Gives back what a task that holds `ask` on the agent takes (a preemption victim's share).
    pub(crate) fn release(&mut self, ask: &Ask) {
        self.used.cpu_millis = self.used.cpu_millis.saturating_sub(ask.cpu_millis);
        self.used.ram_mb = self.used.ram_mb.saturating_sub(ask.ram_mb);
        self.used.disk_mb = self.used.disk_mb.saturating_sub(ask.disk_mb);
        self.used.gpu = self.used.gpu.saturating_sub(ask.gpu);
        self.free_ports += ask.ports;
    }

    /// Takes back what [`AgentState::release`] gave.
    pub(crate) fn reclaim(&mut self, ask: &Ask) {
        self.used.cpu_millis += ask.cpu_millis;
        self.used.ram_mb += ask.ram_mb;
        self.used.disk_mb += ask.disk_mb;
        self.used.gpu += ask.gpu;
        self.free_ports = self.free_ports.saturating_sub(ask.ports);
    }

    /// Reserves `ask` and gives each of `names` the lowest free port.
    pub(crate) fn take(&mut self, agent: &AgentSnapshot, ask: &Ask, names: &BTreeSet<String>) -> BTreeMap<String, u16> {
        self.used.cpu_millis += ask.cpu_millis;
        self.used.ram_mb += ask.ram_mb;
        self.used.disk_mb += ask.disk_mb;
        self.used.gpu += ask.gpu;
        let mut last = 0u16;
        let free: Vec<u16> = agent
            .resources
            .ports
            .iter()
            .flat_map(|r| r.begin..=r.end)
            .filter(|p| {
                // Sorted ranges may overlap: each port once.
                let new = *p > last;
                last = last.max(*p);
                new
            })
            .filter(|p| !agent.used_ports.contains(p) && !self.taken_ports.contains(p))
            .take(names.len())
            .collect();
        self.free_ports -= free.len();
        self.taken_ports.extend(&free);
        names.iter().cloned().zip(free).collect()
    }
}

/// Sorted ranges with overlaps merged, as inclusive `u32` bounds.
fn merged(ranges: &[PortRange]) -> Vec<(u32, u32)> {
    let mut sorted: Vec<(u32, u32)> = ranges.iter().map(|r| (u32::from(r.begin), u32::from(r.end))).collect();
    sorted.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(sorted.len());
    for (begin, end) in sorted {
        match out.last_mut() {
            Some(last) if begin <= last.1 + 1 => last.1 = last.1.max(end),
            _ => out.push((begin, end)),
        }
    }
    out
}

/// The agents that pass a set of static filters, and the tally of the rest.
pub(crate) struct StaticClass {
    /// Indexes of eligible agents, ascending.
    pub(crate) eligible: Vec<u32>,
    pub(crate) tally: Tally,
}

impl StaticClass {
    pub(crate) fn build(rules: &StaticRules, agents: &[&AgentSnapshot]) -> StaticClass {
        let mut class = StaticClass { eligible: Vec::new(), tally: Tally::default() };
        for (index, agent) in agents.iter().enumerate() {
            let veto = rules
                .dedication_veto(index)
                .or_else(|| (!agent.maintenance.accepts_tasks()).then_some(Veto::Maintenance(agent.maintenance)))
                .or_else(|| rules.rule_veto(index));
            match veto {
                Some(veto) => class.tally.add(index, &[veto]),
                None => class.eligible.push(index as u32),
            }
        }
        class
    }
}

/// Whether an eligible agent can take one more instance of the job now.
pub(crate) fn feasible(counts: &[CountRule], agent: usize, state: &AgentState, ask: &Ask) -> bool {
    counts.iter().all(|rule| rule.allows(agent)) && state.fits(ask)
}

/// Why an eligible agent cannot take one more instance: the first count rule at its limit, or
/// every resource short. Empty if it can.
pub(crate) fn dynamic_vetoes(counts: &[CountRule], agent: usize, state: &AgentState, ask: &Ask) -> Vec<Veto> {
    match counts.iter().find(|rule| !rule.allows(agent)) {
        Some(rule) => vec![rule.veto()],
        None => state.shortfalls(ask),
    }
}

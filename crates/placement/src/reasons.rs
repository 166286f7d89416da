//! Why a task is pending: Aurora's vetoes, tallied over the hosts they excluded.
//!
//! Each host that cannot take a task gets the vetoes of its first failing group, in Aurora's
//! order: dedicated, then maintenance, then constraints and limits (the first one broken), then
//! resources (every one short). The summary is Aurora's nearest fit: the vetoes of the host with
//! the fewest, a resource shortfall counting as nearer than a broken rule. Beyond Aurora, the
//! reason counts the hosts each veto excluded and names up to [`EXAMPLES`] of them.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::input::{AgentSnapshot, MaintenanceMode};

/// Host names kept per veto.
pub const EXAMPLES: usize = 3;

/// Why a task could not be placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingReason {
    /// Aurora's pending reason, e.g. "Insufficient: CPU, RAM" or "Limit not satisfied: host".
    pub summary: String,
    /// Every veto, in the order the filters run, with the hosts it excluded.
    pub vetoes: Vec<VetoCount>,
}

impl PendingReason {
    /// The reason when no agent is registered at all.
    pub fn no_agents() -> PendingReason {
        PendingReason { summary: "No agents available".to_owned(), vetoes: Vec::new() }
    }
}

/// One veto and the hosts it excluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VetoCount {
    /// In Aurora's words, e.g. "Constraint not satisfied: rack".
    pub reason: String,
    /// How many hosts it excluded.
    pub hosts: u32,
    /// The first few of them, by name.
    pub examples: Vec<String>,
}

/// A resource a task may be short of, in Aurora's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Resource {
    Cpu,
    Ram,
    Disk,
    Gpu,
    Ports,
}

impl Resource {
    fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "CPU",
            Resource::Ram => "RAM",
            Resource::Disk => "disk",
            Resource::Gpu => "GPU",
            Resource::Ports => "ports",
        }
    }
}

/// Why one host cannot take a task. Variants are in the order the filters run.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Veto {
    Dedicated,
    Maintenance(MaintenanceMode),
    /// A static rule on the named attribute (or the job's dedicated pool) is broken.
    Constraint(Rc<str>),
    /// A count rule on the named attribute is at its limit.
    Limit(Rc<str>),
    Insufficient(Resource),
}

impl Veto {
    fn reason(&self) -> String {
        match self {
            Veto::Dedicated => "Host is dedicated".to_owned(),
            Veto::Maintenance(mode) => {
                let state = if *mode == MaintenanceMode::Drained { "drained" } else { "draining" };
                format!("Host is {state} for maintenance")
            }
            Veto::Constraint(attribute) => format!("Constraint not satisfied: {attribute}"),
            Veto::Limit(attribute) => format!("Limit not satisfied: {attribute}"),
            Veto::Insufficient(resource) => format!("Insufficient: {}", resource.name()),
        }
    }

    /// How far a host with this veto is from fitting: resources nearest, dedication farthest.
    fn distance(&self) -> u8 {
        match self {
            Veto::Insufficient(_) => 0,
            Veto::Limit(_) => 1,
            Veto::Constraint(_) => 2,
            Veto::Maintenance(_) => 3,
            Veto::Dedicated => 4,
        }
    }
}

/// Vetoes counted over hosts, with the nearest fit seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    hosts: BTreeMap<Veto, (u32, Vec<usize>)>,
    /// (number of vetoes, distance, agent index) and the vetoes of the nearest host.
    nearest: Option<((usize, u8, usize), Vec<Veto>)>,
}

impl Tally {
    /// Records the vetoes (all of one group) that exclude agent `agent`.
    pub(crate) fn add(&mut self, agent: usize, vetoes: &[Veto]) {
        let Some(first) = vetoes.first() else { return };
        for veto in vetoes {
            let (hosts, examples) = self.hosts.entry(veto.clone()).or_default();
            *hosts += 1;
            if examples.len() < EXAMPLES {
                examples.push(agent);
            }
        }
        let rank = (vetoes.len(), first.distance(), agent);
        if self.nearest.as_ref().is_none_or(|(best, _)| rank < *best) {
            self.nearest = Some((rank, vetoes.to_vec()));
        }
    }

    /// This tally and `other` together; examples stay the lowest agents of both.
    pub(crate) fn merged(&self, other: &Tally) -> Tally {
        let mut merged = self.clone();
        for (veto, (hosts, examples)) in &other.hosts {
            let (total, mine) = merged.hosts.entry(veto.clone()).or_default();
            *total += hosts;
            mine.extend(examples);
            mine.sort_unstable();
            mine.truncate(EXAMPLES);
        }
        if let Some((rank, vetoes)) = &other.nearest
            && merged.nearest.as_ref().is_none_or(|(best, _)| rank < best)
        {
            merged.nearest = Some((*rank, vetoes.clone()));
        }
        merged
    }

    /// The pending reason, naming hosts by the ids of `agents` (indexed as the tally was).
    pub(crate) fn reason(&self, agents: &[&AgentSnapshot]) -> PendingReason {
        let summary = match &self.nearest {
            Some((_, vetoes)) => summary(vetoes),
            None => return PendingReason::no_agents(),
        };
        let vetoes = self
            .hosts
            .iter()
            .map(|(veto, (hosts, examples))| VetoCount {
                reason: veto.reason(),
                hosts: *hosts,
                examples: examples.iter().filter_map(|i| agents.get(*i)).map(|a| a.id.0.clone()).collect(),
            })
            .collect();
        PendingReason { summary, vetoes }
    }
}

/// Aurora's wording of one host's vetoes; resources shortfalls are joined ("Insufficient: CPU, RAM").
fn summary(vetoes: &[Veto]) -> String {
    let resources: Vec<&str> = vetoes
        .iter()
        .filter_map(|v| match v {
            Veto::Insufficient(r) => Some(r.name()),
            _ => None,
        })
        .collect();
    match vetoes.first() {
        Some(Veto::Insufficient(_)) => format!("Insufficient: {}", resources.join(", ")),
        Some(veto) => veto.reason(),
        None => String::new(),
    }
}

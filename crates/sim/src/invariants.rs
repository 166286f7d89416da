//! The invariants checked after every step, on a shadow of the scheduler's tasks kept from the
//! changes each outcome hands the store, so each check costs what the step changed:
//!
//! - every recorded transition is legal ([`TaskState::can_transition_to`]), histories only
//!   grow, a task starts in INIT, and only ended tasks are pruned;
//! - a task placed on an agent stays on that agent;
//! - no agent is overcommitted in the scheduler's books: the cpu, RAM, disk and GPU of the tasks
//!   bound to it fit its resources, and their ports are distinct and within its ranges;
//! - at most one task per job instance is active (not INIT or ended).

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::{AgentId, AgentResources, JobKey, Resources, ScheduledTask, TaskId, TaskState};
use atoll_state::Changes;

/// The scheduler's view of one task, as far as the invariants need it.
#[derive(Clone, Debug)]
pub struct Shadow {
    pub job: JobKey,
    pub instance: u32,
    pub state: TaskState,
    pub agent: Option<AgentId>,
    events: usize,
    demand: Demand,
    ports: Vec<u16>,
}

/// Resources in placement's integer units: thousandths of a core, mebibytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    pub cpu_millis: u64,
    pub ram_mb: u64,
    pub disk_mb: u64,
    pub gpu: u64,
}

impl Demand {
    pub fn of(resources: &Resources) -> Demand {
        Demand {
            cpu_millis: resources.cpu_millis(),
            ram_mb: resources.ram_mb,
            disk_mb: resources.disk_mb,
            gpu: resources.gpu,
        }
    }

    pub fn capacity(resources: &AgentResources) -> Demand {
        Demand {
            cpu_millis: (resources.cpus * 1000.0).round().max(0.0) as u64,
            ram_mb: resources.mem_mb,
            disk_mb: resources.disk_mb,
            gpu: resources.gpus,
        }
    }

    pub fn add(&mut self, other: Demand) {
        self.cpu_millis += other.cpu_millis;
        self.ram_mb += other.ram_mb;
        self.disk_mb += other.disk_mb;
        self.gpu += other.gpu;
    }

    /// Whether every resource of `self` fits in `capacity`.
    pub fn fits(&self, capacity: &Demand) -> bool {
        self.cpu_millis <= capacity.cpu_millis
            && self.ram_mb <= capacity.ram_mb
            && self.disk_mb <= capacity.disk_mb
            && self.gpu <= capacity.gpu
    }
}

/// The shadow of the scheduler's tasks and the indexes the checks use.
#[derive(Debug, Default)]
pub struct Checker {
    tasks: BTreeMap<TaskId, Shadow>,
    active: BTreeMap<(JobKey, u32), BTreeSet<TaskId>>,
    on_agent: BTreeMap<AgentId, BTreeSet<TaskId>>,
    agents: BTreeMap<AgentId, AgentResources>,
    /// Tasks that went LOST and tasks created to replace another, over the run.
    pub lost: u64,
    pub rescheduled: u64,
}

impl Checker {
    /// Declares an agent and what it offers.
    pub fn add_agent(&mut self, id: AgentId, resources: AgentResources) {
        self.agents.insert(id, resources);
    }

    pub fn task(&self, id: &TaskId) -> Option<&Shadow> {
        self.tasks.get(id)
    }

    /// The active tasks of a job instance (at most one).
    pub fn active(&self, job: &JobKey, instance: u32) -> impl Iterator<Item = &TaskId> {
        self.active.get(&(job.clone(), instance)).into_iter().flatten()
    }

    /// Every task the scheduler counts on `agent`.
    pub fn on_agent(&self, agent: &AgentId) -> impl Iterator<Item = &TaskId> {
        self.on_agent.get(agent).into_iter().flatten()
    }

    /// Every task with an active state, with its job.
    pub fn active_tasks(&self) -> impl Iterator<Item = (&TaskId, &Shadow)> {
        self.tasks.iter().filter(|(_, t)| t.state.is_active())
    }

    /// Applies one step's changes and checks every invariant they could break.
    pub fn apply(&mut self, changes: &Changes) -> Result<(), String> {
        let mut agents: BTreeSet<AgentId> = BTreeSet::new();
        let mut instances: BTreeSet<(JobKey, u32)> = BTreeSet::new();
        for task in &changes.tasks_put {
            let previous = self.tasks.get(&task.id);
            check_history(task, previous)?;
            if let Some(old) = previous {
                if old.state.is_on_agent()
                    && task.state.is_active()
                    && task.assignment.as_ref().map(|a| &a.agent) != old.agent.as_ref()
                {
                    return Err(format!("task {} moved from agent {:?} while on it", task.id, old.agent));
                }
                if task.state == TaskState::Lost && old.state != TaskState::Lost {
                    self.lost += 1;
                }
            } else if task.ancestor.is_some() {
                self.rescheduled += 1;
            }
            self.forget(&task.id, &mut agents, &mut instances);
            let shadow = Shadow {
                job: task.job.clone(),
                instance: task.instance,
                state: task.state,
                agent: task.assignment.as_ref().map(|a| a.agent.clone()),
                events: task.events.len(),
                demand: Demand::of(&task.config.task.resources),
                ports: task.assignment.as_ref().map(|a| a.ports.values().copied().collect()).unwrap_or_default(),
            };
            self.remember(task.id.clone(), shadow, &mut agents, &mut instances);
        }
        for id in &changes.tasks_deleted {
            match self.tasks.get(id) {
                Some(t) if t.state.is_terminal() => self.forget(id, &mut agents, &mut instances),
                Some(t) => return Err(format!("task {id} was pruned while {}", t.state)),
                None => {}
            }
        }
        for key in &instances {
            if let Some(ids) = self.active.get(key).filter(|ids| ids.len() > 1) {
                return Err(format!("instance {}/{} has {} active tasks: {ids:?}", key.0, key.1, ids.len()));
            }
        }
        agents.iter().try_for_each(|agent| self.check_agent(agent))
    }

    fn forget(&mut self, id: &TaskId, agents: &mut BTreeSet<AgentId>, instances: &mut BTreeSet<(JobKey, u32)>) {
        let Some(old) = self.tasks.remove(id) else { return };
        let key = (old.job, old.instance);
        if let Some(ids) = self.active.get_mut(&key) {
            ids.remove(id);
        }
        instances.insert(key);
        if let Some(agent) = old.agent {
            if let Some(ids) = self.on_agent.get_mut(&agent) {
                ids.remove(id);
            }
            agents.insert(agent);
        }
    }

    fn remember(
        &mut self,
        id: TaskId,
        shadow: Shadow,
        agents: &mut BTreeSet<AgentId>,
        instances: &mut BTreeSet<(JobKey, u32)>,
    ) {
        let key = (shadow.job.clone(), shadow.instance);
        if shadow.state.is_active() {
            self.active.entry(key.clone()).or_default().insert(id.clone());
        }
        instances.insert(key);
        if let Some(agent) = shadow.agent.as_ref().filter(|_| shadow.state.is_on_agent()) {
            self.on_agent.entry(agent.clone()).or_default().insert(id.clone());
            agents.insert(agent.clone());
        }
        self.tasks.insert(id, shadow);
    }

    /// The scheduler's books for `agent` fit what it offers.
    fn check_agent(&self, agent: &AgentId) -> Result<(), String> {
        let Some(resources) = self.agents.get(agent) else {
            return Err(format!("tasks were placed on {agent}, which the simulation does not run"));
        };
        let mut used = Demand::default();
        let mut ports: BTreeSet<u16> = BTreeSet::new();
        for id in self.on_agent(agent) {
            let task = &self.tasks[id];
            used.add(task.demand);
            for port in &task.ports {
                if !ports.insert(*port) {
                    return Err(format!("port {port} is given twice on {agent} (the second time to {id})"));
                }
                if !resources.ports.iter().any(|r| (r.begin..=r.end).contains(port)) {
                    return Err(format!("{id} got port {port}, which {agent} does not offer"));
                }
            }
        }
        if !used.fits(&Demand::capacity(resources)) {
            return Err(format!("{agent} is overcommitted: its tasks take {used:?} of {resources}"));
        }
        Ok(())
    }
}

/// The recorded history of `task` extends what was seen of it, by legal transitions only.
fn check_history(task: &ScheduledTask, previous: Option<&Shadow>) -> Result<(), String> {
    let from = match previous {
        Some(old) => {
            let index = old.events.checked_sub(1).filter(|i| task.events.get(*i).is_some_and(|e| e.state == old.state));
            index.ok_or_else(|| format!("the history of {} lost its {} event", task.id, old.state))?
        }
        None if task.events.first().map(|e| e.state) == Some(TaskState::Init) => 0,
        None => return Err(format!("task {} does not start in INIT", task.id)),
    };
    for pair in task.events[from..].windows(2) {
        if !pair[0].state.can_transition_to(pair[1].state) {
            return Err(format!("illegal transition {} -> {} of {}", pair[0].state, pair[1].state, task.id));
        }
    }
    if task.events.last().map(|e| e.state) != Some(task.state) {
        return Err(format!("{} is {} but its last event says otherwise", task.id, task.state));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

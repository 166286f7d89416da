//! Checks that compare what the agents really run with what the scheduler believes:
//!
//! - every housekeeping tick: a task id runs on one agent at most, and an *orphan* (a task an
//!   agent runs that the scheduler does not count on that agent: it was declared LOST while its
//!   agent was cut off, or killed and forgotten) is gone within `orphan_bound_ms` of its agent
//!   being reachable; orphans, instances running twice and hosts running more than they offer
//!   are counted;
//! - at a killed job's deadline: nothing of it is active or running anywhere;
//! - at convergence: no update in progress, every service instance RUNNING on the agent the
//!   scheduler placed it on, every batch instance ended as its behaviour says, killed jobs
//!   gone, and no orphans.

use std::collections::BTreeMap;

use atoll_model::{JobKey, TaskId, TaskState};

use crate::Behaviour;
use crate::invariants::Demand;
use crate::sim::Sim;

/// What the simulation knows of a job it submitted.
#[derive(Clone, Debug)]
pub struct JobRecord {
    pub instances: u32,
    pub behaviour: Behaviour,
    pub killed_at_ms: Option<u64>,
}

/// Orphans seen, with when each was first seen on a reachable agent.
#[derive(Clone, Debug, Default)]
pub struct Physical {
    orphans_since: BTreeMap<(usize, TaskId), u64>,
}

/// What one physical check counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub orphans: u64,
    pub duplicated: u64,
    pub overcommitted: u64,
}

/// Whether agent `number` runs `id` as the scheduler believes it does.
fn counted_there(sim: &Sim, number: usize, id: &TaskId) -> bool {
    let agent = &sim.agents[number].spec.id;
    sim.checker.task(id).is_some_and(|t| t.state.is_on_agent() && t.agent.as_ref() == Some(agent))
}

/// The tasks agent `number` runs that the scheduler does not count there, found by walking the
/// agent's tasks and the scheduler's (both sorted by id) side by side.
fn orphans_on(sim: &Sim, number: usize) -> Vec<&TaskId> {
    let mut counted = sim.checker.on_agent(&sim.agents[number].spec.id).peekable();
    let mut orphans = Vec::new();
    for (id, _) in sim.agents[number].live_tasks() {
        while counted.next_if(|c| *c < id).is_some() {}
        if counted.next_if(|c| *c == id).is_none() {
            orphans.push(id);
        }
    }
    orphans
}

/// The per-tick check of the agents' real tasks. Tasks the scheduler counts on their agent are
/// one per instance and on one agent by the step invariants, so only orphans can repeat a task
/// id or an instance.
pub fn check_physical(sim: &Sim, tracker: &mut Physical) -> Result<Sample, String> {
    let now = sim.now_ms();
    let mut sample = Sample::default();
    let mut orphan_agents: BTreeMap<&TaskId, usize> = BTreeMap::new();
    let mut still_orphans = BTreeMap::new();
    for (number, agent) in sim.agents.iter().enumerate().filter(|(_, a)| a.is_up()) {
        let mut used = Demand::default();
        for (_, task) in agent.live_tasks() {
            used.add(Demand::of(&task.resources));
        }
        if !used.fits(&Demand::capacity(&agent.spec.resources)) {
            sample.overcommitted += 1;
        }
        for id in orphans_on(sim, number) {
            sample.orphans += 1;
            if let Some(other) = orphan_agents.insert(id, number) {
                return Err(format!("{id} runs on agent#{other} and agent#{number}"));
            }
            if sim.checker.task(id).is_some_and(|t| t.state.is_on_agent()) {
                return Err(format!("{id} runs on agent#{number}, but the scheduler has it elsewhere"));
            }
            let task = agent.task(id).expect("orphans are the agent's tasks");
            if sim.checker.active(&task.job, task.instance).next().is_some() {
                sample.duplicated += 1;
            }
            if sim.net.is_partitioned(number, now) {
                continue;
            }
            let key = (number, id.clone());
            let since = tracker.orphans_since.get(&key).copied().unwrap_or(now);
            if now - since > sim.config.orphan_bound_ms {
                return Err(format!(
                    "orphan {id} still runs on agent#{number}, {} ms after it was reachable",
                    now - since
                ));
            }
            still_orphans.insert(key, since);
        }
    }
    tracker.orphans_since = still_orphans;
    Ok(sample)
}

/// Nothing of the killed `job` is active in the scheduler or runs on any agent.
pub fn check_killed(sim: &Sim, job: &JobKey) -> Result<(), String> {
    if let Some((id, task)) = sim.checker.active_tasks().find(|(_, t)| t.job == *job) {
        return Err(format!("killed job {job} still has {id} {}", task.state));
    }
    for (number, agent) in sim.agents.iter().enumerate().filter(|(_, a)| a.is_up()) {
        if let Some((id, _)) = agent.live_tasks().find(|(_, t)| t.job == *job) {
            return Err(format!("agent#{number} still runs {id} of killed job {job}"));
        }
    }
    Ok(())
}

/// Whether the cluster has settled: see the module documentation.
pub fn converged(sim: &Sim) -> Result<(), String> {
    for (key, job) in &sim.jobs {
        if job.killed_at_ms.is_some() {
            check_killed(sim, key)?;
            continue;
        }
        if let Some(update) = sim.state.active_update(key) {
            return Err(format!("{key}'s update {} is still {}", update.id, update.state));
        }
        match job.behaviour {
            Behaviour::Serve => {
                // An update may have changed the job's instance count.
                let instances = sim.state.job(key).map_or(job.instances, |spec| spec.instances);
                for instance in 0..instances {
                    service_instance_runs(sim, key, instance)?;
                }
            }
            Behaviour::Finish { .. } | Behaviour::Fail { .. } => {
                let wanted = ended(job.behaviour);
                let tasks = sim.state.job_tasks(key, false);
                if tasks.len() != job.instances as usize {
                    return Err(format!("{key} shows {} of its {} instances", tasks.len(), job.instances));
                }
                if let Some(task) = tasks.iter().find(|t| t.state != wanted) {
                    return Err(format!("{}/{} is {}, not {wanted}", key, task.instance, task.state));
                }
            }
        }
    }
    for (number, agent) in sim.agents.iter().enumerate().filter(|(_, a)| a.is_up()) {
        for (id, task) in agent.live_tasks() {
            let shadow = sim.checker.task(id).filter(|_| counted_there(sim, number, id));
            if shadow.map(|s| s.state) != Some(task.state) {
                let believed = shadow.map_or("not there".to_owned(), |s| s.state.to_string());
                return Err(format!("agent#{number} has {id} {} but the scheduler believes {believed}", task.state));
            }
        }
    }
    Ok(())
}

fn ended(behaviour: Behaviour) -> TaskState {
    match behaviour {
        Behaviour::Fail { .. } => TaskState::Failed,
        _ => TaskState::Finished,
    }
}

fn service_instance_runs(sim: &Sim, key: &JobKey, instance: u32) -> Result<(), String> {
    let mut active = sim.checker.active(key, instance);
    let Some(id) = active.next() else { return Err(format!("{key}/{instance} has no active task")) };
    let shadow = sim.checker.task(id).expect("active tasks are shadowed");
    if shadow.state != TaskState::Running {
        let why = sim.state.pending_reason(id).map(|r| format!(" ({r})")).unwrap_or_default();
        return Err(format!("{key}/{instance} is {}{why}", shadow.state));
    }
    let number = shadow.agent.as_ref().and_then(|a| sim.index.get(a)).copied();
    let runs = number.and_then(|n| sim.agents[n].task(id)).map(|t| t.state);
    if runs != Some(TaskState::Running) {
        return Err(format!("{key}/{instance} is RUNNING for the scheduler, but its agent has it {runs:?}"));
    }
    Ok(())
}

//! Agents: registration and reconciliation of what they run, heartbeats, loss, and the
//! snapshot placement works on (capacity, use, attributes, maintenance, and where each job's
//! instances run).

use std::collections::BTreeMap;

use atoll_model::{AgentId, AgentResources, Attributes, JobKey, TaskId, TaskState};
use atoll_placement::{AgentSnapshot, ClusterSnapshot, Usage};

use crate::lifecycle::{StatusReport, is_being_killed};
use crate::{AgentRecord, ClusterState, Effect, Outcome, StateError};

/// An agent's registration.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub id: AgentId,
    pub hostname: String,
    pub resources: AgentResources,
    pub attributes: Attributes,
    /// The tasks the agent has, with the state each is in (ended tasks whose end the
    /// scheduler may not have heard of yet included).
    pub tasks: Vec<(TaskId, StatusReport)>,
    /// The agent's incarnation ([`AgentRecord::incarnation`]).
    pub incarnation: Option<String>,
}

impl ClusterState {
    /// Registers (or re-registers) an agent and reconciles what it runs with what the scheduler
    /// believes: unknown tasks are killed, ASSIGNED tasks it lacks are launched again, and
    /// running tasks it lacks are LOST (and rescheduled). Its capacity wants a placement round.
    pub fn register_agent(&mut self, registration: Registration, now_ms: u64) -> Result<Outcome, StateError> {
        self.check_agent_id(&registration, now_ms)?;
        let id = registration.id.clone();
        self.agents.insert(
            id.clone(),
            AgentRecord {
                id: id.clone(),
                hostname: registration.hostname,
                resources: Some(registration.resources),
                attributes: registration.attributes,
                last_seen_ms: now_ms,
                incarnation: registration.incarnation,
                // Those it still runs are reported below and counted again.
                orphans: BTreeMap::new(),
            },
        );
        let mut effects = Vec::new();
        let reported: BTreeMap<TaskId, StatusReport> = registration.tasks.into_iter().collect();
        for (task_id, report) in &reported {
            effects.extend(self.apply_status(&id, task_id, report.clone(), now_ms));
        }
        let expected: Vec<(TaskId, TaskState)> = self
            .tasks
            .values()
            .filter(|t| t.state.is_on_agent() && t.assignment.as_ref().is_some_and(|a| a.agent == id))
            .filter(|t| !reported.contains_key(&t.id))
            .map(|t| (t.id.clone(), t.state))
            .collect();
        for (task_id, state) in expected {
            match state {
                TaskState::Assigned => {
                    if let Some(task) = self.tasks.get(&task_id) {
                        effects.push(Effect::Launch { agent: id.clone(), task: Box::new(task.clone()) });
                    }
                }
                TaskState::Killing => {
                    effects.extend(self.transition(&task_id, TaskState::Killed, "Gone from its agent", now_ms));
                }
                _ => effects.extend(self.transition(&task_id, TaskState::Lost, "Agent no longer has the task", now_ms)),
            }
        }
        self.placement_wanted = true;
        Ok(self.outcome(effects))
    }

    /// Refuses a registration under the id of another agent that is still heard from: one
    /// with another incarnation, registered, and not silent past the agent timeout. (A
    /// registration would take over the other's tasks and report them lost.) An agent that
    /// went silent may be replaced, and agents that name no incarnation are not checked.
    pub fn check_agent_id(&self, registration: &Registration, now_ms: u64) -> Result<(), StateError> {
        let Some(known) = self.agents.get(&registration.id) else { return Ok(()) };
        let silent_ms = now_ms.saturating_sub(known.last_seen_ms);
        match (&known.incarnation, &registration.incarnation) {
            (Some(known_one), Some(new_one))
                if known_one != new_one && known.resources.is_some() && silent_ms <= self.config.agent_timeout_ms =>
            {
                Err(StateError::AgentIdInUse { id: known.id.clone(), hostname: known.hostname.clone(), silent_ms })
            }
            _ => Ok(()),
        }
    }

    /// Records a heartbeat. Returns false if the agent is unknown (it must register again).
    pub fn heartbeat(&mut self, id: &AgentId, now_ms: u64) -> bool {
        match self.agents.get_mut(id) {
            Some(agent) if agent.resources.is_some() => {
                agent.last_seen_ms = now_ms;
                true
            }
            _ => false,
        }
    }

    /// Declares agents silent past the timeout lost, with every task on them.
    pub(crate) fn lose_silent_agents(&mut self, now_ms: u64) -> Vec<Effect> {
        let timeout = self.config.agent_timeout_ms;
        let silent: Vec<AgentId> = self
            .agents
            .values()
            .filter(|a| now_ms.saturating_sub(a.last_seen_ms) > timeout)
            .map(|a| a.id.clone())
            .collect();
        let mut effects = Vec::new();
        for agent in silent {
            if let Some(gone) = self.agents.remove(&agent) {
                effects.extend(self.rescind_offers_on(&agent, "its agent was lost"));
                effects.extend(self.agent_lost_to_frameworks(&agent, &gone.hostname));
            }
            let on_agent: Vec<TaskId> = self
                .tasks
                .values()
                .filter(|t| t.state.is_on_agent() && t.assignment.as_ref().is_some_and(|a| a.agent == agent))
                .map(|t| t.id.clone())
                .collect();
            let message = format!("Agent {agent} stopped sending heartbeats");
            for task in on_agent {
                effects.extend(self.agent_unreachable(&task, &message, now_ms));
            }
        }
        // Kills for a lost agent cannot be delivered; it is told again if it re-registers.
        effects.retain(|e| !matches!(e, Effect::Kill { agent, .. } if !self.agents.contains_key(agent)));
        effects
    }

    /// A task whose agent went silent: PARTITIONED when it was starting or running and its
    /// config has a `partition_policy` (LOST at once after that when the policy reschedules
    /// without delay), LOST otherwise, as Aurora's partition-aware scheduler does.
    fn agent_unreachable(&mut self, task: &TaskId, message: &str, now_ms: u64) -> Vec<Effect> {
        let Some(found) = self.tasks.get(task) else { return Vec::new() };
        let policy = found.config.partition_policy.clone();
        let (Some(policy), TaskState::Starting | TaskState::Running) = (policy, found.state) else {
            return self.transition(task, TaskState::Lost, message, now_ms);
        };
        let plan = match (policy.reschedule, policy.delay_secs) {
            (false, _) => "its partition_policy waits for the agent to come back".to_owned(),
            (true, 0) => "its partition_policy reschedules it at once".to_owned(),
            (true, delay) => format!("its partition_policy reschedules it after {delay} s"),
        };
        let mut effects = self.transition(task, TaskState::Partitioned, &format!("{message}; {plan}"), now_ms);
        if policy.reschedule && policy.delay_secs == 0 {
            effects.extend(self.transition(task, TaskState::Lost, "Partitioned; rescheduled", now_ms));
        }
        effects
    }

    /// PARTITIONED tasks whose policy reschedules them and whose delay is over: LOST, and so
    /// rescheduled.
    pub(crate) fn expire_partitions(&mut self, now_ms: u64) -> Vec<Effect> {
        let expired: Vec<(TaskId, u64)> = self
            .tasks
            .values()
            .filter(|t| t.state == TaskState::Partitioned)
            .filter_map(|t| {
                let policy = t.config.partition_policy.as_ref().filter(|p| p.reschedule)?;
                let delay_ms = policy.delay_secs.saturating_mul(1000);
                (now_ms.saturating_sub(t.since_ms()) >= delay_ms).then(|| (t.id.clone(), policy.delay_secs))
            })
            .collect();
        let mut effects = Vec::new();
        for (task, delay) in expired {
            let message =
                format!("Partitioned for longer than its partition_policy's delay_secs ({delay} s); rescheduled");
            effects.extend(self.transition(&task, TaskState::Lost, &message, now_ms));
        }
        effects
    }

    /// Every registered agent with its capacity, use, attributes and maintenance mode, and the
    /// agents every job's active instances run on, for placement.
    pub fn snapshot(&self) -> ClusterSnapshot {
        self.snapshot_for(|_| true, false)
    }

    /// The snapshot, with instance placements only for the jobs `wanted` picks; agents' orphans
    /// hold what they hold. With `stopping_free`, tasks told to stop (killed, preempted,
    /// restarted, drained, and orphans) hold nothing:
    /// the view preemption needs, so that room already on its way is not made twice.
    pub(crate) fn snapshot_for(&self, wanted: impl Fn(&JobKey) -> bool, stopping_free: bool) -> ClusterSnapshot {
        let mut agents: BTreeMap<&AgentId, AgentSnapshot> = self
            .agents
            .values()
            .filter_map(|a| {
                Some((
                    &a.id,
                    AgentSnapshot {
                        id: a.id.clone(),
                        resources: a.resources.clone()?,
                        attributes: a.attributes.clone(),
                        maintenance: self.host_mode(&a.hostname),
                        used: Usage::default(),
                        used_ports: Default::default(),
                    },
                ))
            })
            .collect();
        let mut placed: BTreeMap<JobKey, Vec<AgentId>> = BTreeMap::new();
        for task in self.tasks.values().filter(|t| t.state.is_on_agent()) {
            let Some(assignment) = &task.assignment else { continue };
            if stopping_free && is_being_killed(task.state) {
                continue;
            }
            if let Some(agent) = agents.get_mut(&assignment.agent) {
                agent.used.add(&task.config.task.resources);
                agent.used_ports.extend(assignment.ports.values().copied());
                if wanted(&task.job) {
                    placed.entry(task.job.clone()).or_default().push(assignment.agent.clone());
                }
            }
        }
        // What is offered to other frameworks is not placement's to use. Their ports matter only
        // on an agent with cpu and memory left, and are expanded only there.
        for (agent, (resources, ports)) in self.offered_to_others() {
            if let Some(snapshot) = agents.get_mut(&agent) {
                snapshot.used.add(&resources);
                let capacity = &snapshot.resources;
                let room = snapshot.used.cpu_millis < (capacity.cpus * 1000.0).round() as u64
                    && snapshot.used.ram_mb < capacity.mem_mb;
                if room {
                    for range in ports {
                        snapshot.used_ports.extend(range.begin..=range.end);
                    }
                }
            }
        }
        if !stopping_free {
            for record in self.agents.values() {
                let Some(agent) = agents.get_mut(&record.id) else { continue };
                for orphan in record.orphans.values() {
                    agent.used.add(&orphan.resources);
                    agent.used_ports.extend(orphan.ports.iter().copied());
                }
            }
        }
        ClusterSnapshot { agents: agents.into_values().collect(), placed }
    }

    /// The agents currently known.
    pub fn agents(&self) -> impl Iterator<Item = &AgentRecord> {
        self.agents.values()
    }
}

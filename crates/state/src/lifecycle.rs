//! Jobs and tasks through their lives: creation, placement, status reports, kills,
//! rescheduling with flapping backoff, timeouts and pruning.

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::{AgentId, Assignment, JobKey, JobSpec, ScheduledTask, TaskEvent, TaskId, TaskState};
use atoll_placement::{PendingJob, PendingTask, Tier, place};

use crate::{ClusterState, Effect, StateError};

impl ClusterState {
    /// Accepts a new job and creates its instances as PENDING tasks.
    pub fn create_job(&mut self, spec: JobSpec, now_ms: u64) -> Result<Vec<TaskId>, StateError> {
        if spec.key.cluster != self.config.cluster {
            return Err(StateError::WrongCluster { job: Box::new(spec.key), cluster: self.config.cluster.clone() });
        }
        if self.jobs.contains_key(&spec.key) {
            return Err(StateError::JobExists(Box::new(spec.key)));
        }
        let problems = spec.validate();
        if !problems.is_empty() {
            return Err(StateError::InvalidJob { job: Box::new(spec.key), problems });
        }
        let ids = (0..spec.instances).map(|instance| self.add_task(&spec, instance, 0, None, 0, now_ms)).collect();
        self.dirty_jobs.insert(spec.key.clone());
        self.jobs.insert(spec.key.clone(), spec);
        Ok(ids)
    }

    fn add_task(
        &mut self,
        job: &JobSpec,
        instance: u32,
        failure_count: u32,
        ancestor: Option<TaskId>,
        delay_ms: u64,
        now_ms: u64,
    ) -> TaskId {
        self.next_task_seq += 1;
        let id = TaskId::new(&job.key, instance, &format!("{:x}-{}", now_ms, self.next_task_seq));
        let (state, message) = if delay_ms > 0 {
            (
                TaskState::Throttled,
                format!("Rescheduled, throttled for {} s: the previous run was short", delay_ms / 1000),
            )
        } else if ancestor.is_some() {
            (TaskState::Pending, "Rescheduled".to_owned())
        } else {
            (TaskState::Pending, "Created".to_owned())
        };
        let task = ScheduledTask {
            id: id.clone(),
            job: job.key.clone(),
            instance,
            spec: job.task.clone(),
            requested_ports: job.requested_ports(),
            priority: job.priority,
            state,
            assignment: None,
            sandbox: None,
            exit_code: None,
            failure_count,
            ancestor,
            not_before_ms: now_ms + delay_ms,
            events: vec![
                TaskEvent { at_ms: now_ms, state: TaskState::Init, message: String::new() },
                TaskEvent { at_ms: now_ms, state, message },
            ],
        };
        self.tasks.insert(id.clone(), task);
        self.dirty_tasks.insert(id.clone());
        id
    }

    /// Kills the given instances of a job, or all of them (which also removes the job).
    /// Returns the tasks asked to stop and what agents must do.
    pub fn kill(
        &mut self,
        job: &JobKey,
        instances: Option<&BTreeSet<u32>>,
        now_ms: u64,
    ) -> Result<(Vec<TaskId>, Vec<Effect>), StateError> {
        let has_tasks = self.tasks.values().any(|t| t.job == *job);
        let Some(spec) = self.jobs.get(job) else {
            return if has_tasks {
                Ok((Vec::new(), Vec::new()))
            } else {
                Err(StateError::JobNotFound(Box::new(job.clone())))
            };
        };
        if let Some(instances) = instances {
            if instances.is_empty() {
                return Err(StateError::NoInstancesGiven);
            }
            let missing: Vec<u32> = instances.iter().copied().filter(|i| *i >= spec.instances).collect();
            if !missing.is_empty() {
                return Err(StateError::NoSuchInstances {
                    job: Box::new(job.clone()),
                    instances: missing,
                    count: spec.instances,
                });
            }
        }
        let targets: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.job == *job && t.state.is_active())
            .filter(|t| instances.is_none_or(|set| set.contains(&t.instance)))
            .map(|t| t.id.clone())
            .collect();
        let mut effects = Vec::new();
        for id in &targets {
            let already_killing = self.tasks.get(id).filter(|t| t.state == TaskState::Killing);
            if let Some(assignment) = already_killing.and_then(|t| t.assignment.as_ref()) {
                // Killed before and still not gone: ask its agent again.
                effects.push(Effect::Kill { agent: assignment.agent.clone(), task: id.clone() });
                continue;
            }
            effects.extend(self.transition(id, TaskState::Killing, "Killed by request", now_ms));
            let off_agent = self.tasks.get(id).is_some_and(|t| t.assignment.is_none());
            if off_agent {
                effects.extend(self.transition(id, TaskState::Killed, "Killed before it was placed", now_ms));
            }
        }
        if instances.is_none() {
            self.jobs.remove(job);
            self.dirty_jobs.insert(job.clone());
        }
        Ok((targets, effects))
    }

    /// Applies a status report from `agent` about one of its tasks.
    pub fn update_status(
        &mut self,
        agent: &AgentId,
        task_id: &TaskId,
        report: StatusReport,
        now_ms: u64,
    ) -> Vec<Effect> {
        let Some(task) = self.tasks.get(task_id) else {
            return if report.state.is_terminal() {
                Vec::new()
            } else {
                vec![Effect::Kill { agent: agent.clone(), task: task_id.clone() }]
            };
        };
        let on_this_agent = task.assignment.as_ref().is_some_and(|a| a.agent == *agent);
        if !on_this_agent || task.state.is_terminal() {
            // The agent runs something the scheduler no longer wants there.
            return if report.state.is_terminal() {
                Vec::new()
            } else {
                vec![Effect::Kill { agent: agent.clone(), task: task_id.clone() }]
            };
        }
        let (current, stale_kill) = (task.state, task.state == TaskState::Killing && !report.state.is_terminal());
        if let Some(task) = self.tasks.get_mut(task_id) {
            if report.sandbox.is_some() && task.sandbox != report.sandbox {
                task.sandbox = report.sandbox;
                self.dirty_tasks.insert(task_id.clone());
            }
            if report.exit_code.is_some() && task.exit_code != report.exit_code {
                task.exit_code = report.exit_code;
                self.dirty_tasks.insert(task_id.clone());
            }
        }
        if stale_kill {
            // The kill has not reached the agent (lost in a reconnect, or overtaken): again.
            return vec![Effect::Kill { agent: agent.clone(), task: task_id.clone() }];
        }
        if current == report.state {
            return Vec::new();
        }
        self.transition(task_id, report.state, &report.message, now_ms)
    }

    /// Moves a task to `next` if Aurora allows it, recording the event and acting on it:
    /// killing what must stop, rescheduling what must run again.
    pub(crate) fn transition(&mut self, id: &TaskId, next: TaskState, message: &str, now_ms: u64) -> Vec<Effect> {
        let Some(task) = self.tasks.get_mut(id) else { return Vec::new() };
        let previous = task.state;
        if !previous.can_transition_to(next) {
            self.illegal_transitions += 1;
            return Vec::new();
        }
        task.state = next;
        task.events.push(TaskEvent { at_ms: now_ms, state: next, message: message.to_owned() });
        self.dirty_tasks.insert(id.clone());
        self.pending_reasons.remove(id);
        let task = task.clone();
        let mut effects = Vec::new();
        if matches!(next, TaskState::Killing | TaskState::Preempting | TaskState::Restarting | TaskState::Draining)
            && let Some(a) = &task.assignment
        {
            effects.push(Effect::Kill { agent: a.agent.clone(), task: id.clone() });
        }
        if next == TaskState::Lost
            && let Some(a) = &task.assignment
        {
            // The agent may still run it; if it ever reports it again it is killed then.
            effects.push(Effect::Kill { agent: a.agent.clone(), task: id.clone() });
        }
        if next.is_terminal() {
            self.maybe_reschedule(&task, previous, now_ms);
        }
        effects
    }

    fn maybe_reschedule(&mut self, task: &ScheduledTask, previous: TaskState, now_ms: u64) {
        if previous == TaskState::Killing {
            return;
        }
        let Some(job) = self.jobs.get(&task.job).cloned() else { return };
        if task.instance >= job.instances {
            return;
        }
        let mut failure_count = task.failure_count;
        let reschedule = match task.state {
            TaskState::Finished => job.service,
            TaskState::Failed => {
                failure_count += 1;
                job.service || job.max_task_failures == -1 || failure_count < job.max_task_failures.max(0) as u32
            }
            TaskState::Killed | TaskState::Lost => true,
            _ => false,
        };
        if !reschedule {
            return;
        }
        let delay_ms = if matches!(task.state, TaskState::Finished | TaskState::Failed) {
            self.flapping_delay(task, now_ms)
        } else {
            0
        };
        self.add_task(&job, task.instance, failure_count, Some(task.id.clone()), delay_ms, now_ms);
    }

    /// Aurora's flapping throttle: a task that ran shorter than the threshold is followed by a
    /// throttled one, with a backoff that doubles while the instance keeps flapping.
    fn flapping_delay(&self, task: &ScheduledTask, now_ms: u64) -> u64 {
        let ran_ms = task.started_ms().map_or(0, |start| now_ms.saturating_sub(start));
        if ran_ms >= self.config.flapping_threshold_ms {
            return 0;
        }
        let created_ms = task.events.first().map_or(now_ms, |e| e.at_ms);
        let previous_delay = task.not_before_ms.saturating_sub(created_ms);
        if previous_delay == 0 {
            self.config.initial_backoff_ms
        } else {
            previous_delay.saturating_mul(2).min(self.config.max_backoff_ms)
        }
    }

    /// Runs one placement round over the registered agents and assigns what fits; every PENDING
    /// task left over keeps the reason placement gave.
    pub fn schedule(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut pending: BTreeMap<&JobKey, PendingJob> = BTreeMap::new();
        for task in self.tasks.values().filter(|t| t.state == TaskState::Pending) {
            let Some(job) = self.jobs.get(&task.job) else { continue };
            let entry = pending.entry(&job.key).or_insert_with(|| PendingJob {
                key: job.key.clone(),
                tier: Tier::from_name(job.tier.as_deref()),
                priority: job.priority,
                service: job.service,
                instances: job.instances,
                constraints: job.constraints.clone(),
                tasks: Vec::new(),
            });
            entry.tasks.push(PendingTask {
                id: task.id.clone(),
                resources: task.spec.resources.clone(),
                ports: task.requested_ports.clone(),
                not_before_ms: task.not_before_ms,
            });
        }
        if pending.is_empty() {
            return Vec::new();
        }
        let snapshot = self.snapshot_for(|job| pending.contains_key(job));
        let jobs: Vec<PendingJob> = pending.into_values().collect();
        let plan = place(&snapshot, &jobs, &self.config.policy, now_ms);
        let mut effects = Vec::new();
        for placement in plan.placements {
            let Some(hostname) = self.agents.get(&placement.agent).map(|a| a.hostname.clone()) else { continue };
            if let Some(task) = self.tasks.get_mut(&placement.task) {
                task.assignment = Some(Assignment { agent: placement.agent.clone(), hostname, ports: placement.ports });
            }
            effects.extend(self.transition(&placement.task, TaskState::Assigned, "Assigned", now_ms));
            if let Some(task) = self.tasks.get(&placement.task) {
                effects.push(Effect::Launch { agent: placement.agent, task: Box::new(task.clone()) });
            }
        }
        for unplaced in plan.unplaced {
            self.pending_reasons.insert(unplaced.task, unplaced.reason);
        }
        effects
    }

    /// Periodic housekeeping: loses silent agents and stuck tasks, releases throttled tasks
    /// whose backoff has passed, marks emptied draining hosts DRAINED, and prunes old terminal
    /// tasks.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut effects = self.lose_silent_agents(now_ms);
        let timeout = self.config.transient_timeout_ms;
        let stuck: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| matches!(t.state, TaskState::Assigned | TaskState::Killing))
            .filter(|t| now_ms.saturating_sub(t.since_ms()) > timeout)
            .map(|t| t.id.clone())
            .collect();
        for id in stuck {
            effects.extend(self.transition(&id, TaskState::Lost, "Timed out in a transient state", now_ms));
        }
        let released: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.state == TaskState::Throttled && t.not_before_ms <= now_ms)
            .map(|t| t.id.clone())
            .collect();
        for id in released {
            effects.extend(self.transition(&id, TaskState::Pending, "Backoff over", now_ms));
        }
        self.finish_draining();
        self.prune_terminal_tasks();
        effects
    }

    fn prune_terminal_tasks(&mut self) {
        let keep = self.config.terminal_tasks_kept_per_job;
        let mut by_job: std::collections::BTreeMap<&JobKey, Vec<(u64, &TaskId)>> = Default::default();
        for task in self.tasks.values().filter(|t| t.state.is_terminal()) {
            by_job.entry(&task.job).or_default().push((task.since_ms(), &task.id));
        }
        let mut doomed = Vec::new();
        for (_, mut terminal) in by_job {
            if terminal.len() > keep {
                terminal.sort();
                doomed.extend(terminal[..terminal.len() - keep].iter().map(|(_, id)| (*id).clone()));
            }
        }
        for id in doomed {
            self.tasks.remove(&id);
            self.dirty_tasks.remove(&id);
            self.deleted_tasks.insert(id);
        }
    }
}

/// A task state change as an agent reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusReport {
    pub state: TaskState,
    pub message: String,
    pub exit_code: Option<i32>,
    pub sandbox: Option<String>,
}

//! Jobs and tasks through their lives: creation (within quota), status reports, kills, and
//! rescheduling with flapping backoff. Placement rounds and housekeeping are in `rounds`.

use std::collections::BTreeSet;

use atoll_model::event::{EventDetail, JobChange};
use atoll_model::{AgentId, ConfigVersion, JobKey, JobSpec, ScheduledTask, TaskEvent, TaskId, TaskState};

use crate::{ClusterState, Effect, Orphan, Outcome, StateError};

impl ClusterState {
    /// Accepts a new job and creates its instances as PENDING tasks.
    pub fn create_job(&mut self, spec: JobSpec, now_ms: u64) -> Result<(Vec<TaskId>, Outcome), StateError> {
        if spec.key.cluster != self.config.cluster {
            return Err(StateError::WrongCluster { job: Box::new(spec.key), cluster: self.config.cluster.clone() });
        }
        if self.jobs.contains_key(&spec.key) {
            return Err(StateError::JobExists(Box::new(spec.key)));
        }
        if spec.cron_schedule.is_some() && !spec.config.service {
            return Err(StateError::CronJobViaCreate(Box::new(spec.key)));
        }
        let mut problems = spec.validate();
        problems.extend(not_yet_supported(&spec));
        if !problems.is_empty() {
            return Err(StateError::InvalidJob { job: Box::new(spec.key), problems });
        }
        self.check_quota(&spec.key, &spec.config, spec.instances)?;
        let message = format!("{} instance(s)", spec.instances);
        self.record_event(&spec.key, now_ms, EventDetail::Job { change: JobChange::Created, message });
        let version = self.intern(spec.config.clone());
        let ids = (0..spec.instances)
            .map(|instance| self.add_task(&spec.key, &version, instance, Lineage::first(), now_ms))
            .collect();
        self.jobs.insert(spec.key.clone(), spec);
        Ok((ids, self.outcome(Vec::new())))
    }

    /// Creates a task of config `version` for one instance of `job`: PENDING, or THROTTLED
    /// while the lineage's delay lasts.
    pub(crate) fn add_task(
        &mut self,
        job: &JobKey,
        version: &ConfigVersion,
        instance: u32,
        lineage: Lineage,
        now_ms: u64,
    ) -> TaskId {
        let Lineage { failure_count, ancestor, delay_ms, message } = lineage;
        self.next_task_seq += 1;
        let id = TaskId::new(job, instance, &format!("{:x}-{}", now_ms, self.next_task_seq));
        let (state, message) = if delay_ms > 0 {
            (
                TaskState::Throttled,
                format!("Rescheduled, throttled for {} s: the previous run was short", delay_ms / 1000),
            )
        } else if let Some(message) = message {
            (TaskState::Pending, message)
        } else if ancestor.is_some() {
            (TaskState::Pending, "Rescheduled".to_owned())
        } else {
            (TaskState::Pending, "Created".to_owned())
        };
        let task = ScheduledTask {
            id: id.clone(),
            job: job.clone(),
            instance,
            config: version.clone(),
            state,
            assignment: None,
            sandbox: None,
            exit_code: None,
            failure_count,
            ancestor,
            not_before_ms: now_ms + delay_ms,
            events: vec![
                TaskEvent { at_ms: now_ms, state: TaskState::Init, message: String::new() },
                TaskEvent { at_ms: now_ms, state, message: message.clone() },
            ],
        };
        self.tasks.insert(id.clone(), task);
        let detail =
            EventDetail::Task { task: id.clone(), instance, previous: TaskState::Init, state, message, host: None };
        self.record_event(job, now_ms, detail);
        self.placement_wanted |= state == TaskState::Pending;
        id
    }

    /// Kills the given instances of a job, or all of them (which also removes the job, unless
    /// it is a cron job, whose schedule stays). Returns the tasks asked to stop and what agents
    /// must do.
    pub fn kill(
        &mut self,
        job: &JobKey,
        instances: Option<&BTreeSet<u32>>,
        now_ms: u64,
    ) -> Result<(Vec<TaskId>, Outcome), StateError> {
        match self.jobs.get(job) {
            Some(spec) => {
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
            }
            // A killed job's tasks still stopping, or a descheduled cron job's last run.
            None if self.tasks.values().any(|t| t.job == *job) => {}
            None => return Err(StateError::JobNotFound(Box::new(job.clone()))),
        }
        let targets: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.job == *job && t.state.is_active())
            .filter(|t| instances.is_none_or(|set| set.contains(&t.instance)))
            .map(|t| t.id.clone())
            .collect();
        let effects = self.kill_tasks(&targets, "Killed by request", now_ms);
        if instances.is_none() && !self.is_cron_job(job) && self.jobs.remove(job).is_some() {
            self.restarts.remove(job);
            let message = "Killed by request".to_owned();
            self.record_event(job, now_ms, EventDetail::Job { change: JobChange::Killed, message });
        }
        Ok((targets, self.outcome(effects)))
    }

    /// Every active task of `job` asked to stop, with `message`.
    pub(crate) fn kill_active(&mut self, job: &JobKey, message: &str, now_ms: u64) -> Vec<Effect> {
        let targets: Vec<TaskId> =
            self.job_tasks(job, false).iter().filter(|t| t.state.is_active()).map(|t| t.id.clone()).collect();
        self.kill_tasks(&targets, message, now_ms)
    }

    pub(crate) fn kill_tasks(&mut self, targets: &[TaskId], message: &str, now_ms: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        for id in targets {
            let already_killing = self.tasks.get(id).filter(|t| t.state == TaskState::Killing);
            if let Some(assignment) = already_killing.and_then(|t| t.assignment.as_ref()) {
                // Killed before and still not gone: ask its agent again.
                effects.push(Effect::Kill { agent: assignment.agent.clone(), task: id.clone() });
                continue;
            }
            effects.extend(self.transition(id, TaskState::Killing, message, now_ms));
            let off_agent = self.tasks.get(id).is_some_and(|t| t.assignment.is_none());
            if off_agent {
                effects.extend(self.transition(id, TaskState::Killed, "Killed before it was placed", now_ms));
            }
        }
        effects
    }

    /// Applies a status report from `agent` about one of its tasks.
    pub fn update_status(&mut self, agent: &AgentId, task_id: &TaskId, report: StatusReport, now_ms: u64) -> Outcome {
        let effects = self.apply_status(agent, task_id, report, now_ms);
        self.outcome(effects)
    }

    /// [`update_status`](ClusterState::update_status) within a larger event.
    pub(crate) fn apply_status(
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
            // The agent runs something the scheduler no longer wants there: an orphan, which
            // holds its resources there until it has ended.
            let orphan = Orphan {
                resources: task.config.task.resources.clone(),
                ports: task
                    .assignment
                    .as_ref()
                    .filter(|_| on_this_agent)
                    .map(|a| a.ports.values().copied().collect())
                    .unwrap_or_default(),
            };
            let ended = report.state.is_terminal();
            if let Some(record) = self.agents.get_mut(agent) {
                if !ended {
                    record.orphans.insert(task_id.clone(), orphan);
                } else if record.orphans.remove(task_id).is_some() {
                    // Its room is free now.
                    self.placement_wanted = true;
                }
            }
            return if ended { Vec::new() } else { vec![Effect::Kill { agent: agent.clone(), task: task_id.clone() }] };
        }
        let (current, stale_kill) = (task.state, is_being_killed(task.state) && !report.state.is_terminal());
        let new_sandbox = report.sandbox.is_some() && task.sandbox != report.sandbox;
        let new_exit_code = report.exit_code.is_some() && task.exit_code != report.exit_code;
        if (new_sandbox || new_exit_code)
            && let Some(task) = self.tasks.get_mut(task_id)
        {
            if new_sandbox {
                task.sandbox = report.sandbox;
            }
            if new_exit_code {
                task.exit_code = report.exit_code;
            }
        }
        if stale_kill {
            // The kill has not reached the agent (lost in a reconnect, or overtaken): again.
            return vec![Effect::Kill { agent: agent.clone(), task: task_id.clone() }];
        }
        if current == report.state {
            return Vec::new();
        }
        let job = self.tasks.get(task_id).map(|t| t.job.clone());
        let mut effects = self.transition(task_id, report.state, &report.message, now_ms);
        // An update of the job moves on at once: the next kill or replacement need not wait
        // for the housekeeping tick.
        if let Some(update) = job.and_then(|job| self.active_updates.get(&job).copied()) {
            effects.extend(self.drive_update(update, now_ms));
        }
        effects
    }

    /// Moves a task to `next` if Aurora allows it, recording the event and acting on it:
    /// killing what must stop, rescheduling what must run again.
    pub(crate) fn transition(&mut self, id: &TaskId, next: TaskState, message: &str, now_ms: u64) -> Vec<Effect> {
        let Some(previous) = self.tasks.get(id).map(|t| t.state) else { return Vec::new() };
        if !previous.can_transition_to(next) {
            self.illegal_transitions += 1;
            return Vec::new();
        }
        // A task leaving an agent frees room there; a task becoming PENDING wants a place.
        self.placement_wanted |= next == TaskState::Pending || (previous.is_on_agent() && !next.is_on_agent());
        self.pending_reasons.remove(id);
        let Some(task) = self.tasks.get_mut(id) else { return Vec::new() };
        self.cron_clocks.touch(&task.job);
        task.state = next;
        task.events.push(TaskEvent { at_ms: now_ms, state: next, message: message.to_owned() });
        let task = task.clone();
        let detail = EventDetail::Task {
            task: id.clone(),
            instance: task.instance,
            previous,
            state: next,
            message: message.to_owned(),
            host: task.assignment.as_ref().map(|a| a.hostname.clone()),
        };
        self.record_event(&task.job, now_ms, detail);
        let mut effects = self.framework_update(&task, task.events.len() - 1);
        if is_being_killed(next)
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
        if previous == TaskState::Partitioned && is_being_killed(next) {
            // Its agent cannot be told: LOST at once (rescheduled unless it was killed), as
            // Aurora's TRANSITION_TO_LOST. An agent that comes back with it is told to kill it.
            effects.extend(self.transition(id, TaskState::Lost, "Its agent is unreachable", now_ms));
        }
        effects
    }

    fn maybe_reschedule(&mut self, task: &ScheduledTask, previous: TaskState, now_ms: u64) {
        if previous == TaskState::Killing {
            return;
        }
        let Some(job) = self.jobs.get(&task.job) else { return };
        if task.instance >= job.instances {
            return;
        }
        let config = &task.config;
        let mut failure_count = task.failure_count;
        let reschedule = match task.state {
            TaskState::Finished => config.service,
            TaskState::Failed => {
                failure_count += 1;
                config.service
                    || config.max_task_failures == -1
                    || failure_count < config.max_task_failures.max(0) as u32
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
        let lineage = Lineage { failure_count, ancestor: Some(task.id.clone()), delay_ms, message: None };
        self.add_task(&task.job, &task.config, task.instance, lineage, now_ms);
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
}

/// The fields a job may set that the scheduler does not act on yet: refused, never accepted
/// and ignored.
pub(crate) fn not_yet_supported(spec: &JobSpec) -> Vec<String> {
    let refusal = |field: &str, why: &str| format!("{field} is not supported yet: {why}; remove it from the job");
    let mut problems = Vec::new();
    if spec.config.sla_policy.is_some() {
        problems.push(refusal("sla_policy", "drains and updates do not consult SLA policies"));
    }
    if spec.config.container.is_some() {
        problems.push(refusal("container", "tasks run in their sandbox on the host, without a container image"));
    }
    if spec.config.custom_executor.is_some() {
        problems.push(
            "custom_executor is for frameworks' tasks (FrameworkService); a job's tasks run under Atoll's executor; remove it from the job"
                .to_owned(),
        );
    }
    problems
}

/// A task state change as an agent reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusReport {
    pub state: TaskState,
    pub message: String,
    pub exit_code: Option<i32>,
    pub sandbox: Option<String>,
}

/// Where a new task comes from: a new instance, or the next run of one.
pub(crate) struct Lineage {
    /// Failed runs of the instance before this one.
    pub(crate) failure_count: u32,
    /// The run this one replaces.
    pub(crate) ancestor: Option<TaskId>,
    /// How long the task is THROTTLED before it may be placed.
    pub(crate) delay_ms: u64,
    /// Its first event's message, when not the usual "Created" or "Rescheduled".
    pub(crate) message: Option<String>,
}

impl Lineage {
    /// A new instance's first run.
    pub(crate) fn first() -> Lineage {
        Lineage { failure_count: 0, ancestor: None, delay_ms: 0, message: None }
    }
}

/// Whether a task has been told to stop: killed, preempted, restarted or drained.
pub(crate) fn is_being_killed(state: TaskState) -> bool {
    matches!(state, TaskState::Killing | TaskState::Preempting | TaskState::Restarting | TaskState::Draining)
}

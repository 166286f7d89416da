//! Cron jobs: a template in `jobs` (a job with a `cron_schedule`) and its [`CronJob`] record:
//! the schedule's zone and starting deadline as resolved when it was scheduled, the last fire
//! time handled, and the runs kept. Each tick fires what is due, by the missed-run rule of
//! `atoll_cron::Schedule::due`, and follows the runs. A run is one task per instance of the
//! template's config; the collision policy decides what a fire does while a run is active.
//!
//! The fire times handled are durable, so a scheduler that restarts neither fires a time twice
//! nor forgets one: a time that came while it was down is run once if it is within the job's
//! starting deadline, and recorded as missed if not.

use std::collections::{BTreeMap, BTreeSet};

use atoll_cron::{Due, Schedule};
use atoll_model::config::CronCollisionPolicy;
use atoll_model::event::{EventDetail, JobChange};
use atoll_model::{JobKey, JobSpec, TaskState};
use serde::{Deserialize, Serialize};

use crate::lifecycle::{Lineage, not_yet_supported};
use crate::{ClusterState, Effect, Outcome, StateError};

/// A scheduled cron job's own record, beside its template in `jobs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CronJob {
    pub job: JobKey,
    /// The IANA zone its schedule is read in: the job's own, or the scheduler's default when
    /// it was scheduled.
    pub zone: String,
    /// How late a missed fire time may still start a run.
    pub starting_deadline_ms: u64,
    pub scheduled_at_ms: u64,
    /// Every fire time up to this one has been run, skipped or recorded as missed.
    pub handled_ms: u64,
    /// The runs kept, oldest first.
    pub runs: Vec<CronRun>,
}

/// One fire of a cron job, or one start by request, and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CronRun {
    /// The fire time it is for; none for a start by request.
    pub due_ms: Option<u64>,
    /// When it was decided (started, skipped or found missed).
    pub at_ms: u64,
    pub state: CronRunState,
    pub message: String,
}

pub use atoll_model::cron::CronRunState;

/// What `cron schedule` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduled {
    Created,
    Replaced,
}

/// A cron job as `cron show` presents it.
#[derive(Clone, Debug, PartialEq)]
pub struct CronView {
    pub template: JobSpec,
    pub record: CronJob,
    /// The next fire times, after now.
    pub next_ms: Vec<u64>,
}

/// What cron keeps in memory only, rebuilt on start: each job's parsed schedule, the jobs in
/// the order of their next fire time, and the jobs whose tasks changed since the last tick.
/// A tick looks only at the jobs due and the jobs touched, so its cost does not grow with the
/// schedules that have nothing to do.
#[derive(Clone, Debug, Default)]
pub(crate) struct CronClocks {
    schedules: BTreeMap<JobKey, (Schedule, Option<u64>)>,
    due: BTreeSet<(u64, JobKey)>,
    touched: BTreeSet<JobKey>,
}

impl CronClocks {
    /// Sets `job`'s schedule, whose fire times up to `handled_ms` have been dealt with.
    pub(crate) fn set(&mut self, job: &JobKey, schedule: Schedule, handled_ms: u64) {
        self.remove(job);
        self.schedules.insert(job.clone(), (schedule, None));
        self.handled(job, handled_ms);
        // A job restored or replaced is looked at once: its runs may have ended meanwhile.
        self.touched.insert(job.clone());
    }

    fn remove(&mut self, job: &JobKey) {
        if let Some((_, Some(next))) = self.schedules.remove(job) {
            self.due.remove(&(next, job.clone()));
        }
    }

    /// Records that `job`'s fire times up to `handled_ms` have been dealt with.
    fn handled(&mut self, job: &JobKey, handled_ms: u64) {
        let Some((schedule, next)) = self.schedules.get_mut(job) else { return };
        if let Some(old) = next.take() {
            self.due.remove(&(old, job.clone()));
        }
        *next = schedule.next_after(handled_ms);
        if let Some(next) = *next {
            self.due.insert((next, job.clone()));
        }
    }

    fn schedule(&self, job: &JobKey) -> Option<&Schedule> {
        self.schedules.get(job).map(|(schedule, _)| schedule)
    }

    /// Notes that a task of `job` changed state.
    pub(crate) fn touch(&mut self, job: &JobKey) {
        if self.schedules.contains_key(job) {
            self.touched.insert(job.clone());
        }
    }

    /// The jobs a tick must look at: those touched and those whose next fire time has come.
    fn take_work(&mut self, now_ms: u64) -> BTreeSet<JobKey> {
        let mut jobs = std::mem::take(&mut self.touched);
        jobs.extend(self.due.iter().take_while(|(next, _)| *next <= now_ms).map(|(_, job)| job.clone()));
        jobs
    }
}

/// How many fire times `cron show` predicts.
const PREDICTED_FIRES: usize = 5;

impl ClusterState {
    /// Creates or replaces the template of a cron job; starts nothing.
    pub fn schedule_cron(&mut self, spec: JobSpec, now_ms: u64) -> Result<(Scheduled, Outcome), StateError> {
        if spec.key.cluster != self.config.cluster {
            return Err(StateError::WrongCluster { job: Box::new(spec.key), cluster: self.config.cluster.clone() });
        }
        let Some(expression) = spec.cron_schedule.clone() else {
            return Err(StateError::NotACronJob(Box::new(spec.key)));
        };
        let replacing = self.cron.get(&spec.key).cloned();
        if replacing.is_none() && self.jobs.contains_key(&spec.key) {
            return Err(StateError::JobExists(Box::new(spec.key)));
        }
        let mut problems = spec.validate();
        problems.extend(not_yet_supported(&spec));
        let zone = spec.cron_timezone.clone().unwrap_or_else(|| self.config.cron_default_zone.clone());
        let schedule = Schedule::parse(&expression, &zone);
        if let Err(error) = &schedule {
            problems.push(error.to_string());
        }
        let schedule = match schedule {
            Ok(schedule) if problems.is_empty() => schedule,
            _ => return Err(StateError::InvalidJob { job: Box::new(spec.key), problems }),
        };
        self.check_quota(&spec.key, &spec.config, spec.instances)?;
        let starting_deadline_ms =
            spec.cron_starting_deadline_secs.map_or(self.config.cron_starting_deadline_ms, |s| s.saturating_mul(1000));
        let scheduled = if replacing.is_some() { Scheduled::Replaced } else { Scheduled::Created };
        let record = match replacing {
            // A new schedule owes nothing for the times before it was given.
            Some(old) => CronJob {
                zone: schedule.zone().to_owned(),
                starting_deadline_ms,
                handled_ms: old.handled_ms.max(now_ms),
                ..old
            },
            None => CronJob {
                job: spec.key.clone(),
                zone: schedule.zone().to_owned(),
                starting_deadline_ms,
                scheduled_at_ms: now_ms,
                handled_ms: now_ms,
                runs: Vec::new(),
            },
        };
        self.cron_clocks.set(&spec.key, schedule, record.handled_ms);
        let message = format!("{expression} in {}", record.zone);
        self.record_event(&spec.key, now_ms, EventDetail::Job { change: JobChange::CronScheduled, message });
        self.cron.insert(spec.key.clone(), record);
        self.jobs.insert(spec.key.clone(), spec);
        Ok((scheduled, self.outcome(Vec::new())))
    }

    /// Removes a cron job's template and record. A run that is active goes on, as in Aurora;
    /// `kill` ends it.
    pub fn deschedule_cron(&mut self, job: &JobKey, now_ms: u64) -> Result<Outcome, StateError> {
        if self.cron.remove(job).is_none() {
            return Err(StateError::CronJobNotFound(Box::new(job.clone())));
        }
        self.cron_clocks.remove(job);
        self.jobs.remove(job);
        let message = "Descheduled by request".to_owned();
        self.record_event(job, now_ms, EventDetail::Job { change: JobChange::CronDescheduled, message });
        Ok(self.outcome(Vec::new()))
    }

    /// Starts a run of a cron job now, as a fire would, under its collision policy.
    pub fn start_cron(&mut self, job: &JobKey, now_ms: u64) -> Result<(CronRunState, Outcome), StateError> {
        if !self.cron.contains_key(job) {
            return Err(StateError::CronJobNotFound(Box::new(job.clone())));
        }
        let (state, effects) = self.fire(job, None, now_ms, "Started by request");
        Ok((state, self.outcome(effects)))
    }

    /// A cron job's template, record and next fire times.
    pub fn cron_job(&self, job: &JobKey, now_ms: u64) -> Option<CronView> {
        let record = self.cron.get(job)?;
        let next_ms = self.cron_clocks.schedule(job).map(|s| s.upcoming(now_ms, PREDICTED_FIRES)).unwrap_or_default();
        Some(CronView { template: self.jobs.get(job)?.clone(), record: record.clone(), next_ms })
    }

    /// Whether `job` is a scheduled cron job.
    pub fn is_cron_job(&self, job: &JobKey) -> bool {
        self.cron.contains_key(job)
    }

    /// Fires every cron job whose time has come, and follows the open runs. Part of `tick`.
    pub(crate) fn advance_cron(&mut self, now_ms: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        for job in self.cron_clocks.take_work(now_ms) {
            self.follow_runs(&job, now_ms);
            let (Some(schedule), Some(record)) = (self.cron_clocks.schedule(&job), self.cron.get(&job)) else {
                continue;
            };
            let (at_ms, missed_before, fires, message) =
                match schedule.due(record.handled_ms, now_ms, record.starting_deadline_ms) {
                    Due::Nothing => continue,
                    Due::Fire { at_ms, missed_before } => {
                        (at_ms, missed_before, true, format!("Fired for {}", schedule.format(at_ms)))
                    }
                    Due::TooLate { at_ms, missed_before } => (
                        at_ms,
                        missed_before,
                        false,
                        format!(
                            "Missed: due at {}, more than the starting deadline ({} s) ago",
                            schedule.format(at_ms),
                            record.starting_deadline_ms / 1000
                        ),
                    ),
                };
            self.record_missed(&job, missed_before, now_ms);
            self.with_cron(&job, |r| r.handled_ms = at_ms);
            self.cron_clocks.handled(&job, at_ms);
            if fires {
                let (_, fired) = self.fire(&job, Some(at_ms), now_ms, &message);
                effects.extend(fired);
            } else {
                let run = CronRun { due_ms: Some(at_ms), at_ms: now_ms, state: CronRunState::Missed, message };
                self.push_run(&job, run);
            }
        }
        effects
    }

    fn record_missed(&mut self, job: &JobKey, count: u32, now_ms: u64) {
        if count == 0 {
            return;
        }
        let at_least = if count >= atoll_cron::MISSED_COUNT_LIMIT { "at least " } else { "" };
        let message = format!("Missed {at_least}{count} earlier fire time(s) while the scheduler was down");
        self.push_run(job, CronRun { due_ms: None, at_ms: now_ms, state: CronRunState::Missed, message });
    }

    /// One fire of `job`: a run now, or what its collision policy says while one is active.
    fn fire(&mut self, job: &JobKey, due_ms: Option<u64>, now_ms: u64, message: &str) -> (CronRunState, Vec<Effect>) {
        let Some(policy) = self.jobs.get(job).map(|j| j.cron_collision_policy) else {
            return (CronRunState::Skipped, Vec::new());
        };
        if !self.has_active_tasks(job) {
            self.start_run(job, due_ms, now_ms, message);
            return (CronRunState::Running, Vec::new());
        }
        // A run still waits on an earlier one: this fire takes its place.
        self.with_cron(job, |record| {
            for run in record.runs.iter_mut().filter(|r| r.state == CronRunState::Waiting) {
                run.state = CronRunState::Skipped;
                run.message = format!("{}; replaced by a later fire while waiting", run.message);
            }
        });
        match policy {
            CronCollisionPolicy::CancelNew | CronCollisionPolicy::RunOverlap => {
                let message = format!("{message}; skipped: the previous run is still active (CANCEL_NEW)");
                self.push_run(job, CronRun { due_ms, at_ms: now_ms, state: CronRunState::Skipped, message });
                (CronRunState::Skipped, Vec::new())
            }
            CronCollisionPolicy::KillExisting => {
                let effects = self.kill_active(job, "Killed for the next cron run (KILL_EXISTING)", now_ms);
                let message = format!("{message}; waiting for the previous run to be killed (KILL_EXISTING)");
                self.push_run(job, CronRun { due_ms, at_ms: now_ms, state: CronRunState::Waiting, message });
                (CronRunState::Waiting, effects)
            }
        }
    }

    /// Once nothing of `job` is active: closes the runs that were running, with how they
    /// went, and starts the run that was waiting for them.
    fn follow_runs(&mut self, job: &JobKey, now_ms: u64) {
        let Some(record) = self.cron.get(job) else { return };
        if !record.runs.iter().any(|run| run.state.is_open()) || self.has_active_tasks(job) {
            return;
        }
        let ended = self.run_outcome(job);
        let waiting = record.runs.iter().any(|run| run.state == CronRunState::Waiting);
        if waiting {
            self.launch_run(job, now_ms);
        }
        self.with_cron(job, |record| {
            for run in record.runs.iter_mut().filter(|run| run.state.is_open()) {
                run.state = if run.state == CronRunState::Waiting { CronRunState::Running } else { ended };
                run.at_ms = now_ms;
            }
        });
    }

    /// Creates one PENDING task per instance of the template's config.
    fn launch_run(&mut self, job: &JobKey, now_ms: u64) {
        let Some(template) = self.jobs.get(job) else { return };
        let (instances, config) = (template.instances, template.config.clone());
        let version = self.intern(config);
        for instance in 0..instances {
            let lineage = Lineage { message: Some("Created by cron".to_owned()), ..Lineage::first() };
            self.add_task(job, &version, instance, lineage, now_ms);
        }
    }

    fn start_run(&mut self, job: &JobKey, due_ms: Option<u64>, now_ms: u64, message: &str) {
        self.launch_run(job, now_ms);
        let run = CronRun { due_ms, at_ms: now_ms, state: CronRunState::Running, message: message.to_owned() };
        self.push_run(job, run);
    }

    /// How a run whose tasks have all ended went, from each instance's newest task.
    fn run_outcome(&self, job: &JobKey) -> CronRunState {
        let newest = self.job_tasks(job, false);
        if newest.iter().any(|t| t.state == TaskState::Killed) {
            CronRunState::Killed
        } else if newest.iter().all(|t| t.state == TaskState::Finished) {
            CronRunState::Finished
        } else {
            CronRunState::Failed
        }
    }

    fn has_active_tasks(&self, job: &JobKey) -> bool {
        self.job_tasks(job, false).iter().any(|t| t.state.is_active())
    }

    /// Appends a run, dropping the oldest beyond the number kept.
    fn push_run(&mut self, job: &JobKey, run: CronRun) {
        let kept = self.config.cron_runs_kept;
        self.with_cron(job, |record| {
            record.runs.push(run);
            let excess = record.runs.len().saturating_sub(kept);
            record.runs.drain(..excess);
        });
    }

    /// Changes `job`'s record; each run the change adds or moves to another state is an event.
    fn with_cron<T>(&mut self, job: &JobKey, change: impl FnOnce(&mut CronJob) -> T) -> Option<T> {
        let record = self.cron.get_mut(job)?;
        // Runs are few (`cron_runs_kept`): a list is enough.
        let before: Vec<(Option<u64>, u64, CronRunState)> =
            record.runs.iter().map(|run| (run.due_ms, run.at_ms, run.state)).collect();
        let result = change(record);
        let changed: Vec<CronRun> =
            record.runs.iter().filter(|run| !before.contains(&(run.due_ms, run.at_ms, run.state))).cloned().collect();
        for run in changed {
            self.record_event(job, run.at_ms, EventDetail::Cron { state: run.state, message: run.message });
        }
        Some(result)
    }
}

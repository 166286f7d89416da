//! The fan-out as a framework: the [`Scheduler`] callbacks that launch waiting shards on the
//! offers that come (spread over agents), read a finished shard's result from its stdout
//! through the scheduler's LogService, launch a failed or lost shard again while it has
//! attempts left, and stop (tearing the framework down) once every shard is done or one has
//! run out of attempts.

use std::time::Duration;

use atoll_framework::v1::{LogStream, Offer, TaskState, TaskUpdate};
use atoll_framework::{OfferPacker, Scheduler, SchedulerDriver, TaskRequest};

use crate::shards::{AfterFailure, Plan, Progress, parse_result};

/// How long offers are hidden once declined with no shard waiting (a revive clears it).
const IDLE_REFUSAL: Duration = Duration::from_secs(300);

/// How long an offer too small for any waiting shard is hidden.
const TOO_SMALL_REFUSAL: Duration = Duration::from_secs(30);

/// The fan-out's scheduler.
pub struct Fanout {
    pub plan: Plan,
    pub progress: Progress,
    /// Why the fan-out gave up, once it has.
    pub failure: Option<String>,
}

impl Fanout {
    pub fn new(plan: Plan) -> Fanout {
        let progress = Progress::new(&plan);
        Fanout { plan, progress, failure: None }
    }

    /// The current attempt `task_id` failed for `reason`: launch it again or give up.
    async fn attempt_failed(&mut self, driver: &mut SchedulerDriver, task_id: &str, reason: &str) {
        let placed = self.progress.placement_of(task_id).unwrap_or("an unknown agent").to_owned();
        match self.progress.failed(task_id) {
            AfterFailure::NotCurrent => {}
            AfterFailure::Retry { shard, next_attempt } => {
                tracing::warn!(
                    "shard {shard}: {task_id} failed on {placed}: {reason}; launching attempt {next_attempt} of {}",
                    self.plan.max_attempts
                );
                if driver.is_suppressed()
                    && let Err(error) = driver.revive().await
                {
                    tracing::warn!("could not revive offers: {error}");
                }
            }
            AfterFailure::GaveUp { shard, attempts } => {
                self.failure = Some(format!(
                    "shard {shard} failed all {attempts} attempts; the last, {task_id} on {placed}: {reason}"
                ));
                driver.stop(false);
            }
        }
    }
}

/// A failed, killed or lost task's update in words.
fn describe(update: &TaskUpdate) -> String {
    let mut words = update.state().as_str_name().trim_start_matches("TASK_STATE_").to_owned();
    if let Some(code) = update.exit_code {
        words.push_str(&format!(" with exit code {code}"));
    }
    if !update.message.is_empty() {
        words.push_str(&format!(" ({})", update.message));
    }
    words
}

impl Scheduler for Fanout {
    async fn registered(&mut self, _driver: &mut SchedulerDriver, framework_id: &str) {
        tracing::info!("registered as framework {framework_id}; {} shards to run", self.plan.shards);
    }

    async fn reregistered(&mut self, driver: &mut SchedulerDriver, framework_id: &str) {
        tracing::info!("subscribed again as framework {framework_id}; reconciling its tasks");
        if let Err(error) = driver.reconcile(&[]).await {
            tracing::warn!("could not reconcile: {error}");
        }
    }

    async fn disconnected(&mut self, _driver: &mut SchedulerDriver) {
        tracing::warn!("lost the scheduler; subscribing again (running shards carry on)");
    }

    async fn resource_offers(&mut self, driver: &mut SchedulerDriver, offers: Vec<Offer>) {
        let waiting = self.progress.waiting();
        if waiting.is_empty() {
            let ids: Vec<String> = offers.into_iter().map(|o| o.id).collect();
            if let Err(error) = driver.decline(&ids, Some(IDLE_REFUSAL)).await {
                tracing::warn!("could not decline offers: {error}");
            }
            if !driver.is_suppressed()
                && let Err(error) = driver.suppress().await
            {
                tracing::warn!("could not suppress offers: {error}");
            }
            return;
        }
        let requests = waiting
            .iter()
            .map(|&(shard, attempt)| {
                TaskRequest::new(Plan::task_id(shard, attempt), self.plan.command(shard, attempt), self.plan.resources)
            })
            .collect();
        let packing = OfferPacker::spread().pack(&offers, requests);
        let unused = packing.unused_offer_ids();
        for placement in packing.placements.into_iter().filter(|p| !p.tasks.is_empty()) {
            let task_ids: Vec<String> = placement.tasks.iter().map(|t| t.task_id.clone()).collect();
            let placed = format!("agent {} ({})", placement.agent_id, placement.hostname);
            match driver.launch(std::slice::from_ref(&placement.offer_id), placement.tasks, None).await {
                Ok(_) => {
                    for task_id in task_ids {
                        let Some(&(shard, attempt)) =
                            waiting.iter().find(|(shard, attempt)| Plan::task_id(*shard, *attempt) == task_id)
                        else {
                            continue;
                        };
                        tracing::info!("shard {shard}: launched {task_id} on {placed}");
                        self.progress.launched(shard, attempt, task_id, placed.clone());
                    }
                }
                Err(error) => {
                    tracing::warn!("could not launch on {placed} (its shards wait for another offer): {error}")
                }
            }
        }
        if !unused.is_empty()
            && let Err(error) = driver.decline(&unused, Some(TOO_SMALL_REFUSAL)).await
        {
            tracing::warn!("could not decline offers: {error}");
        }
    }

    async fn offer_rescinded(&mut self, _driver: &mut SchedulerDriver, offer_id: &str) {
        tracing::debug!("offer {offer_id} was rescinded");
    }

    async fn status_update(&mut self, driver: &mut SchedulerDriver, update: TaskUpdate) {
        let task_id = update.task_id.as_str();
        let Some(shard) = self.progress.shard_of(task_id) else {
            tracing::debug!("{task_id} is {:?}: no shard's current attempt", update.state());
            return;
        };
        match update.state() {
            TaskState::Finished => {
                let output = match &update.job {
                    Some(job) => driver
                        .task_log(job, update.instance, LogStream::Stdout)
                        .await
                        .map_err(|error| format!("its output could not be read: {error}")),
                    None => Err("the update names no job to read the output of".to_owned()),
                };
                match output.and_then(|bytes| parse_result(&String::from_utf8_lossy(&bytes))) {
                    Ok(primes) => {
                        tracing::info!("shard {shard}: {task_id} finished on {}: {primes} primes", update.hostname);
                        self.progress.finished(task_id, primes);
                    }
                    Err(reason) => self.attempt_failed(driver, task_id, &format!("finished, but {reason}")).await,
                }
            }
            TaskState::Failed | TaskState::Killed | TaskState::Lost => {
                self.attempt_failed(driver, task_id, &describe(&update)).await;
            }
            _ => {}
        }
        if self.progress.all_done() {
            tracing::info!("every shard is done; tearing the framework down");
            driver.stop(false);
        }
    }

    async fn agent_lost(&mut self, _driver: &mut SchedulerDriver, agent_id: &str, hostname: &str) {
        tracing::warn!("agent {agent_id} ({hostname}) was lost; its shards will come back LOST and run again");
    }

    async fn error(&mut self, _driver: &mut SchedulerDriver, message: &str) {
        tracing::error!("the scheduler ended the framework: {message}");
    }
}

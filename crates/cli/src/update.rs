//! `atoll update …`: Aurora's rolling updates. Start one from a job file, steer it (pause,
//! resume, abort, rollback, pulse), wait for it with a progress view, and read updates back
//! (`info`, `list`).

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use atoll_client::{ApiErrorKind, ClientError, SchedulerClient, UpdateCall};
use atoll_model::event::EventFilter;
use atoll_model::{JobKey, JobKeyPrefix, UpdateState};
use atoll_proto::{enum_name, v1};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::args::{Bindings, SchedulerTarget};
use crate::exit::{CliError, CliResult, ExitCode};
use crate::wakeups::Wakeups;
use crate::{job, jobfile, render};

/// How often waiting asks the scheduler for news when it has no event stream.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The longest the progress shown waits for an event before it is drawn again.
const PROGRESS_REFRESH: Duration = Duration::from_secs(1);

#[derive(Subcommand)]
pub enum UpdateCommand {
    /// Start a rolling update of a service to the job in FILE.
    ///
    /// Only instances whose config differs (or that the new instance count adds or removes) are
    /// touched, `batch_size` at a time as its update_config says; each must run healthy for
    /// `watch_secs`. Too many failures roll it back. Run `atoll job diff` and `atoll job plan`
    /// first to see what it would do.
    #[command(after_help = "Examples:\n  atoll update start devcluster/www-data/prod/web web.rhai --wait\n  \
        atoll update start devcluster/www-data/prod/web/0-1 web.rhai -m 'canary 1.2'   # two instances only")]
    Start {
        /// CLUSTER/ROLE/ENV/NAME[/INSTANCES], instances as ids and ranges: 0,2-3.
        job: String,
        /// The job file (Rhai) that defines the job.
        file: PathBuf,
        /// Wait until the update is over, showing its progress (exit 0 if it rolled forward, 4
        /// otherwise).
        #[arg(long)]
        wait: bool,
        /// Why, for the update's history.
        #[arg(short = 'm', long)]
        message: Option<String>,
        /// Give up waiting after this many seconds (exit 9); the update carries on.
        #[arg(long, default_value_t = 3600)]
        wait_timeout_secs: u64,
        #[command(flatten)]
        bindings: Bindings,
    },
    /// Pause the job's update: no more instances start (those under way are finished).
    #[command(after_help = "Example:\n  atoll update pause devcluster/www-data/prod/web -m 'checking metrics'")]
    Pause {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        #[arg(short = 'm', long)]
        message: Option<String>,
    },
    /// Resume a paused update.
    #[command(after_help = "Example:\n  atoll update resume devcluster/www-data/prod/web")]
    Resume {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        #[arg(short = 'm', long)]
        message: Option<String>,
    },
    /// Abort the job's update where it stands.
    ///
    /// Updated instances keep the new config, the rest the old; the update ends ABORTED.
    #[command(after_help = "Example:\n  atoll update abort devcluster/www-data/prod/web")]
    Abort {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        #[arg(short = 'm', long)]
        message: Option<String>,
    },
    /// Roll the job's update back.
    ///
    /// Every instance it touched gets its previous config, in reverse order.
    #[command(after_help = "Example:\n  atoll update rollback devcluster/www-data/prod/web --wait")]
    Rollback {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        #[arg(short = 'm', long)]
        message: Option<String>,
        /// Wait until the rollback is over (exit 0 if ROLLED_BACK, 4 otherwise).
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds (exit 9); the rollback carries on.
        #[arg(long, default_value_t = 3600)]
        wait_timeout_secs: u64,
    },
    /// Pulse a pulsed update, which then goes on for another interval.
    ///
    /// A pulsed update (update_config.pulse_interval_secs) waits for a pulse before it starts,
    /// and again whenever none came within the interval.
    #[command(after_help = "Example:\n  atoll update pulse devcluster/www-data/prod/web")]
    Pulse {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
    },
    /// Wait for an update to end, showing its progress.
    ///
    /// The job's newest update without ID. Exits 0 if it rolled forward, 4 if it ended
    /// otherwise (rolled back, aborted, failed).
    #[command(after_help = "Example:\n  atoll update wait devcluster/www-data/prod/web 3")]
    Wait {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        /// The update's id; the job's newest without it.
        id: Option<u64>,
        /// Give up waiting after this many seconds (exit 9); the update carries on.
        #[arg(long, default_value_t = 3600)]
        wait_timeout_secs: u64,
    },
    /// Show an update: its state and history, and each instance's progress and actions.
    ///
    /// The job's newest update without ID. Times are UTC.
    #[command(after_help = "Example:\n  atoll update info devcluster/www-data/prod/web --json")]
    Info {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        /// The update's id; the job's newest without it.
        id: Option<u64>,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the updates of a cluster, role, environment or job, newest first.
    #[command(after_help = "Examples:\n  atoll update list devcluster\n  \
        atoll update list devcluster/www-data/prod/web --status active\n\n\
        --status takes a state (ROLLING_FORWARD, ROLLED_BACK, …) or a group: active, blocked \
        (awaiting a pulse), paused, succeeded, failed (rolled back, failed or error), inactive, all.")]
    List {
        /// CLUSTER[/ROLE[/ENV[/NAME]]].
        prefix: String,
        /// Only updates in this state or group (repeatable).
        #[arg(long)]
        status: Vec<String>,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: UpdateCommand, target: &SchedulerTarget) -> CliResult {
    match command {
        UpdateCommand::Start { job, file, wait, message, wait_timeout_secs, bindings } => {
            let (key, scope) = job::parse_scope(&job)?;
            let spec = jobfile::job(&file, &bindings, &key)?;
            let client = job::connect(target, &key.cluster).await?;
            let started = client.start_update(&spec, scope.as_ref(), message.as_deref()).await.map_err(refusal)?;
            if started.unchanged {
                println!("Job is unchanged by proposed update.");
                return Ok(());
            }
            let id = started.update_id;
            if !wait {
                println!(
                    "Update {id} of {key} started: {} instance(s) to update. Follow it with: atoll update wait {key} {id}",
                    started.instances.len()
                );
                return Ok(());
            }
            eprintln!("Update {id} of {key} started: {} instance(s) to update.", started.instances.len());
            finish(follow(&client, &key, id, Duration::from_secs(wait_timeout_secs)).await?, UpdateState::RolledForward)
        }
        UpdateCommand::Pause { job, message } => act(&job, UpdateCall::Pause, message, target).await,
        UpdateCommand::Resume { job, message } => act(&job, UpdateCall::Resume, message, target).await,
        UpdateCommand::Abort { job, message } => act(&job, UpdateCall::Abort, message, target).await,
        UpdateCommand::Pulse { job } => act(&job, UpdateCall::Pulse, None, target).await,
        UpdateCommand::Rollback { job, message, wait, wait_timeout_secs } => {
            act(&job, UpdateCall::Rollback, message, target).await?;
            if wait {
                let key: JobKey = job.parse()?;
                let client = job::connect(target, &key.cluster).await?;
                let id = client.job_update(&key, None).await?.id;
                let timeout = Duration::from_secs(wait_timeout_secs);
                return finish(follow(&client, &key, id, timeout).await?, UpdateState::RolledBack);
            }
            Ok(())
        }
        UpdateCommand::Wait { job, id, wait_timeout_secs } => {
            let key: JobKey = job.parse()?;
            let client = job::connect(target, &key.cluster).await?;
            let id = match id {
                Some(id) => id,
                None => client.job_update(&key, None).await.map_err(refusal)?.id,
            };
            finish(follow(&client, &key, id, Duration::from_secs(wait_timeout_secs)).await?, UpdateState::RolledForward)
        }
        UpdateCommand::Info { job, id, json } => {
            let key: JobKey = job.parse()?;
            let client = job::connect(target, &key.cluster).await?;
            let update = client.job_update(&key, id).await.map_err(refusal)?;
            if json {
                println!("{}", info_json(&update));
            } else {
                println!("{}", info_text(&update));
            }
            Ok(())
        }
        UpdateCommand::List { prefix, status, json } => {
            let (prefix, name) = parse_list_prefix(&prefix)?;
            let states = status_filter(&status)?;
            let client = job::connect(target, &prefix.cluster).await?;
            let updates = client.list_updates(&prefix, name.as_deref(), &states).await?;
            if json {
                println!("{}", json!({ "updates": updates.iter().map(summary_json).collect::<Vec<_>>() }));
            } else {
                println!("{}", list_table(&updates));
            }
            Ok(())
        }
    }
}

/// What the scheduler refused: a config problem (INVALID_ARGUMENT, exit 3), a job or update it
/// does not have (NOT_FOUND, 10), or something it will not do now (exit 4).
fn refusal(e: ClientError) -> CliError {
    match e {
        ClientError::Api { kind: ApiErrorKind::InvalidArgument, message } => {
            CliError::new(ExitCode::InvalidConfig, message)
        }
        ClientError::Api { kind: ApiErrorKind::FailedPrecondition | ApiErrorKind::ResourceExhausted, message } => {
            CliError::failed(message)
        }
        other => CliError::from(other),
    }
}

async fn act(job: &str, call: UpdateCall, message: Option<String>, target: &SchedulerTarget) -> CliResult {
    let key: JobKey = job.parse()?;
    let client = job::connect(target, &key.cluster).await?;
    let done = client.update_call(&key, call, message.as_deref()).await.map_err(refusal)?;
    let state = state_text(done.state);
    let verb = match call {
        UpdateCall::Pause => "paused",
        UpdateCall::Resume => "resumed",
        UpdateCall::Abort => "aborted",
        UpdateCall::Rollback => "rolling back",
        UpdateCall::Pulse => "pulsed",
    };
    println!("Update {} of {key} {verb}: {state}. See it with: atoll update info {key}", done.update_id);
    Ok(())
}

/// The update's end as an exit: 0 when it ended `wanted`, 4 otherwise.
fn finish(update: v1::JobUpdate, wanted: UpdateState) -> CliResult {
    let key = render::key_text(update.job.as_ref());
    let state = atoll_proto::update_state(update.state).ok();
    let took = Duration::from_millis(update.updated_ms.saturating_sub(update.created_ms));
    let last = update.events.last().map(|e| e.message.clone()).unwrap_or_default();
    if state == Some(wanted) {
        let done = update.instances.len();
        println!(
            "Update {} of {key} {}: {done} instance(s) in {:.1} s.",
            update.id,
            state_text(update.state),
            took.as_secs_f64()
        );
        return Ok(());
    }
    Err(CliError::failed(format!(
        "update {} of {key} ended {}: {last}; see `atoll update info {key} {}`",
        update.id,
        state_text(update.state),
        update.id
    )))
}

/// Waits for update `id` of `key` to end, drawing its progress on standard error: redrawn in
/// place on a terminal, a line per change otherwise.
async fn follow(client: &SchedulerClient, key: &JobKey, id: u64, timeout: Duration) -> CliResult<v1::JobUpdate> {
    let started = Instant::now();
    let mut wakeups = Wakeups::subscribe(client, &EventFilter::job(key), POLL_INTERVAL).await;
    let terminal = std::io::stderr().is_terminal();
    let mut drawn = 0;
    let mut last_line = String::new();
    loop {
        let update = client.job_update(key, Some(id)).await.map_err(refusal)?;
        let view = Progress::of(&update);
        let mut stderr = std::io::stderr().lock();
        if terminal {
            if drawn > 0 {
                // Up to the first line drawn, and clear to the end of the screen.
                let _ = write!(stderr, "\x1b[{drawn}F\x1b[J");
            }
            let lines = view.lines();
            for line in &lines {
                let _ = writeln!(stderr, "{line}");
            }
            drawn = lines.len();
        } else {
            let line = view.line();
            if line != last_line {
                let _ = writeln!(stderr, "{line}");
                last_line = line;
            }
        }
        drop(stderr);
        if atoll_proto::update_state(update.state).is_ok_and(UpdateState::is_terminal) {
            return Ok(update);
        }
        if started.elapsed() > timeout {
            return Err(CliError::new(
                ExitCode::Timeout,
                format!(
                    "timed out after {} s: update {id} of {key} is {}; it carries on (`atoll update wait {key} {id}`)",
                    timeout.as_secs(),
                    view.state
                ),
            ));
        }
        // After each event of the job (its tasks' and the update's), and at least every
        // second, since an instance succeeds once it has run `watch_secs`, which is no event.
        wakeups.next(PROGRESS_REFRESH).await;
    }
}

/// Where an update stands, counted for people.
#[derive(Clone, Debug, PartialEq)]
struct Progress {
    id: u64,
    job: String,
    state: String,
    batch: u32,
    batches: u32,
    done: usize,
    failed: usize,
    updating: usize,
    waiting: usize,
}

impl Progress {
    fn of(update: &v1::JobUpdate) -> Progress {
        let count =
            |progress: v1::InstanceProgress| update.instances.iter().filter(|i| i.progress == progress as i32).count();
        Progress {
            id: update.id,
            job: render::key_text(update.job.as_ref()),
            state: state_text(update.state),
            batch: update.batch,
            batches: update.batches,
            done: count(v1::InstanceProgress::Succeeded),
            failed: count(v1::InstanceProgress::Failed),
            updating: count(v1::InstanceProgress::Updating),
            waiting: count(v1::InstanceProgress::Waiting),
        }
    }

    fn counts(&self) -> String {
        let total = self.done + self.failed + self.updating + self.waiting;
        format!(
            "{}/{total} done, {} failed, {} updating, {} waiting",
            self.done, self.failed, self.updating, self.waiting
        )
    }

    /// The view on a terminal: a heading and a bar.
    fn lines(&self) -> Vec<String> {
        const WIDTH: usize = 30;
        let total = (self.done + self.failed + self.updating + self.waiting).max(1);
        let filled = (self.done + self.failed) * WIDTH / total;
        let bar = format!("{}{}", "#".repeat(filled), "-".repeat(WIDTH - filled));
        vec![
            format!("Update {} of {}: {}, batch {} of {}", self.id, self.job, self.state, self.batch, self.batches),
            format!("  [{bar}] {}", self.counts()),
        ]
    }

    /// The view when piped: one line.
    fn line(&self) -> String {
        format!("update {}: {} batch {}/{}: {}", self.id, self.state, self.batch, self.batches, self.counts())
    }
}

fn state_text(raw: i32) -> String {
    let wire = v1::JobUpdateState::try_from(raw).ok();
    enum_name(wire.map(|w| w.as_str_name()), "JOB_UPDATE_STATE_", raw)
}

fn action_text(raw: i32) -> String {
    let wire = v1::InstanceAction::try_from(raw).ok();
    enum_name(wire.map(|w| w.as_str_name()), "INSTANCE_ACTION_", raw)
}

fn progress_text(raw: i32) -> String {
    let wire = v1::InstanceProgress::try_from(raw).ok();
    enum_name(wire.map(|w| w.as_str_name()), "INSTANCE_PROGRESS_", raw)
}

fn short(config: &str) -> String {
    if config.is_empty() { "-".to_owned() } else { config.chars().take(atoll_model::version::SHORT_ID_LEN).collect() }
}

/// `update list`'s `CLUSTER[/ROLE[/ENV[/NAME]]]`: a prefix, and a job name if given.
fn parse_list_prefix(text: &str) -> Result<(JobKeyPrefix, Option<String>), CliError> {
    if let Ok(key) = text.parse::<JobKey>() {
        let prefix = format!("{}/{}/{}", key.cluster, key.role, key.environment).parse()?;
        return Ok((prefix, Some(key.name)));
    }
    Ok((text.parse()?, None))
}

/// The states `--status` names: states by name, or Aurora's groups of them.
fn status_filter(statuses: &[String]) -> Result<BTreeSet<UpdateState>, CliError> {
    let mut states = BTreeSet::new();
    for status in statuses {
        let all = UpdateState::ALL.into_iter();
        let group: Vec<UpdateState> = match status.to_ascii_lowercase().as_str() {
            "all" => all.collect(),
            "active" => all.filter(|s| !s.is_terminal()).collect(),
            "inactive" => all.filter(|s| s.is_terminal()).collect(),
            "blocked" => all.filter(|s| s.is_awaiting_pulse()).collect(),
            "paused" => all.filter(|s| s.is_paused()).collect(),
            "succeeded" => vec![UpdateState::RolledForward],
            "failed" => vec![UpdateState::RolledBack, UpdateState::Failed, UpdateState::Error],
            _ => vec![status.parse().map_err(|e: atoll_model::update::UnknownUpdateState| {
                CliError::invalid_parameter(format!(
                    "{e}; or a group: active, blocked, paused, succeeded, failed, inactive, all"
                ))
            })?],
        };
        states.extend(group);
    }
    Ok(states)
}

fn settings_text(settings: Option<&v1::UpdateConfig>) -> String {
    let Some(s) = settings else { return String::new() };
    let mut parts = vec![
        format!("batch_size {}", s.batch_size),
        format!("watch_secs {}", s.watch_secs),
        format!("max_per_shard_failures {}", s.max_per_shard_failures),
        format!("max_total_failures {}", s.max_total_failures),
        format!("rollback_on_failure {}", s.rollback_on_failure),
    ];
    if s.wait_for_batch_completion {
        parts.push("wait_for_batch_completion".to_owned());
    }
    if let Some(pulse) = s.pulse_interval_secs {
        parts.push(format!("pulse_interval_secs {pulse}"));
    }
    match &s.update_strategy {
        Some(v1::update_config::UpdateStrategy::Queue(q)) => {
            parts.push(format!("QueueUpdateStrategy({})", q.batch_size))
        }
        Some(v1::update_config::UpdateStrategy::Batch(b)) => parts.push(format!(
            "BatchUpdateStrategy({}{})",
            b.batch_size,
            if b.autopause_after_batch { ", autopause" } else { "" }
        )),
        Some(v1::update_config::UpdateStrategy::VariableBatch(v)) => parts.push(format!(
            "VariableBatchUpdateStrategy({:?}{})",
            v.batch_sizes,
            if v.autopause_after_batch { ", autopause" } else { "" }
        )),
        None => {}
    }
    parts.join(", ")
}

/// `update info` for people.
fn info_text(update: &v1::JobUpdate) -> String {
    let key = render::key_text(update.job.as_ref());
    let view = Progress::of(update);
    let mut lines = vec![
        format!("Update {} of {key}: {}", update.id, view.state),
        format!(
            "  Started {}, last change {}",
            render::time_text(update.created_ms),
            render::time_text(update.updated_ms)
        ),
        format!("  Progress: batch {} of {}, {}", view.batch, view.batches, view.counts()),
        format!("  Settings: {}", settings_text(update.settings.as_ref())),
    ];
    if !update.message.is_empty() {
        lines.push(format!("  Message: {}", update.message));
    }
    if let Some(pulse) = update.last_pulse_ms {
        lines.push(format!("  Last pulse: {}", render::time_text(pulse)));
    }
    lines.push(String::new());
    let history: Vec<Vec<String>> = update
        .events
        .iter()
        .map(|e| vec![render::time_text(e.at_ms), state_text(e.state), e.message.clone()])
        .collect();
    lines.push(render::table(&["TIME", "STATE", "MESSAGE"], &history));
    lines.push(String::new());
    let rows: Vec<Vec<String>> = update
        .instances
        .iter()
        .map(|i| {
            let actions: Vec<String> = i
                .events
                .iter()
                .map(|e| {
                    let action = action_text(e.action);
                    let action = action.strip_prefix("INSTANCE_").unwrap_or(&action).to_owned();
                    let why = if e.message.is_empty() { String::new() } else { format!(" ({})", e.message) };
                    format!("{action} {}{why}", render::clock_text(e.at_ms))
                })
                .collect();
            vec![
                i.instance.to_string(),
                progress_text(i.progress),
                i.failures.to_string(),
                short(&i.initial_config),
                short(&i.desired_config),
                actions.join(", "),
            ]
        })
        .collect();
    lines.push(render::table(&["INSTANCE", "PROGRESS", "FAILURES", "FROM", "TO", "ACTIONS"], &rows));
    lines.join("\n")
}

/// `update info --json`: the whole update, states and actions by name, times in milliseconds
/// and as UTC text.
fn info_json(update: &v1::JobUpdate) -> Value {
    let instances: Vec<Value> = update
        .instances
        .iter()
        .map(|i| {
            let events: Vec<Value> = i
                .events
                .iter()
                .map(|e| json!({ "at_ms": e.at_ms, "at": render::time_text(e.at_ms), "action": action_text(e.action), "message": e.message }))
                .collect();
            json!({
                "instance": i.instance,
                "progress": progress_text(i.progress),
                "failures": i.failures,
                "initial_config": render::non_empty(&i.initial_config),
                "desired_config": render::non_empty(&i.desired_config),
                "task_id": render::non_empty(&i.task_id),
                "events": events,
            })
        })
        .collect();
    let events: Vec<Value> = update
        .events
        .iter()
        .map(|e| json!({ "at_ms": e.at_ms, "at": render::time_text(e.at_ms), "state": state_text(e.state), "message": e.message }))
        .collect();
    json!({
        "id": update.id,
        "job": render::key_text(update.job.as_ref()),
        "state": state_text(update.state),
        "message": render::non_empty(&update.message),
        "created_ms": update.created_ms,
        "updated_ms": update.updated_ms,
        "batch": update.batch,
        "batches": update.batches,
        "last_pulse_ms": update.last_pulse_ms,
        "events": events,
        "instances": instances,
    })
}

fn summary_json(u: &v1::JobUpdateSummary) -> Value {
    json!({
        "id": u.id,
        "job": render::key_text(u.job.as_ref()),
        "state": state_text(u.state),
        "created_ms": u.created_ms,
        "updated_ms": u.updated_ms,
        "instances": u.instances,
        "succeeded": u.succeeded,
        "failed": u.failed,
        "message": render::non_empty(&u.message),
    })
}

fn list_table(updates: &[v1::JobUpdateSummary]) -> String {
    if updates.is_empty() {
        return "No updates.".to_owned();
    }
    let rows: Vec<Vec<String>> = updates
        .iter()
        .map(|u| {
            vec![
                u.id.to_string(),
                render::key_text(u.job.as_ref()),
                state_text(u.state),
                format!("{}/{} done, {} failed", u.succeeded, u.instances, u.failed),
                render::time_text(u.created_ms),
                render::time_text(u.updated_ms),
                u.message.clone(),
            ]
        })
        .collect();
    render::table(&["ID", "JOB", "STATE", "INSTANCES", "STARTED", "LAST CHANGE", "MESSAGE"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(progress: &[v1::InstanceProgress], state: v1::JobUpdateState) -> v1::JobUpdate {
        v1::JobUpdate {
            id: 3,
            job: Some(v1::JobKey {
                cluster: "devcluster".into(),
                role: "www-data".into(),
                environment: "prod".into(),
                name: "web".into(),
            }),
            state: state as i32,
            instances: progress
                .iter()
                .enumerate()
                .map(|(i, p)| v1::InstanceUpdate { instance: i as u32, progress: *p as i32, ..Default::default() })
                .collect(),
            batch: 2,
            batches: 3,
            ..Default::default()
        }
    }

    #[test]
    fn progress_counts_instances_and_draws_a_bar_or_a_line() {
        use v1::InstanceProgress::*;
        let view = Progress::of(&update(
            &[Succeeded, Succeeded, Failed, Updating, Waiting, Waiting],
            v1::JobUpdateState::RollingForward,
        ));
        assert_eq!(view.counts(), "2/6 done, 1 failed, 1 updating, 2 waiting");
        let lines = view.lines();
        assert_eq!(lines[0], "Update 3 of devcluster/www-data/prod/web: ROLLING_FORWARD, batch 2 of 3");
        assert_eq!(
            lines[1],
            format!("  [{}{}] 2/6 done, 1 failed, 1 updating, 2 waiting", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(view.line(), "update 3: ROLLING_FORWARD batch 2/3: 2/6 done, 1 failed, 1 updating, 2 waiting");
    }

    #[test]
    fn finishing_as_wanted_exits_0_and_otherwise_4() {
        let rolled = update(&[v1::InstanceProgress::Succeeded], v1::JobUpdateState::RolledForward);
        assert!(finish(rolled.clone(), UpdateState::RolledForward).is_ok());
        let err = finish(rolled, UpdateState::RolledBack).unwrap_err();
        assert_eq!(err.code, ExitCode::CommandFailed);
        let mut back = update(&[v1::InstanceProgress::Succeeded], v1::JobUpdateState::RolledBack);
        back.events.push(v1::JobUpdateEvent { at_ms: 1, state: back.state, message: "Done".into() });
        let err = finish(back, UpdateState::RolledForward).unwrap_err();
        assert!(
            err.message.contains("ended ROLLED_BACK: Done; see `atoll update info devcluster/www-data/prod/web 3`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn status_groups_are_auroras() {
        let failed = status_filter(&["failed".into()]).unwrap();
        assert_eq!(failed, BTreeSet::from([UpdateState::RolledBack, UpdateState::Failed, UpdateState::Error]));
        let active = status_filter(&["active".into()]).unwrap();
        assert_eq!(active.len(), 6);
        assert!(!active.contains(&UpdateState::Aborted));
        let one = status_filter(&["rolled_forward".into(), "blocked".into()]).unwrap();
        assert_eq!(one.len(), 3);
        let err = status_filter(&["done".into()]).unwrap_err();
        assert_eq!(err.code, ExitCode::InvalidParameter);
        assert!(
            err.message.contains("unknown update state 'done'") && err.message.contains("or a group"),
            "{}",
            err.message
        );
    }

    #[test]
    fn list_prefixes_go_down_to_a_job() {
        let (prefix, name) = parse_list_prefix("devcluster/www-data/prod/web").unwrap();
        assert_eq!((prefix.environment.as_deref(), name.as_deref()), (Some("prod"), Some("web")));
        let (prefix, name) = parse_list_prefix("devcluster").unwrap();
        assert_eq!((prefix.role, name), (None, None));
        assert_eq!(parse_list_prefix("a/b/c/d/e").unwrap_err().code, ExitCode::InvalidParameter);
    }
}

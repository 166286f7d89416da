//! `atoll cron …`: Aurora's cron verbs. `schedule` creates or replaces a cron job's template
//! from a job file, `deschedule` removes it, `start` runs it now, `show` presents its schedule,
//! runs and next fire times, and `next` predicts any schedule without a scheduler.

use std::path::PathBuf;

use atoll_client::{ApiErrorKind, ClientError};
use atoll_cron::Schedule;
use atoll_model::JobKey;
use atoll_proto::v1;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::args::{Bindings, SchedulerTarget};
use crate::exit::{CliError, CliResult, ExitCode};
use crate::{job, jobfile, render};

#[derive(Subcommand)]
pub enum CronCommand {
    /// Create or replace a cron job's template from the job in FILE; starts nothing.
    ///
    /// The job's `cron_schedule` (5-field crontab), read in its `cron_timezone` (or the
    /// scheduler's default zone), fires a run of every instance; `cron_collision_policy` says
    /// what a fire does while a run is still active (KILL_EXISTING or CANCEL_NEW). Replacing a
    /// template keeps the job's runs; an active run keeps the config it started with.
    #[command(
        after_help = "Example:\n  atoll cron schedule devcluster/www-data/prod/nightly-report examples/cron_batch.rhai\n\
        Check the schedule first with: atoll cron next '15 2 * * *' --timezone Europe/Paris"
    )]
    Schedule {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        /// The job file (Rhai) that defines the job.
        file: PathBuf,
        #[command(flatten)]
        bindings: Bindings,
    },
    /// Remove a cron job's template; a run that is active goes on (`atoll job killall` ends it).
    #[command(after_help = "Example:\n  atoll cron deschedule devcluster/www-data/prod/nightly-report")]
    Deschedule {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
    },
    /// Start a run of a cron job now, as its next fire would, under its collision policy.
    #[command(after_help = "Example:\n  atoll cron start devcluster/www-data/prod/nightly-report")]
    Start {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
    },
    /// Show a cron job: its schedule, time zone, collision policy, last runs and next fire times.
    #[command(after_help = "Example:\n  atoll cron show devcluster/www-data/prod/nightly-report")]
    Show {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the next fire times of a schedule, one RFC 3339 time a line; asks no scheduler.
    #[command(after_help = "Examples:\n  atoll cron next '*/15 9-17 * * mon-fri'\n  \
        atoll cron next '30 2 * * *' --timezone America/New_York --after 2026-03-07T00:00:00Z --count 3")]
    Next {
        /// A 5-field crontab schedule: minute hour day-of-month month day-of-week.
        expression: String,
        /// How many fire times to print.
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// Predict from this RFC 3339 time (default: now).
        #[arg(long, value_name = "RFC3339-TIME")]
        after: Option<String>,
        /// The IANA time zone the schedule is read in.
        #[arg(long, default_value = atoll_cron::DEFAULT_ZONE)]
        timezone: String,
        /// Print a JSON array of times.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: CronCommand, target: &SchedulerTarget) -> CliResult {
    match command {
        CronCommand::Schedule { job, file, bindings } => {
            let key: JobKey = job.parse()?;
            let spec = jobfile::job(&file, &bindings, &key)?;
            if spec.cron_schedule.is_none() {
                return Err(CliError::new(
                    ExitCode::InvalidConfig,
                    format!(
                        "{key} in {} has no cron_schedule; run it once with: atoll job create {key} {}",
                        file.display(),
                        file.display()
                    ),
                ));
            }
            let client = job::connect(target, &key.cluster).await?;
            let replaced = client.schedule_cron(&spec).await.map_err(refusal)?;
            let verb = if replaced { "replaced" } else { "scheduled" };
            println!("Cron job {key} {verb} from {}. See its next runs with: atoll cron show {key}", file.display());
            Ok(())
        }
        CronCommand::Deschedule { job } => {
            let key: JobKey = job.parse()?;
            job::connect(target, &key.cluster).await?.deschedule_cron(&key).await.map_err(refusal)?;
            println!("Cron job {key} descheduled. A run still active goes on; end it with: atoll job killall {key}");
            Ok(())
        }
        CronCommand::Start { job } => {
            let key: JobKey = job.parse()?;
            let state = job::connect(target, &key.cluster).await?.start_cron(&key).await.map_err(refusal)?;
            match state.as_str() {
                "RUNNING" => println!("Started a run of {key}. Watch it with: atoll job status {key}"),
                "WAITING" => println!(
                    "The active run of {key} is being killed (KILL_EXISTING); the new run starts once it is gone."
                ),
                _ => println!(
                    "A run of {key} is still active, so this one was skipped (CANCEL_NEW); see: atoll cron show {key}"
                ),
            }
            Ok(())
        }
        CronCommand::Show { job, json } => {
            let key: JobKey = job.parse()?;
            let shown = job::connect(target, &key.cluster).await?.cron_job(&key).await.map_err(refusal)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&show_json(&key, &shown)).expect("JSON of plain values"));
            } else {
                println!("{}", show_text(&key, &shown));
            }
            Ok(())
        }
        CronCommand::Next { expression, count, after, timezone, json } => {
            let schedule =
                Schedule::parse(&expression, &timezone).map_err(|e| CliError::invalid_parameter(e.to_string()))?;
            let after = match after {
                Some(text) => atoll_cron::parse_time(&text).map_err(CliError::invalid_parameter)?,
                None => now_ms(),
            };
            let times: Vec<String> = schedule.upcoming(after, count).into_iter().map(|t| schedule.format(t)).collect();
            if json {
                println!("{}", Value::from(times));
            } else {
                times.iter().for_each(|t| println!("{t}"));
            }
            Ok(())
        }
    }
}

fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

fn refusal(e: ClientError) -> CliError {
    match e {
        ClientError::Api { kind: ApiErrorKind::InvalidArgument, message } => {
            CliError::new(ExitCode::InvalidConfig, message)
        }
        ClientError::Api { kind: ApiErrorKind::ResourceExhausted | ApiErrorKind::AlreadyExists, message } => {
            CliError::failed(message)
        }
        other => CliError::from(other),
    }
}

/// A time in the cron job's own zone, as RFC 3339, or the UTC text when the zone is unknown.
fn zoned(ms: u64, zone: &str) -> String {
    atoll_cron::parse_zone(zone).map_or_else(|_| render::time_text(ms), |z| atoll_cron::format_in(ms, z))
}

fn template_fields(shown: &v1::GetCronJobResponse) -> (String, String, u32) {
    let template = shown.template.as_ref();
    let schedule = template.and_then(|t| t.cron_schedule.clone()).unwrap_or_default();
    let policy = template
        .and_then(|t| v1::CronCollisionPolicy::try_from(t.cron_collision_policy).ok())
        .filter(|p| *p != v1::CronCollisionPolicy::Unspecified)
        .map_or(
            "KILL_EXISTING",
            |p| if p == v1::CronCollisionPolicy::CancelNew { "CANCEL_NEW" } else { "KILL_EXISTING" },
        );
    (schedule, policy.to_owned(), template.map_or(0, |t| t.instances))
}

fn show_text(key: &JobKey, shown: &v1::GetCronJobResponse) -> String {
    let (schedule, policy, instances) = template_fields(shown);
    let mut text = format!(
        "Cron job {key}\n  schedule:          {schedule}  ({zone})\n  collision policy:  {policy}\n  \
         instances:         {instances}\n  starting deadline: {} s\n  scheduled:         {}\n",
        shown.starting_deadline_secs,
        zoned(shown.scheduled_at_ms, &shown.zone),
        zone = shown.zone,
    );
    text.push_str("\nNext fire times:\n");
    for next in &shown.next_ms {
        text.push_str(&format!("  {}\n", zoned(*next, &shown.zone)));
    }
    text.push_str("\nLast runs (newest last):\n");
    if shown.runs.is_empty() {
        text.push_str("  none yet\n");
    } else {
        let rows: Vec<Vec<String>> = shown
            .runs
            .iter()
            .map(|run| {
                vec![
                    run.due_ms.map_or_else(|| "by request".to_owned(), |due| zoned(due, &shown.zone)),
                    run.state.clone(),
                    zoned(run.at_ms, &shown.zone),
                    run.message.clone(),
                ]
            })
            .collect();
        text.push_str(&render::table(&["FIRE TIME", "STATE", "SINCE", "MESSAGE"], &rows));
    }
    text.trim_end().to_owned()
}

fn show_json(key: &JobKey, shown: &v1::GetCronJobResponse) -> Value {
    let (schedule, policy, instances) = template_fields(shown);
    json!({
        "job": key.to_string(),
        "schedule": schedule,
        "timezone": shown.zone,
        "collision_policy": policy,
        "instances": instances,
        "starting_deadline_secs": shown.starting_deadline_secs,
        "scheduled_at_ms": shown.scheduled_at_ms,
        "next": shown.next_ms.iter().map(|t| zoned(*t, &shown.zone)).collect::<Vec<_>>(),
        "next_ms": shown.next_ms,
        "runs": shown.runs.iter().map(|run| json!({
            "due_ms": run.due_ms,
            "due": run.due_ms.map(|due| zoned(due, &shown.zone)),
            "state": run.state,
            "at_ms": run.at_ms,
            "message": run.message,
        })).collect::<Vec<_>>(),
    })
}

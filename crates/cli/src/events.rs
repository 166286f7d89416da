//! `atoll events SCOPE`: the scheduler's event stream (`atoll.v1.EventService`) of the jobs in
//! a cluster, role, environment or job, printed as it comes: task state changes, job changes,
//! updates and cron runs, each with its index, so a script resumes with `--from`.

use atoll_model::event::{ClusterEvent, EventDetail, EventFilter, EventKind};
use clap::Args;
use serde_json::{Value, json};

use crate::args::SchedulerTarget;
use crate::exit::{CliError, CliResult};
use crate::{job, render};

#[derive(Args)]
#[command(after_help = "Examples:\n  atoll events devcluster --follow\n  \
    atoll events devcluster/www-data/devel/hello --kind task --json\n  \
    atoll events devcluster --from 1200 --follow   # resume after event 1199")]
pub struct EventsArgs {
    /// The jobs whose events to show: CLUSTER, CLUSTER/ROLE, CLUSTER/ROLE/ENV or a job key.
    scope: String,
    /// Start at this event index (the oldest kept if it is gone); without it, the events kept
    /// are shown, or with --follow only new ones.
    #[arg(long, value_name = "INDEX")]
    from: Option<u64>,
    /// Keep printing new events as they happen (Ctrl-C stops).
    #[arg(short, long)]
    follow: bool,
    /// Only events of these kinds: task, job, update, cron (repeatable, or comma-separated).
    #[arg(long, value_name = "KIND", value_delimiter = ',')]
    kind: Vec<String>,
    /// Print one JSON object per line for scripts instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: EventsArgs, target: &SchedulerTarget) -> CliResult {
    let mut filter = scope_filter(&args.scope)?;
    filter.kinds = args
        .kind
        .iter()
        .map(|kind| kind.parse::<EventKind>().map_err(|e| CliError::invalid_parameter(format!("--kind: {e}"))))
        .collect::<Result<_, _>>()?;
    let client = job::connect(target, &filter.jobs.cluster).await?;
    // Without --from or --follow: every event kept.
    let from = args.from.or(if args.follow { None } else { Some(0) });
    let mut events = client.events(&filter, from, args.follow).await?;
    if !args.json {
        println!("{:<8} {:<22} {:<40} EVENT", "INDEX", "TIME", "JOB");
    }
    if let (Some(from), Some(oldest)) = (args.from, events.oldest_kept())
        && from < oldest
        && from > 0
    {
        eprintln!("Events before {oldest} are no longer kept; starting there (asked from {from}).");
    }
    while let Some(event) = events.next().await? {
        if args.json {
            println!("{}", event_json(&event));
        } else {
            let job = event.job.to_string();
            println!("{:<8} {:<22} {:<40} {}", event.index, render::time_text(event.at_ms), job, describe(&event));
        }
    }
    Ok(())
}

/// The filter of `CLUSTER[/ROLE[/ENV[/NAME]]]`.
fn scope_filter(scope: &str) -> Result<EventFilter, CliError> {
    EventFilter::scope(scope).map_err(|e| CliError::invalid_parameter(format!("{scope}: {e}")))
}

/// An event in a few words, for the table.
pub fn describe(event: &ClusterEvent) -> String {
    let with_message = |head: String, message: &str| {
        if message.is_empty() { head } else { format!("{head}: {message}") }
    };
    match &event.detail {
        EventDetail::Task { instance, state, message, host, .. } => {
            let on = host.as_ref().map_or(String::new(), |h| format!(" on {h}"));
            with_message(format!("task {instance} {state}{on}"), message)
        }
        EventDetail::Job { change, message } => with_message(format!("job {}", change.name()), message),
        EventDetail::Update { update, state, message } => with_message(format!("update {update} {state}"), message),
        EventDetail::Cron { state, message } => with_message(format!("cron run {}", state.name()), message),
    }
}

/// An event as one JSON object.
pub fn event_json(event: &ClusterEvent) -> Value {
    let mut value = json!({
        "index": event.index,
        "at_ms": event.at_ms,
        "at": render::time_text(event.at_ms),
        "job": event.job.to_string(),
        "kind": event.kind().name(),
    });
    let detail = match &event.detail {
        EventDetail::Task { task, instance, previous, state, message, host } => json!({
            "task_id": task.0, "instance": instance, "previous_state": previous.name(), "state": state.name(),
            "message": message, "host": host,
        }),
        EventDetail::Job { change, message } => json!({ "change": change.name(), "message": message }),
        EventDetail::Update { update, state, message } => {
            json!({ "update_id": update, "state": state.to_string(), "message": message })
        }
        EventDetail::Cron { state, message } => json!({ "state": state.name(), "message": message }),
    };
    if let (Value::Object(fields), Value::Object(more)) = (&mut value, detail) {
        fields.extend(more);
    }
    value
}

#[cfg(test)]
mod tests {
    use atoll_model::TaskState;
    use atoll_model::event::JobChange;
    use atoll_model::{JobKey, TaskId};

    use super::*;

    #[test]
    fn a_scope_is_a_prefix_or_a_job_and_a_wrong_one_says_so() {
        assert_eq!(scope_filter("devcluster/www-data").unwrap().jobs.role.as_deref(), Some("www-data"));
        assert_eq!(scope_filter("devcluster/www-data/devel/hello").unwrap().name.as_deref(), Some("hello"));
        assert!(scope_filter("devcluster/a/b/c/d").is_err());
    }

    #[test]
    fn events_read_as_a_line_and_as_json() {
        let job: JobKey = "devcluster/www-data/devel/hello".parse().unwrap();
        let task = ClusterEvent {
            index: 7,
            at_ms: 0,
            job: job.clone(),
            detail: EventDetail::Task {
                task: TaskId("t".into()),
                instance: 0,
                previous: TaskState::Starting,
                state: TaskState::Running,
                message: "Healthy".into(),
                host: Some("h1".into()),
            },
        };
        assert_eq!(describe(&task), "task 0 RUNNING on h1: Healthy");
        let value = event_json(&task);
        assert_eq!(
            (value["index"].as_u64(), value["kind"].as_str(), value["state"].as_str()),
            (Some(7), Some("task"), Some("RUNNING"))
        );
        let created = ClusterEvent {
            index: 8,
            at_ms: 0,
            job,
            detail: EventDetail::Job { change: JobChange::Created, message: String::new() },
        };
        assert_eq!(describe(&created), "job CREATED");
        assert_eq!(event_json(&created)["change"], "CREATED");
    }
}

//! Output for people (aligned tables) and for scripts (`--json`).

use atoll_proto::v1;
use serde_json::{Value, json};

/// Lays out rows under a header in aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(rows.iter().map(|row| line(row.iter().map(String::as_str).collect())));
    out.join("\n")
}

pub fn state_name(raw: i32) -> String {
    atoll_proto::task_state(raw).map_or_else(|_| format!("UNKNOWN({raw})"), |s| s.to_string())
}

fn ports_text(task: &v1::TaskStatus) -> String {
    let mut ports: Vec<(&String, &u32)> = task.ports.iter().collect();
    ports.sort();
    ports.iter().map(|(name, port)| format!("{name}={port}")).collect::<Vec<_>>().join(",")
}

/// A job's runs grouped by instance: each instance's newest run, then its earlier ones newest
/// first (the order `GetTasks` with history gives).
pub fn by_instance(tasks: &[v1::TaskStatus]) -> Vec<(&v1::TaskStatus, Vec<&v1::TaskStatus>)> {
    let mut instances: Vec<(&v1::TaskStatus, Vec<&v1::TaskStatus>)> = Vec::new();
    for task in tasks {
        match instances.last_mut() {
            Some((current, earlier)) if current.instance == task.instance => earlier.push(task),
            _ => instances.push((task, Vec::new())),
        }
    }
    instances
}

/// What a run's last event or its pending reason says.
fn note(t: &v1::TaskStatus) -> String {
    if !t.pending_reason.is_empty() {
        return t.pending_reason.clone();
    }
    let last = t.events.last().map(|e| e.message.clone()).unwrap_or_default();
    match t.exit_code {
        Some(code) if code != 0 || !last.is_empty() => format!("exit {code}: {last}"),
        _ => last,
    }
}

/// When a run entered its state, as UTC text.
fn since(t: &v1::TaskStatus) -> String {
    t.events.last().map(|e| time_text(e.at_ms)).unwrap_or_default()
}

/// `job status` as a table: each instance's current run, and with `history` its earlier runs
/// (indented, newest first) with their end states, times and messages.
pub fn status_table(job: &str, tasks: &[v1::TaskStatus], history: bool) -> String {
    if tasks.is_empty() {
        return format!("{job}: no tasks");
    }
    let short = |t: &v1::TaskStatus| t.config_version.chars().take(atoll_model::version::SHORT_ID_LEN).collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (current, earlier) in by_instance(tasks) {
        rows.push(vec![
            current.instance.to_string(),
            state_name(current.state),
            current.host.clone(),
            ports_text(current),
            short(current),
            current.task_id.clone(),
            note(current),
        ]);
        if history {
            for run in earlier {
                let state = format!("  {} {}", state_name(run.state), since(run));
                rows.push(vec![
                    String::new(),
                    state,
                    run.host.clone(),
                    String::new(),
                    short(run),
                    run.task_id.clone(),
                    note(run),
                ]);
            }
        }
    }
    format!("{job}\n{}", table(&["INSTANCE", "STATUS", "HOST", "PORTS", "CONFIG", "TASK ID", "NOTE"], &rows))
}

pub fn non_empty(text: &str) -> Value {
    if text.is_empty() { Value::Null } else { json!(text) }
}

/// One event as `--wait-until` prints it: `  KEY/INSTANCE: STATE`, and the message for the
/// states that end or hold a run (FAILED, FINISHED, KILLED, LOST, THROTTLED).
pub fn event_line(key: &atoll_model::JobKey, instance: u32, event: &v1::TaskEvent) -> String {
    let state = atoll_proto::task_state(event.state);
    let explained = state.is_ok_and(|s| s.is_terminal() || s == atoll_model::TaskState::Throttled);
    if explained && !event.message.is_empty() {
        format!("  {key}/{instance}: {} ({})", state_name(event.state), event.message)
    } else {
        format!("  {key}/{instance}: {}", state_name(event.state))
    }
}

/// One event as JSON: its time in milliseconds and as UTC text, state and message.
fn event_json(e: &v1::TaskEvent) -> Value {
    json!({ "at_ms": e.at_ms, "at": time_text(e.at_ms), "state": state_name(e.state), "message": e.message })
}

/// `job status --json`: each instance's current run, with `history`, its earlier runs.
pub fn status_json(job: &str, tasks: &[v1::TaskStatus]) -> Value {
    let instances: Vec<Value> = by_instance(tasks)
        .into_iter()
        .map(|(t, earlier)| {
            let ports: serde_json::Map<String, Value> =
                t.ports.iter().map(|(name, port)| (name.clone(), json!(port))).collect();
            let history: Vec<Value> = earlier
                .iter()
                .map(|run| {
                    json!({
                        "task_id": run.task_id,
                        "status": state_name(run.state),
                        "host": non_empty(&run.host),
                        "exit_code": run.exit_code,
                        "config_version": non_empty(&run.config_version),
                        "ended_ms": run.events.last().map(|e| e.at_ms),
                        "message": run.events.last().map_or(Value::Null, |e| non_empty(&e.message)),
                    })
                })
                .collect();
            json!({
                "instance": t.instance,
                "task_id": t.task_id,
                "status": state_name(t.state),
                "host": non_empty(&t.host),
                "ports": ports,
                "sandbox": non_empty(&t.sandbox),
                "pending_reason": non_empty(&t.pending_reason),
                "pending": pending_json(t.pending.as_ref()),
                "exit_code": t.exit_code,
                "config_version": non_empty(&t.config_version),
                "message": t.events.last().map_or(Value::Null, |e| non_empty(&e.message)),
                "since_ms": t.events.last().map(|e| e.at_ms),
                "history": history,
            })
        })
        .collect();
    json!({ "job": job, "instances": instances })
}

/// `task events`: every event of every run of one instance, oldest first, with the run's task
/// and host.
pub fn events_table(instance: &str, runs: &[&v1::TaskStatus]) -> String {
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for run in runs {
        for event in &run.events {
            let row = vec![
                time_text(event.at_ms),
                state_name(event.state),
                run.host.clone(),
                run.task_id.clone(),
                event.message.clone(),
            ];
            rows.push((event.at_ms, row));
        }
    }
    rows.sort_by_key(|(at, _)| *at);
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, row)| row).collect();
    format!("{instance}\n{}", table(&["TIME", "STATE", "HOST", "TASK ID", "MESSAGE"], &rows))
}

/// `task events --json`.
pub fn events_json(instance: &str, runs: &[&v1::TaskStatus]) -> Value {
    let runs: Vec<Value> = runs
        .iter()
        .map(|run| {
            json!({
                "task_id": run.task_id,
                "host": non_empty(&run.host),
                "config_version": non_empty(&run.config_version),
                "events": run.events.iter().map(event_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "instance": instance, "runs": runs })
}

/// A PENDING task's structured reason: `{"summary", "vetoes": [{"reason", "hosts", "examples"}]}`.
fn pending_json(pending: Option<&v1::PendingReason>) -> Value {
    let Some(pending) = pending else { return Value::Null };
    let vetoes: Vec<Value> = pending
        .vetoes
        .iter()
        .map(|v| json!({ "reason": v.reason, "hosts": v.hosts, "examples": v.examples }))
        .collect();
    json!({ "summary": pending.summary, "vetoes": vetoes })
}

/// `job why`: one instance explained. A PENDING one with every reason, the hosts it excluded
/// and a few of their names; any other with its state and host; then every state its run has
/// passed through, with times and messages.
pub fn why_text(instance: &str, task: &v1::TaskStatus) -> String {
    let state = state_name(task.state);
    let mut lines = vec![format!("{instance} is {state} (task {})", task.task_id)];
    match &task.pending {
        Some(pending) => {
            lines.push(format!("Why it is not placed: {}", pending.summary));
            if !pending.vetoes.is_empty() {
                let rows: Vec<Vec<String>> = pending
                    .vetoes
                    .iter()
                    .map(|v| {
                        let more = if v.hosts as usize > v.examples.len() { ", …" } else { "" };
                        vec![v.reason.clone(), v.hosts.to_string(), format!("{}{more}", v.examples.join(", "))]
                    })
                    .collect();
                lines.push(table(&["REASON", "HOSTS", "FOR EXAMPLE"], &rows));
            }
        }
        None if !task.pending_reason.is_empty() => lines.push(format!("Why it is not placed: {}", task.pending_reason)),
        None => {
            if !task.host.is_empty() {
                lines.push(format!("Host: {}", task.host));
            }
            if let Some(code) = task.exit_code {
                lines.push(format!("Exit code: {code}"));
            }
        }
    }
    let events: Vec<Vec<String>> =
        task.events.iter().map(|e| vec![time_text(e.at_ms), state_name(e.state), e.message.clone()]).collect();
    if !events.is_empty() {
        lines.push("This run so far:".to_owned());
        lines.push(table(&["TIME", "STATE", "MESSAGE"], &events));
    }
    lines.join("\n")
}

/// `job why --json`.
pub fn why_json(instance: &str, task: &v1::TaskStatus) -> Value {
    json!({
        "instance": instance,
        "task_id": task.task_id,
        "status": state_name(task.state),
        "host": non_empty(&task.host),
        "pending_reason": non_empty(&task.pending_reason),
        "pending": pending_json(task.pending.as_ref()),
        "last_event": task.events.last().map_or(Value::Null, event_json),
        "events": task.events.iter().map(event_json).collect::<Vec<_>>(),
    })
}

pub fn key_text(key: Option<&v1::JobKey>) -> String {
    key.map(|k| format!("{}/{}/{}/{}", k.cluster, k.role, k.environment, k.name)).unwrap_or_default()
}

/// A time (milliseconds since the epoch) as UTC text, `2026-12-01 06:18:41Z`.
pub fn time_text(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, day) = civil_date(secs / 86_400);
    format!("{year:04}-{month:02}-{day:02} {}Z", clock_text(ms))
}

/// The time of day of `ms` in UTC, `06:18:41`.
pub fn clock_text(ms: u64) -> String {
    let of_day = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", of_day / 3600, of_day / 60 % 60, of_day % 60)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `job list` as a table.
pub fn list_table(jobs: &[v1::JobSummary]) -> String {
    if jobs.is_empty() {
        return "no jobs".to_owned();
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                key_text(j.key.as_ref()),
                match (&j.cron_schedule, j.service) {
                    (Some(schedule), false) => format!("cron: {schedule}"),
                    (_, true) => "service".to_owned(),
                    (None, false) => "job".to_owned(),
                },
                j.instances.to_string(),
                j.pending.to_string(),
                j.active.to_string(),
                j.finished.to_string(),
                j.failed.to_string(),
            ]
        })
        .collect();
    table(&["JOB", "KIND", "INSTANCES", "PENDING", "ACTIVE", "FINISHED", "FAILED"], &rows)
}

/// `job list --json`.
pub fn list_json(jobs: &[v1::JobSummary]) -> Value {
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|j| {
            json!({
                "job": key_text(j.key.as_ref()),
                "service": j.service,
                "cron_schedule": j.cron_schedule,
                "instances": j.instances,
                "pending": j.pending,
                "active": j.active,
                "finished": j.finished,
                "failed": j.failed,
            })
        })
        .collect();
    json!({ "jobs": jobs })
}

/// `job inspect --json`: the job exactly as the model holds it, every default filled in.
pub fn inspect_json(job: &atoll_model::JobSpec) -> Value {
    let mut value = serde_json::to_value(job).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert("key".to_owned(), json!(job.key.to_string()));
        object.insert("requested_ports".to_owned(), json!(job.requested_ports().into_iter().collect::<Vec<_>>()));
    }
    value
}

/// `job inspect`: the same, as an indented listing for people.
pub fn inspect_text(job: &atoll_model::JobSpec) -> String {
    let mut lines = Vec::new();
    listing(&inspect_json(job), 0, &mut lines);
    lines.join("\n")
}

fn listing(value: &Value, depth: usize, lines: &mut Vec<String>) {
    let indent = "  ".repeat(depth);
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match item {
                    Value::Object(inner) if !inner.is_empty() => {
                        lines.push(format!("{indent}{key}:"));
                        listing(item, depth + 1, lines);
                    }
                    Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
                        lines.push(format!("{indent}{key}:"));
                        listing(item, depth + 1, lines);
                    }
                    _ => lines.push(format!("{indent}{key}: {}", scalar(item))),
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let flat = match item {
                    Value::Object(_) => false,
                    Value::Array(inner) => inner.iter().all(|i| !i.is_object() && !i.is_array()),
                    _ => true,
                };
                if flat {
                    lines.push(format!("{indent}- {}", scalar(item)));
                } else {
                    lines.push(format!("{indent}- [{index}]"));
                    listing(item, depth + 1, lines);
                }
            }
        }
        other => lines.push(format!("{indent}{}", scalar(other))),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        Value::String(text) => format!("{text:?}"),
        Value::Array(items) => format!("[{}]", items.iter().map(scalar).collect::<Vec<_>>().join(", ")),
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_utc_dates_and_clocks() {
        assert_eq!(super::time_text(0), "1970-01-01 00:00:00Z");
        assert_eq!(super::time_text(1_795_933_121_000), "2026-11-29 06:18:41Z");
        assert_eq!(super::time_text(951_782_400_000), "2000-02-29 00:00:00Z", "a leap day");
        assert_eq!(super::clock_text(86_399_999), "23:59:59");
    }

    use super::*;

    fn task(instance: u32, state: v1::TaskState) -> v1::TaskStatus {
        v1::TaskStatus {
            task_id: format!("t-{instance}"),
            instance,
            state: state as i32,
            host: if state == v1::TaskState::Pending { String::new() } else { "h1".into() },
            ports: [("http".to_owned(), 31000)].into_iter().collect(),
            pending_reason: if state == v1::TaskState::Pending { "Insufficient: CPU".into() } else { String::new() },
            pending: (state == v1::TaskState::Pending).then(|| v1::PendingReason {
                summary: "Insufficient: CPU".into(),
                vetoes: vec![v1::Veto {
                    reason: "Insufficient: CPU".into(),
                    hosts: 4,
                    examples: vec!["h1".into(), "h2".into(), "h3".into()],
                }],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn status_table_aligns_columns_and_shows_reasons() {
        let mut canary = task(0, v1::TaskState::Running);
        canary.config_version = "3f2a9c1d".repeat(8);
        let text = status_table("c/r/e/n", &[canary, task(1, v1::TaskState::Pending)], false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "c/r/e/n");
        assert_eq!(lines[1], "INSTANCE  STATUS   HOST  PORTS       CONFIG    TASK ID  NOTE");
        assert_eq!(lines[2], "0         RUNNING  h1    http=31000  3f2a9c1d  t-0");
        assert_eq!(lines[3], "1         PENDING        http=31000            t-1      Insufficient: CPU");
        let json = status_json("c/r/e/n", &[task(0, v1::TaskState::Running)]);
        assert_eq!(json["instances"][0]["config_version"], Value::Null, "no version, no field value");
    }

    #[test]
    fn inspect_lists_every_field_with_defaults() {
        let task = atoll_model::TaskSpec::new(
            vec![atoll_model::ProcessSpec::new("hello", "echo {{thermos.ports[http]}}")],
            atoll_model::Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
        );
        let job = atoll_model::JobSpec::new("devcluster/www-data/devel/hello".parse().unwrap(), task);
        let json = inspect_json(&job);
        assert_eq!(json["key"], "devcluster/www-data/devel/hello");
        assert_eq!(json["update_config"]["watch_secs"], 45);
        assert_eq!(json["requested_ports"][0], "http");
        let text = inspect_text(&job);
        assert!(text.contains("\nupdate_config:\n  batch_size: 1\n"), "{text}");
        assert!(text.contains("    cmdline: \"echo {{thermos.ports[http]}}\""), "{text}");
        assert!(text.contains("cron_schedule: (none)"), "{text}");
        let mut ordered = job.clone();
        ordered.config.task.order = vec![vec!["hello".into()]];
        assert!(inspect_text(&ordered).contains("  order:\n    - [\"hello\"]\n"), "{}", inspect_text(&ordered));
    }

    #[test]
    fn status_json_has_the_documented_shape() {
        let value = status_json("c/r/e/n", &[task(1, v1::TaskState::Pending)]);
        assert_eq!(value["job"], "c/r/e/n");
        let instance = &value["instances"][0];
        for field in [
            "instance",
            "task_id",
            "status",
            "host",
            "ports",
            "sandbox",
            "pending_reason",
            "pending",
            "exit_code",
            "message",
        ] {
            assert!(instance.get(field).is_some(), "missing {field}");
        }
        assert_eq!(instance["status"], "PENDING");
        assert_eq!(instance["host"], Value::Null);
        assert_eq!(instance["ports"]["http"], 31000);
        assert_eq!(instance["pending_reason"], "Insufficient: CPU");
        assert_eq!(instance["pending"]["vetoes"][0]["hosts"], 4);
        assert_eq!(instance["pending"]["vetoes"][0]["examples"], json!(["h1", "h2", "h3"]));
        assert_eq!(status_json("c/r/e/n", &[task(0, v1::TaskState::Running)])["instances"][0]["pending"], Value::Null);
    }

    #[test]
    fn why_explains_pending_instances_veto_by_veto_and_others_by_their_last_event() {
        let text = why_text("c/r/e/n/1", &task(1, v1::TaskState::Pending));
        assert_eq!(
            text,
            "c/r/e/n/1 is PENDING (task t-1)\nWhy it is not placed: Insufficient: CPU\n\
             REASON             HOSTS  FOR EXAMPLE\n\
             Insufficient: CPU  4      h1, h2, h3, …"
        );
        let mut running = task(0, v1::TaskState::Running);
        running.events =
            vec![v1::TaskEvent { at_ms: 42, state: v1::TaskState::Running as i32, message: "healthy".into() }];
        running.events = vec![
            v1::TaskEvent { at_ms: 1_000, state: v1::TaskState::Pending as i32, message: "Created".into() },
            v1::TaskEvent { at_ms: 61_000, state: v1::TaskState::Running as i32, message: "healthy".into() },
        ];
        assert_eq!(
            why_text("c/r/e/n/0", &running),
            "c/r/e/n/0 is RUNNING (task t-0)\nHost: h1\nThis run so far:\n\
             TIME                  STATE    MESSAGE\n\
             1970-01-01 00:00:01Z  PENDING  Created\n\
             1970-01-01 00:01:01Z  RUNNING  healthy"
        );
        let json = why_json("c/r/e/n/0", &running);
        assert_eq!(json["last_event"]["message"], "healthy");
        assert_eq!(json["events"][1]["at"], "1970-01-01 00:01:01Z");
    }

    #[test]
    fn history_shows_earlier_runs_under_their_instance_and_events_run_oldest_first() {
        let mut current = task(0, v1::TaskState::Running);
        current.task_id = "t-0-new".into();
        current.events =
            vec![v1::TaskEvent { at_ms: 5_000, state: v1::TaskState::Running as i32, message: "healthy".into() }];
        let mut failed = task(0, v1::TaskState::Failed);
        failed.exit_code = Some(1);
        failed.events = vec![
            v1::TaskEvent { at_ms: 1_000, state: v1::TaskState::Running as i32, message: String::new() },
            v1::TaskEvent { at_ms: 2_000, state: v1::TaskState::Failed as i32, message: "Failed health check!".into() },
        ];
        let runs = [current.clone(), failed.clone(), task(1, v1::TaskState::Running)];
        let plain = status_table("c/r/e/n", &runs, false);
        assert_eq!(plain.lines().count(), 4, "current runs only: {plain}");
        let history = status_table("c/r/e/n", &runs, true);
        let lines: Vec<&str> = history.lines().collect();
        assert_eq!(lines.len(), 5, "{history}");
        assert!(
            lines[3].contains("  FAILED 1970-01-01 00:00:02Z") && lines[3].contains("exit 1: Failed health check!"),
            "{history}"
        );
        let json = status_json("c/r/e/n", &runs);
        assert_eq!(json["instances"].as_array().unwrap().len(), 2);
        assert_eq!(json["instances"][0]["history"][0]["status"], "FAILED");
        assert_eq!(json["instances"][0]["history"][0]["ended_ms"], 2_000);
        let events = events_table("c/r/e/n/0", &[&current, &failed]);
        let states: Vec<&str> = events.lines().skip(2).map(|l| l.split_whitespace().nth(2).unwrap()).collect();
        assert_eq!(states, vec!["RUNNING", "FAILED", "RUNNING"], "oldest first, over runs: {events}");
        assert_eq!(events_json("c/r/e/n/0", &[&current])["runs"][0]["events"][0]["message"], "healthy");
    }

    #[test]
    fn waiting_prints_the_reason_of_ends_and_throttles() {
        let key: atoll_model::JobKey = "c/r/devel/n".parse().unwrap();
        let failed = v1::TaskEvent { at_ms: 1, state: v1::TaskState::Failed as i32, message: "exit 1".into() };
        assert_eq!(event_line(&key, 2, &failed), "  c/r/devel/n/2: FAILED (exit 1)");
        let running = v1::TaskEvent { at_ms: 1, state: v1::TaskState::Running as i32, message: "healthy".into() };
        assert_eq!(event_line(&key, 2, &running), "  c/r/devel/n/2: RUNNING");
    }
}

//! `atoll framework …`: the frameworks sharing the cluster (Atoll's own job scheduler, `atoll-jobs`,
//! among them), each with its role, what it holds and its dominant share; one in detail with
//! its offers and tasks; and tearing one down.

use atoll_proto::v1;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::args::{DEFAULT_CLUSTER, SchedulerTarget};
use crate::exit::CliResult;
use crate::{job, render};

#[derive(Subcommand)]
pub enum FrameworkCommand {
    /// List the frameworks: role, whether subscribed, tasks, what their tasks hold and what is
    /// offered to them, and their dominant share over their role's weight.
    #[command(after_help = "Example:\n  atoll framework list --cluster devcluster")]
    List {
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one framework: its subscription, its outstanding offers and its tasks, each with
    /// the job instance `atoll task logs` reads its output by.
    #[command(after_help = "Example:\n  atoll framework show fanout-1f2e3d4c\n  \
        atoll task logs devcluster/www-data/framework/fanout-1f2e3d4c/0")]
    Show {
        /// The framework's id, as `atoll framework list` shows it.
        id: String,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Tear a framework down: kill its tasks, take back its offers and forget it. Needs
    /// permission to manage its role. The framework hears why, and cannot resubscribe.
    #[command(after_help = "Example:\n  atoll framework teardown fanout-1f2e3d4c")]
    Teardown {
        /// The framework's id, as `atoll framework list` shows it.
        id: String,
    },
}

pub async fn run(command: FrameworkCommand, target: &SchedulerTarget) -> CliResult {
    let cluster = target.cluster.clone().unwrap_or_else(|| DEFAULT_CLUSTER.to_owned());
    let client = job::connect(target, &cluster).await?;
    match command {
        FrameworkCommand::List { json } => {
            let frameworks = client.frameworks().await?;
            if json {
                println!("{}", Value::Array(frameworks.iter().map(summary_json).collect()));
            } else {
                println!("{}", list_table(&frameworks));
            }
        }
        FrameworkCommand::Show { id, json } => {
            let shown = client.framework(&id).await?;
            if json {
                println!("{}", show_json(&shown));
            } else {
                println!("{}", show_text(&cluster, &shown));
            }
        }
        FrameworkCommand::Teardown { id } => {
            client.teardown_framework(&id).await?;
            println!("Framework {id} torn down: its tasks are being killed. `atoll framework list` shows who is left.");
        }
    }
    Ok(())
}

fn resources_json(r: Option<&v1::Resources>) -> Value {
    let r = r.copied().unwrap_or_default();
    json!({ "cpu": r.cpu, "ram_mb": r.ram_mb, "disk_mb": r.disk_mb, "gpu": r.gpu })
}

fn summary_json(f: &v1::FrameworkSummary) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "role": f.role,
        "weight": f.weight,
        "builtin": f.builtin,
        "connected": f.connected,
        "disconnected_at_ms": f.disconnected_at_ms,
        "failover_timeout_secs": f.failover_timeout_secs,
        "registered_at_ms": f.registered_at_ms,
        "principal": f.principal,
        "allocated": resources_json(f.allocated.as_ref()),
        "offered": resources_json(f.offered.as_ref()),
        "dominant_share": f.dominant_share,
        "offers_outstanding": f.offers_outstanding,
        "active_tasks": f.active_tasks,
        "suppressed": f.suppressed,
    })
}

/// cpu / RAM, as a cell.
fn held(r: Option<&v1::Resources>) -> String {
    let r = r.copied().unwrap_or_default();
    format!("{:.2} cpu, {} MB", r.cpu, r.ram_mb)
}

fn connection(f: &v1::FrameworkSummary) -> String {
    match (f.builtin, f.connected, f.disconnected_at_ms) {
        (true, _, _) => "built in".to_owned(),
        (false, true, _) if f.suppressed => "subscribed, suppressed".to_owned(),
        (false, true, _) => "subscribed".to_owned(),
        (false, false, Some(at)) => format!("away since {}", render::time_text(at)),
        (false, false, None) => "away".to_owned(),
    }
}

fn list_table(frameworks: &[v1::FrameworkSummary]) -> String {
    let rows: Vec<Vec<String>> = frameworks
        .iter()
        .map(|f| {
            vec![
                f.id.clone(),
                f.role.clone(),
                format!("{}", f.weight),
                connection(f),
                f.active_tasks.to_string(),
                held(f.allocated.as_ref()),
                format!("{} ({})", f.offers_outstanding, held(f.offered.as_ref())),
                format!("{:.1}%", f.dominant_share * 100.0),
            ]
        })
        .collect();
    render::table(&["FRAMEWORK", "ROLE", "WEIGHT", "STATE", "TASKS", "ALLOCATED", "OFFERS", "SHARE"], &rows)
}

fn show_json(shown: &v1::GetFrameworkResponse) -> Value {
    json!({
        "framework": shown.framework.as_ref().map(summary_json),
        "offers": shown.offers.iter().map(|o| json!({
            "id": o.id,
            "agent_id": o.agent_id,
            "hostname": o.hostname,
            "resources": resources_json(o.resources.as_ref()),
            "ports": o.ports.iter().map(|p| format!("{}-{}", p.begin, p.end)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "tasks": shown.tasks.iter().map(|t| json!({
            "task_id": t.task_id,
            "atoll_task_id": t.atoll_task_id,
            "state": render::state_name(t.state),
            "hostname": t.hostname,
            "resources": resources_json(t.resources.as_ref()),
            "command": t.command,
            "job": render::key_text(t.job.as_ref()),
            "instance": t.instance,
            "since_ms": t.since_ms,
            "message": t.message,
        })).collect::<Vec<_>>(),
    })
}

fn show_text(cluster: &str, shown: &v1::GetFrameworkResponse) -> String {
    let Some(f) = &shown.framework else { return "no framework in the answer".to_owned() };
    let mut text = format!(
        "{} ({}), role {} (weight {}), {}\n  subscribed by {}, failover timeout {} s\n  tasks {}, allocated {}, offered {}, dominant share {:.1}%\n",
        f.id,
        f.name,
        f.role,
        f.weight,
        connection(f),
        if f.principal.is_empty() { "-" } else { &f.principal },
        f.failover_timeout_secs,
        f.active_tasks,
        held(f.allocated.as_ref()),
        held(f.offered.as_ref()),
        f.dominant_share * 100.0,
    );
    if !shown.offers.is_empty() {
        let rows: Vec<Vec<String>> =
            shown.offers.iter().map(|o| vec![o.id.clone(), o.hostname.clone(), held(o.resources.as_ref())]).collect();
        text.push_str(&format!("\nOffers\n{}\n", render::table(&["OFFER", "HOST", "RESOURCES"], &rows)));
    }
    if f.builtin {
        text.push_str(&format!("\nIts tasks are the jobs' tasks: `atoll job list {cluster}`.\n"));
    } else if shown.tasks.is_empty() {
        text.push_str("\nNo tasks kept.\n");
    } else {
        let rows: Vec<Vec<String>> = shown
            .tasks
            .iter()
            .map(|t| {
                vec![
                    t.task_id.clone(),
                    t.instance.to_string(),
                    render::state_name(t.state),
                    t.hostname.clone(),
                    held(t.resources.as_ref()),
                    t.message.clone(),
                ]
            })
            .collect();
        // The scheduler's own key of the tasks, whatever cluster this command was told.
        let job = render::key_text(shown.tasks[0].job.as_ref());
        text.push_str(&format!(
            "\nTasks (logs: atoll task logs {job}/INSTANCE)\n{}\n",
            render::table(&["TASK", "INSTANCE", "STATE", "HOST", "RESOURCES", "MESSAGE"], &rows)
        ));
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, builtin: bool) -> v1::FrameworkSummary {
        v1::FrameworkSummary {
            id: id.into(),
            name: id.into(),
            role: "analytics".into(),
            weight: 2.0,
            builtin,
            connected: !builtin,
            allocated: Some(v1::Resources { cpu: 1.5, ram_mb: 256, disk_mb: 0, gpu: 0 }),
            dominant_share: 0.375,
            offers_outstanding: 1,
            active_tasks: 3,
            ..Default::default()
        }
    }

    #[test]
    fn the_list_shows_state_holdings_and_share() {
        let text = list_table(&[summary("atoll-jobs", true), summary("fanout-1", false)]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("FRAMEWORK"), "{text}");
        assert!(lines[1].contains("built in") && lines[2].contains("subscribed"), "{text}");
        assert!(lines[2].contains("1.50 cpu, 256 MB") && lines[2].contains("37.5%"), "{text}");
        let json = summary_json(&summary("fanout-1", false));
        assert_eq!(json["allocated"]["ram_mb"], 256);
        assert_eq!(json["active_tasks"], 3);
    }

    #[test]
    fn show_names_the_logs_command_for_the_tasks() {
        let shown = v1::GetFrameworkResponse {
            framework: Some(summary("fanout-1", false)),
            offers: Vec::new(),
            tasks: vec![v1::FrameworkTask {
                task_id: "shard-0".into(),
                instance: 4,
                state: v1::TaskState::Running as i32,
                hostname: "h1".into(),
                job: Some(v1::JobKey {
                    cluster: "east".into(),
                    role: "analytics".into(),
                    environment: "framework".into(),
                    name: "fanout-1".into(),
                }),
                ..Default::default()
            }],
        };
        let text = show_text("devcluster", &shown);
        // The scheduler's key of the task, not the cluster the command was told.
        assert!(text.contains("atoll task logs east/analytics/framework/fanout-1/INSTANCE"), "{text}");
        assert!(text.contains("shard-0") && text.contains("RUNNING"), "{text}");
    }
}

//! `atoll host …`: host maintenance, as Aurora's `host_deactivate`, `host_drain`,
//! `host_activate` and `host_status`: schedule maintenance (SCHEDULED hosts are placed on
//! last), drain hosts (no new tasks; their tasks are moved elsewhere; DRAINED once empty), bring
//! them back, and show their modes.

use atoll_client::{ApiErrorKind, HostCall};
use atoll_proto::v1;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::args::{DEFAULT_CLUSTER, SchedulerTarget};
use crate::exit::{CliError, CliResult};
use crate::{job, render};

/// How host commands print.
#[derive(Args)]
pub struct HostArgs {
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum HostCommand {
    /// Schedule maintenance: the hosts go SCHEDULED. Their tasks keep running, and new tasks go
    /// to them only when no other host fits; drain them when the maintenance window comes.
    #[command(after_help = "Example:\n  atoll host deactivate agent-1 agent-2")]
    Deactivate {
        /// Hostnames (or agent ids).
        #[arg(required = true)]
        hosts: Vec<String>,
        #[command(flatten)]
        args: HostArgs,
    },
    /// Drain hosts: they take no new task, their tasks are killed and rescheduled elsewhere, and
    /// each is DRAINED once none is left. `atoll host status` shows the progress.
    #[command(after_help = "Example:\n  atoll host drain agent-1 agent-2")]
    Drain {
        /// Hostnames (or agent ids).
        #[arg(required = true)]
        hosts: Vec<String>,
        #[command(flatten)]
        args: HostArgs,
    },
    /// End maintenance: the hosts go back to NONE and take tasks again.
    #[command(after_help = "Example:\n  atoll host activate agent-1")]
    Activate {
        /// Hostnames (or agent ids).
        #[arg(required = true)]
        hosts: Vec<String>,
        #[command(flatten)]
        args: HostArgs,
    },
    /// Show the maintenance mode (NONE, SCHEDULED, DRAINING, DRAINED) of hosts, or of every
    /// host the scheduler knows.
    #[command(after_help = "Example:\n  atoll host status agent-1 --json")]
    Status {
        /// Hostnames (or agent ids); none lists every known host.
        hosts: Vec<String>,
        #[command(flatten)]
        args: HostArgs,
    },
}

pub async fn run(command: HostCommand, target: &SchedulerTarget) -> CliResult {
    let (call, hosts, args) = match command {
        HostCommand::Drain { hosts, args } => (HostCall::Drain, hosts, args),
        HostCommand::Deactivate { hosts, args } => (HostCall::Deactivate, hosts, args),
        HostCommand::Activate { hosts, args } => (HostCall::Activate, hosts, args),
        HostCommand::Status { hosts, args } => (HostCall::Status, hosts, args),
    };
    let cluster = target.cluster.clone().unwrap_or_else(|| DEFAULT_CLUSTER.to_owned());
    let client = job::connect(target, &cluster).await?;
    let statuses = client.hosts(call, &hosts).await.map_err(|e| match e {
        atoll_client::ClientError::Api { kind: ApiErrorKind::InvalidArgument, message } => {
            CliError::invalid_parameter(message)
        }
        other => CliError::from(other),
    })?;
    if args.json {
        println!("{}", hosts_json(&statuses));
    } else {
        println!("{}", hosts_table(&statuses));
    }
    let unknown: Vec<&str> = statuses.iter().filter(|h| h.mode.is_none()).map(|h| h.host.as_str()).collect();
    if !unknown.is_empty() {
        return Err(CliError::invalid_parameter(format!(
            "unknown host(s): {}; `atoll host status` lists the hosts the scheduler knows",
            unknown.join(", ")
        )));
    }
    Ok(())
}

fn mode_name(status: &v1::HostStatus) -> Option<String> {
    let mode = v1::MaintenanceMode::try_from(status.mode?).ok()?;
    let name = mode.as_str_name();
    Some(name.strip_prefix("MAINTENANCE_MODE_").unwrap_or(name).to_owned())
}

fn hosts_table(hosts: &[v1::HostStatus]) -> String {
    if hosts.is_empty() {
        return "no hosts".to_owned();
    }
    let rows: Vec<Vec<String>> =
        hosts.iter().map(|h| vec![h.host.clone(), mode_name(h).unwrap_or_else(|| "UNKNOWN".to_owned())]).collect();
    render::table(&["HOST", "MODE"], &rows)
}

/// `{"hosts": [{"host", "mode"}]}`, the mode null for a host the scheduler does not know.
fn hosts_json(hosts: &[v1::HostStatus]) -> Value {
    let hosts: Vec<Value> = hosts.iter().map(|h| json!({ "host": h.host, "mode": mode_name(h) })).collect();
    json!({ "hosts": hosts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(host: &str, mode: Option<v1::MaintenanceMode>) -> v1::HostStatus {
        v1::HostStatus { host: host.to_owned(), mode: mode.map(|m| m as i32) }
    }

    #[test]
    fn modes_show_by_aurora_name_and_unknown_hosts_as_such() {
        let hosts = [status("a", Some(v1::MaintenanceMode::Draining)), status("zz", None)];
        assert_eq!(hosts_table(&hosts), "HOST  MODE\na     DRAINING\nzz    UNKNOWN");
        assert_eq!(
            hosts_json(&hosts),
            json!({ "hosts": [{ "host": "a", "mode": "DRAINING" }, { "host": "zz", "mode": null }] })
        );
    }
}

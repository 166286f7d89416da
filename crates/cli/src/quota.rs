//! `atoll quota …`: a role's production quota and what its tasks use (Aurora's `quota get`),
//! and setting it (`aurora_admin set_quota`).
//!
//! Sizes: RAM and disk are MB when plain numbers, or carry a unit: `512MB`, `2GB`, `1TB`
//! (also `M`, `G`, `T`, `MiB`, `GiB`, `TiB`; case does not matter). As in job files, 1 GB is
//! 1024 MB. CPU is in cores and may be fractional.

use atoll_client::ApiErrorKind;
use atoll_model::{JobKeyPrefix, ResourceAggregate};
use atoll_proto::v1;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::args::SchedulerTarget;
use crate::exit::{CliError, CliResult};
use crate::{job, render};

#[derive(Subcommand)]
pub enum QuotaCommand {
    /// Show a role's production quota and what its active tasks use.
    #[command(after_help = "Example:\n  atoll quota get devcluster/www-data --json")]
    Get {
        /// CLUSTER/ROLE.
        role: String,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set a role's production quota: what its production (preferred tier) tasks may take in
    /// all. Until a quota is set, a role may run no production job, as in Aurora (`atoll dev`
    /// does not limit roles without one).
    #[command(after_help = "Example:\n  atoll quota set devcluster/www-data 8 16GB 100GB\n\
        RAM and DISK are MB, or take a unit: 512MB, 2GB, 1TB (1 GB = 1024 MB).")]
    Set {
        /// CLUSTER/ROLE.
        role: String,
        /// Cores, e.g. 8 or 0.5.
        #[arg(value_parser = parse_cores)]
        cpu: f64,
        /// RAM: MB, or with a unit (2GB).
        #[arg(value_parser = parse_mb)]
        ram: u64,
        /// Disk: MB, or with a unit (100GB).
        #[arg(value_parser = parse_mb)]
        disk: u64,
    },
}

pub async fn run(command: QuotaCommand, target: &SchedulerTarget) -> CliResult {
    match command {
        QuotaCommand::Get { role, json } => {
            let (cluster, role) = parse_role(&role)?;
            let client = job::connect(target, &cluster).await?;
            let usage = client.quota(&cluster, &role).await.map_err(invalid)?;
            let name = format!("{cluster}/{role}");
            println!("{}", if json { quota_json(&name, &usage).to_string() } else { quota_table(&name, &usage) });
            Ok(())
        }
        QuotaCommand::Set { role, cpu, ram, disk } => {
            let (cluster, role) = parse_role(&role)?;
            let client = job::connect(target, &cluster).await?;
            let quota = ResourceAggregate { cpu_millis: (cpu * 1000.0).round() as u64, ram_mb: ram, disk_mb: disk };
            client.set_quota(&cluster, &role, &quota).await.map_err(invalid)?;
            println!("Quota of {cluster}/{role} set: {cpu} core(s), {ram} MB RAM, {disk} MB disk.");
            Ok(())
        }
    }
}

/// The scheduler refused the request itself: a bad parameter.
fn invalid(e: atoll_client::ClientError) -> CliError {
    match e {
        atoll_client::ClientError::Api { kind: ApiErrorKind::InvalidArgument, message } => {
            CliError::invalid_parameter(message)
        }
        other => CliError::from(other),
    }
}

/// Splits `CLUSTER/ROLE`.
fn parse_role(text: &str) -> Result<(String, String), CliError> {
    let prefix: JobKeyPrefix = text.parse()?;
    match (prefix.role, prefix.environment) {
        (Some(role), None) => Ok((prefix.cluster, role)),
        _ => Err(CliError::invalid_parameter(format!(
            "invalid role '{text}': expected CLUSTER/ROLE, e.g. devcluster/www-data"
        ))),
    }
}

fn parse_cores(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(cores) if cores.is_finite() && cores >= 0.0 => Ok(cores),
        _ => Err(format!("'{text}' is not a number of cores, e.g. 8 or 0.5")),
    }
}

/// A size in MB: a plain number of MB, or a number with a unit (MB, GB, TB; 1 GB = 1024 MB).
fn parse_mb(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "m" | "mb" | "mib" => 1.0,
        "g" | "gb" | "gib" => 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0,
        _ => return Err(format!("'{text}' has an unknown unit; write MB, or use MB, GB or TB: 512MB, 2GB")),
    };
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok((value * scale).round() as u64),
        _ => Err(format!("'{text}' is not a size; write MB, or use MB, GB or TB: 512MB, 2GB")),
    }
}

fn aggregate_json(aggregate: Option<&v1::ResourceAggregate>) -> Value {
    aggregate.map_or(Value::Null, |a| json!({ "cpu": a.cpu, "ram_mb": a.ram_mb, "disk_mb": a.disk_mb }))
}

/// `quota get --json`: the quota (null when none is set) and each kind of use.
fn quota_json(role: &str, usage: &v1::GetQuotaResponse) -> Value {
    json!({
        "role": role,
        "quota": aggregate_json(usage.quota.as_ref()),
        "production": aggregate_json(usage.production.as_ref()),
        "dedicated": aggregate_json(usage.dedicated.as_ref()),
        "non_production": aggregate_json(usage.non_production.as_ref()),
        "unset_means_unlimited": usage.unset_means_unlimited,
    })
}

fn quota_table(role: &str, usage: &v1::GetQuotaResponse) -> String {
    // No quota: none at all (Aurora), or no limit on a scheduler that says so (`atoll dev`).
    let unset = if usage.unset_means_unlimited { "unlimited" } else { "none" };
    let row = |name: &str, a: Option<&v1::ResourceAggregate>| match a {
        Some(a) => vec![name.to_owned(), format!("{:.2}", a.cpu), a.ram_mb.to_string(), a.disk_mb.to_string()],
        None => vec![name.to_owned(), unset.to_owned(), unset.to_owned(), unset.to_owned()],
    };
    let used = |a: &Option<v1::ResourceAggregate>| a.unwrap_or_default();
    let rows = vec![
        row("quota", usage.quota.as_ref()),
        row("production (counted)", Some(&used(&usage.production))),
        row("dedicated", Some(&used(&usage.dedicated))),
        row("non-production", Some(&used(&usage.non_production))),
    ];
    format!("{role}\n{}", render::table(&["", "CPU (cores)", "RAM (MB)", "DISK (MB)"], &rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_mb_unless_a_unit_says_otherwise() {
        assert_eq!(parse_mb("512"), Ok(512));
        assert_eq!(parse_mb("512MB"), Ok(512));
        assert_eq!(parse_mb("2GB"), Ok(2048));
        assert_eq!(parse_mb("1.5g"), Ok(1536));
        assert_eq!(parse_mb("1TiB"), Ok(1_048_576));
        assert!(parse_mb("2PB").unwrap_err().contains("unknown unit"));
        assert!(parse_mb("lots").is_err());
        assert!(parse_cores("-1").is_err());
    }

    #[test]
    fn roles_are_cluster_slash_role() {
        assert_eq!(parse_role("devcluster/www-data").unwrap(), ("devcluster".into(), "www-data".into()));
        assert!(parse_role("devcluster").unwrap_err().message.contains("expected CLUSTER/ROLE"));
        assert!(parse_role("devcluster/www-data/prod").is_err());
    }

    #[test]
    fn an_unset_quota_is_shown_as_none_or_unlimited_as_the_scheduler_says() {
        let mut usage = v1::GetQuotaResponse {
            quota: None,
            production: Some(v1::ResourceAggregate { cpu: 1.5, ram_mb: 64, disk_mb: 128 }),
            dedicated: None,
            non_production: None,
            unset_means_unlimited: false,
        };
        assert!(quota_table("c/r", &usage).contains("quota                 none"), "{}", quota_table("c/r", &usage));
        usage.unset_means_unlimited = true;
        let text = quota_table("c/r", &usage);
        assert!(text.contains("quota                 unlimited"), "{text}");
        assert!(text.contains("production (counted)  1.50         64         128"), "{text}");
        assert_eq!(quota_json("c/r", &usage)["quota"], Value::Null);
        assert_eq!(quota_json("c/r", &usage)["production"]["ram_mb"], 64);
    }
}

//! `atoll sd …`: the ServerSet members of a job, as consumers see them, from the scheduler's
//! embedded registry.

use atoll_announce::{DEFAULT_ROOT, Member, serverset_path};
use atoll_client::{MemberEntry, RegistryReader};
use atoll_model::JobKey;
use atoll_proto::v1;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::args::SchedulerTarget;
use crate::exit::CliResult;
use crate::{job, render};

/// Which ServerSet to read.
#[derive(Args, Clone)]
pub struct ServerSetArgs {
    /// CLUSTER/ROLE/ENV/NAME.
    job: String,
    /// The ServerSet root.
    #[arg(long, default_value = DEFAULT_ROOT)]
    root: String,
    /// Read this path instead of ROOT/ROLE/ENV/NAME (a job's `Announcer.zk_path`).
    #[arg(long)]
    path: Option<String>,
    /// Read from this ZooKeeper ensemble instead of the scheduler's embedded registry.
    #[arg(long, value_name = "ENSEMBLE")]
    zk: Option<String>,
}

#[derive(Subcommand)]
pub enum SdCommand {
    /// List a job's ServerSet members.
    #[command(after_help = "Example:\n  atoll sd list devcluster/www-data/prod/web --json")]
    List {
        #[command(flatten)]
        serverset: ServerSetArgs,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a job's ServerSet members, and every change to them, until Ctrl-C.
    #[command(after_help = "Example:\n  atoll sd watch devcluster/www-data/prod/web")]
    Watch {
        #[command(flatten)]
        serverset: ServerSetArgs,
    },
}

/// The job's key and its ServerSet path.
fn locate(serverset: &ServerSetArgs) -> Result<(JobKey, String), crate::exit::CliError> {
    let key: JobKey = serverset.job.parse()?;
    let path = serverset_path(&serverset.root, &key, serverset.path.as_deref());
    Ok((key, path))
}

/// The embedded registry of the job's cluster, and the job's ServerSet path.
async fn open(
    serverset: &ServerSetArgs,
    target: &SchedulerTarget,
) -> Result<(RegistryReader, String), crate::exit::CliError> {
    let (key, path) = locate(serverset)?;
    let scheduler = job::connect(target, &key.cluster).await?;
    // A job the scheduler does not know is an unknown job (exit 10), not one without members.
    scheduler.tasks(&key, false).await?;
    Ok((RegistryReader::connect(scheduler.address(), scheduler.credentials()).await?, path))
}

pub async fn run(command: SdCommand, target: &SchedulerTarget) -> CliResult {
    match command {
        SdCommand::List { serverset, json } => {
            let members = match &serverset.zk {
                Some(ensemble) => {
                    let (_, path) = locate(&serverset)?;
                    let zookeeper = atoll_client::zookeeper(ensemble).await?;
                    (atoll_client::zookeeper_members(&zookeeper, &path).await?, path)
                }
                None => {
                    let (reader, path) = open(&serverset, target).await?;
                    (reader.members(&path).await?, path)
                }
            };
            let (members, path) = members;
            if json {
                println!("{}", members_json(&path, &members));
            } else {
                println!("{}", members_table(&path, &members));
            }
            Ok(())
        }
        SdCommand::Watch { serverset } => match serverset.zk.clone() {
            Some(ensemble) => {
                let (_, path) = locate(&serverset)?;
                let zookeeper = atoll_client::zookeeper(&ensemble).await?;
                let mut changes = zookeeper.changes(&path).await.map_err(atoll_client::zookeeper_error)?;
                loop {
                    println!("{}", members_table(&path, &atoll_client::zookeeper_members(&zookeeper, &path).await?));
                    changes.next().await;
                }
            }
            None => {
                let (reader, path) = open(&serverset, target).await?;
                let mut events = reader.watch(&path).await?;
                println!("{}", members_table(&path, &reader.members(&path).await?));
                while let Some(event) = events.next().await? {
                    if event.path != path && !event.path.starts_with(&format!("{path}/")) {
                        continue;
                    }
                    let kind = match v1::WatchEventKind::try_from(event.kind) {
                        Ok(v1::WatchEventKind::Created) => "+",
                        Ok(v1::WatchEventKind::Changed) => "~",
                        Ok(v1::WatchEventKind::Deleted) => "-",
                        _ => "?",
                    };
                    println!("[{kind}] {}", event.path);
                    println!("{}", members_table(&path, &reader.members(&path).await?));
                }
                Ok(())
            }
        },
    }
}

fn endpoint_text(member: &Member) -> (String, String) {
    let primary = format!("{}:{}", member.service_endpoint.host, member.service_endpoint.port);
    let others: Vec<String> =
        member.additional_endpoints.iter().map(|(name, e)| format!("{name}={}:{}", e.host, e.port)).collect();
    (primary, others.join(","))
}

fn members_table(path: &str, members: &[MemberEntry]) -> String {
    if members.is_empty() {
        return format!("{path}: no members");
    }
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|entry| match &entry.member {
            Ok(member) => {
                let (primary, others) = endpoint_text(member);
                let status = serde_json::to_value(member.status).ok().and_then(|v| v.as_str().map(str::to_owned));
                let shard = member.shard.map_or_else(String::new, |s| s.to_string());
                vec![entry.name.clone(), status.unwrap_or_default(), shard, primary, others]
            }
            Err(why) => {
                vec![entry.name.clone(), "?".into(), String::new(), format!("not a member: {why}"), String::new()]
            }
        })
        .collect();
    format!("{path}\n{}", render::table(&["MEMBER", "STATUS", "SHARD", "ENDPOINT", "ADDITIONAL"], &rows))
}

fn members_json(path: &str, members: &[MemberEntry]) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|entry| match &entry.member {
            Ok(member) => json!({ "name": entry.name, "member": member }),
            Err(why) => json!({ "name": entry.name, "error": why }),
        })
        .collect();
    json!({ "path": path, "members": members })
}

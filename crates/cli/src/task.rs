//! `atoll task logs JOB/INSTANCE`: a task's stdout or stderr, streamed from the agent that ran
//! it through the scheduler (`atoll.v1.LogService`), written to stdout as it arrives; and
//! `atoll task events JOB/INSTANCE`: every state the instance's kept tasks went through.

use std::io::{self, Write};

use atoll_client::{ApiErrorKind, ClientError, LogRequest};
use atoll_model::JobKey;
use atoll_proto::v1;
use clap::{Args, Subcommand};

use crate::args::SchedulerTarget;
use crate::exit::{CliError, CliResult};
use crate::{job, render};

#[derive(Subcommand)]
pub enum TaskCommand {
    /// Print what a job instance's task wrote, from the agent that ran it.
    #[command(after_help = "Examples:\n  atoll task logs devcluster/www-data/devel/hello/0 --tail 20\n  \
        atoll task logs devcluster/www-data/devel/hello/0 --process hello --stderr -f")]
    Logs(LogsArgs),
    /// Show every state a job instance has been through, over all its tasks kept: each with
    /// its time, host and message (health check failures, preemptions, throttles, exits).
    #[command(after_help = "Example:\n  atoll task events devcluster/www-data/devel/hello/0")]
    Events {
        /// CLUSTER/ROLE/ENV/NAME/INSTANCE.
        instance: String,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct LogsArgs {
    /// CLUSTER/ROLE/ENV/NAME/INSTANCE.
    instance: String,
    /// The process whose output to show; the task's first process by default.
    #[arg(long)]
    process: Option<String>,
    /// Show stderr instead of stdout.
    #[arg(long)]
    stderr: bool,
    /// Keep printing new output until the task ends (Ctrl-C stops sooner).
    #[arg(short, long)]
    follow: bool,
    /// Start with the last N lines instead of the whole log.
    #[arg(long, value_name = "N")]
    tail: Option<u32>,
}

pub async fn run(command: TaskCommand, target: &SchedulerTarget) -> CliResult {
    match command {
        TaskCommand::Logs(args) => logs(args, target).await,
        TaskCommand::Events { instance, json } => events(&instance, json, target).await,
    }
}

async fn events(text: &str, json: bool, target: &SchedulerTarget) -> CliResult {
    let (key, instance) = parse_instance(text)?;
    let client = job::connect(target, &key.cluster).await?;
    let tasks = client.tasks(&key, true).await?;
    let runs: Vec<&v1::TaskStatus> = tasks.iter().filter(|t| t.instance == instance).collect();
    if runs.is_empty() {
        return Err(CliError::invalid_parameter(format!(
            "job {key} has no instance {instance}; see `atoll job status {key}`"
        )));
    }
    let name = format!("{key}/{instance}");
    if json {
        println!("{}", render::events_json(&name, &runs));
    } else {
        println!("{}", render::events_table(&name, &runs));
    }
    Ok(())
}

async fn logs(args: LogsArgs, target: &SchedulerTarget) -> CliResult {
    let (job, instance) = parse_instance(&args.instance)?;
    let client = job::connect(target, &job.cluster).await?;
    let request = LogRequest {
        job,
        instance,
        process: args.process,
        stderr: args.stderr,
        tail_lines: args.tail,
        follow: args.follow,
    };
    let mut chunks = client.task_logs(&request).await.map_err(refusal)?;
    let mut out = io::stdout().lock();
    while let Some(chunk) = chunks.next().await.map_err(refusal)? {
        match out.write_all(&chunk).and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`| head`): nothing more to do.
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(error) => return Err(CliError::failed(format!("cannot write the logs: {error}"))),
        }
    }
    Ok(())
}

/// Splits `CLUSTER/ROLE/ENV/NAME/INSTANCE`.
fn parse_instance(text: &str) -> Result<(JobKey, u32), CliError> {
    let invalid = || {
        CliError::invalid_parameter(format!(
            "invalid instance '{text}': expected CLUSTER/ROLE/ENV/NAME/INSTANCE, e.g. devcluster/www-data/devel/hello/0"
        ))
    };
    let (job, instance) = text.rsplit_once('/').ok_or_else(invalid)?;
    let key: JobKey = job.parse().map_err(|_| invalid())?;
    let instance = instance.parse().map_err(|_| invalid())?;
    Ok((key, instance))
}

/// Aurora's exit codes for what the scheduler or the agent refused: a log that cannot be read
/// now (its agent gone, its sandbox not there yet) fails the command.
fn refusal(error: ClientError) -> CliError {
    match error {
        ClientError::Api { kind: ApiErrorKind::FailedPrecondition, message } => CliError::failed(message),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    #[test]
    fn an_instance_is_a_job_key_and_a_number() {
        let (key, instance) = parse_instance("devcluster/www-data/devel/hello/3").expect("valid");
        assert_eq!((key.to_string().as_str(), instance), ("devcluster/www-data/devel/hello", 3));
        for bad in ["devcluster/www-data/devel/hello", "devcluster/www-data/devel/hello/x", "hello/0"] {
            let error = parse_instance(bad).expect_err("invalid");
            assert_eq!(error.code, ExitCode::InvalidParameter, "{bad}");
            assert!(error.message.contains("CLUSTER/ROLE/ENV/NAME/INSTANCE"), "{}", error.message);
        }
    }

    #[test]
    fn refusals_map_to_auroras_exit_codes() {
        let api = |kind| ClientError::Api { kind, message: "why".into() };
        let cases = [
            (api(ApiErrorKind::NotFound), ExitCode::ApiError),
            (api(ApiErrorKind::FailedPrecondition), ExitCode::CommandFailed),
            (api(ApiErrorKind::DeadlineExceeded), ExitCode::Timeout),
            (ClientError::Unreachable { address: "http://x".into(), detail: "why".into() }, ExitCode::Unreachable),
        ];
        for (error, exit) in cases {
            let error = refusal(error);
            assert_eq!(error.code, exit);
            assert!(error.message.contains("why"), "{}", error.message);
        }
    }
}

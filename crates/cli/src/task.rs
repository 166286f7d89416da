//! `atoll task logs JOB/INSTANCE`: a task's stdout or stderr, streamed from the agent that ran
//! it through the scheduler (`atoll.v1.LogService`), written to stdout as it arrives; and
//! `atoll task events JOB/INSTANCE`: every state the instance's kept tasks went through.

use std::io::{self, Write};
use std::time::Duration;

use atoll_model::JobKey;
use atoll_proto::v1::{self, log_service_client::LogServiceClient};
use clap::{Args, Subcommand};
use tonic::Code;
use tonic::transport::Endpoint;

use crate::args::SchedulerTarget;
use crate::exit::{CliError, CliResult, ExitCode};
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
    let (key, instance) = parse_instance(&args.instance)?;
    let scheduler = job::connect(target, &key.cluster).await?;
    let address = scheduler.address().to_owned();
    let unreachable = |detail: String| {
        CliError::new(ExitCode::Unreachable, format!("cannot reach the scheduler at {address}: {detail}"))
    };
    let channel = Endpoint::from_shared(address.clone())
        .map_err(|e| unreachable(e.to_string()))?
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let request = v1::TaskLogsRequest {
        job: Some((&key).into()),
        instance,
        process: args.process.unwrap_or_default(),
        stream: if args.stderr { v1::LogStream::Stderr } else { v1::LogStream::Stdout } as i32,
        start: args.tail.map(|lines| v1::LogStart { from: Some(v1::log_start::From::TailLines(lines)) }),
        follow: args.follow,
    };
    let mut chunks = LogServiceClient::new(channel).task_logs(request).await.map_err(status_error)?.into_inner();
    let mut out = io::stdout().lock();
    while let Some(chunk) = chunks.message().await.map_err(status_error)? {
        match out.write_all(&chunk.data).and_then(|()| out.flush()) {
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

/// Aurora's exit codes for what the scheduler or the agent refused.
fn status_error(status: tonic::Status) -> CliError {
    let code = match status.code() {
        Code::FailedPrecondition => ExitCode::CommandFailed,
        Code::Unavailable => ExitCode::Unreachable,
        Code::DeadlineExceeded => ExitCode::Timeout,
        _ => ExitCode::ApiError,
    };
    CliError::new(code, status.message())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let cases = [
            (Code::NotFound, ExitCode::ApiError),
            (Code::FailedPrecondition, ExitCode::CommandFailed),
            (Code::Unavailable, ExitCode::Unreachable),
        ];
        for (code, exit) in cases {
            let error = status_error(tonic::Status::new(code, "why"));
            assert_eq!((error.code, error.message.as_str()), (exit, "why"));
        }
    }
}

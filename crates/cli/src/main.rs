//! `atoll`: the one binary of Atoll. It runs the scheduler, an agent, a task's executor or a
//! whole dev cluster, and is the client for everything else.
//!
//! This crate holds no scheduling logic: it parses arguments, loads job files through the
//! job language, calls the scheduler through the typed client, and renders what comes back.

mod args;
mod config;
mod cron;
mod daemons;
mod dev;
mod diff;
mod events;
mod exit;
mod framework;
mod generate;
mod host;
mod job;
mod jobfile;
mod plan;
mod quota;
mod render;
mod sd;
mod task;
mod update;
mod wakeups;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::exit::{CliError, ExitCode};

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage_error = e.use_stderr();
            let _ = e.print();
            // Aurora's "invalid parameter" for usage errors; help and version exit 0.
            return std::process::ExitCode::from(if usage_error { ExitCode::InvalidParameter as u8 } else { 0 });
        }
    };
    init_tracing(&cli.command);
    // One executor runs per task, so it stays small: a single-threaded runtime.
    let mut builder = match cli.command {
        Command::Executor(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(ExitCode::CommandFailed as u8);
        }
    };
    let target = cli.target;
    let result: Result<(), CliError> = runtime.block_on(async {
        match cli.command {
            Command::Scheduler(args) => {
                refuse_target(&target, "atoll scheduler", "it is the scheduler", true, false)?;
                daemons::scheduler(args, target.cluster.as_deref().unwrap_or(args::DEFAULT_CLUSTER)).await
            }
            Command::Agent(args) => {
                refuse_target(
                    &target,
                    "atoll agent",
                    "it serves the cluster of the scheduler it registers with",
                    false,
                    true,
                )?;
                daemons::agent(args, target.scheduler.as_deref().unwrap_or(atoll_client::DEVCLUSTER_URL)).await
            }
            Command::Executor(args) => {
                refuse_target(&target, "atoll executor", "its agent starts it", true, true)?;
                daemons::executor(args).await
            }
            Command::Dev(args) => {
                refuse_target(
                    &target,
                    "atoll dev",
                    "it runs cluster devcluster on its own scheduler (--grpc)",
                    true,
                    true,
                )?;
                dev::run(args).await
            }
            Command::Job(command) => job::run(command, &target).await,
            Command::Update(command) => update::run(command, &target).await,
            Command::Cron(command) => cron::run(command, &target).await,
            Command::Config(command) => {
                refuse_target(&target, "atoll config", "it reads job files and asks no scheduler", true, true)?;
                config::run(command)
            }
            Command::Sd(command) => sd::run(command, &target).await,
            Command::Task(command) => task::run(command, &target).await,
            Command::Events(args) => events::run(args, &target).await,
            Command::Host(command) => host::run(command, &target).await,
            Command::Quota(command) => quota::run(command, &target).await,
            Command::Framework(command) => framework::run(command, &target).await,
            Command::Completions { shell } => generate::completions(shell),
            Command::Man => generate::man_page(),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("error: {}", e.message);
            }
            std::process::ExitCode::from(e.code as u8)
        }
    }
}

/// Refuses `--scheduler` (with `no_scheduler`) and `--cluster` (with `no_cluster`) for a command
/// that has no use for them: nothing given on the command line is ignored.
fn refuse_target(
    target: &args::SchedulerTarget,
    command: &str,
    why: &str,
    no_scheduler: bool,
    no_cluster: bool,
) -> Result<(), CliError> {
    let unused = if no_scheduler && target.scheduler.is_some() {
        Some("--scheduler")
    } else if no_cluster && target.cluster.is_some() {
        Some("--cluster")
    } else {
        None
    };
    match unused {
        Some(flag) => Err(CliError::invalid_parameter(format!("{command} takes no {flag}: {why}"))),
        None => Ok(()),
    }
}

/// Daemons log at info by default; client commands only warn. `RUST_LOG` overrides both.
fn init_tracing(command: &Command) {
    let default = match command {
        Command::Scheduler(_) | Command::Agent(_) | Command::Executor(_) => "info",
        Command::Dev(_)
        | Command::Job(_)
        | Command::Update(_)
        | Command::Cron(_)
        | Command::Config(_)
        | Command::Sd(_)
        | Command::Task(_)
        | Command::Events(_)
        | Command::Host(_)
        | Command::Quota(_)
        | Command::Framework(_)
        | Command::Completions { .. }
        | Command::Man => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

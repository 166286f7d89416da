//! `atoll`: the one binary of Atoll. It runs the scheduler, an agent, a task's executor or a
//! whole dev cluster, and is the client for everything else.
//!
//! This crate holds no scheduling logic: it parses arguments, loads job files through the
//! job language, calls the scheduler through the typed client, and renders what comes back.

mod args;
mod config;
mod daemons;
mod dev;
mod diff;
mod exit;
mod host;
mod job;
mod jobfile;
mod plan;
mod quota;
mod render;
mod sd;
mod self_announce;
mod task;
mod update;

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
    let result: Result<(), CliError> = runtime.block_on(async {
        match cli.command {
            Command::Scheduler(args) => daemons::scheduler(args).await,
            Command::Agent(args) => daemons::agent(args).await,
            Command::Executor(args) => daemons::executor(args).await,
            Command::Dev(args) => dev::run(args).await,
            Command::Job(command) => job::run(command).await,
            Command::Update(command) => update::run(command).await,
            Command::Config(command) => config::run(command),
            Command::Sd(command) => sd::run(command).await,
            Command::Task(command) => task::run(command).await,
            Command::Host(command) => host::run(command).await,
            Command::Quota(command) => quota::run(command).await,
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

/// Daemons log at info by default; client commands only warn. `RUST_LOG` overrides both.
fn init_tracing(command: &Command) {
    let default = match command {
        Command::Scheduler(_) | Command::Agent(_) | Command::Executor(_) => "info",
        Command::Dev(_)
        | Command::Job(_)
        | Command::Update(_)
        | Command::Config(_)
        | Command::Sd(_)
        | Command::Task(_)
        | Command::Host(_)
        | Command::Quota(_) => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

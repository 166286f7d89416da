//! `echo-executor`: an example custom executor, written with the `atoll-framework` SDK. A
//! framework launches it as a task's `executor_command`; Atoll's executor runs it as the task's
//! one process and names the executor API's socket in `$ATOLL_EXECUTOR_SOCKET`. It reports the
//! task RUNNING, answers every message of its framework with `echo: ` and the message, and
//! reports KILLED and exits 0 when the task is killed. Each thing it does is a line on stdout,
//! so the task's log tells its story; the SDK's own logs go to stderr (`RUST_LOG`).

mod echo;

use std::io::IsTerminal;

use anyhow::{Context, bail};
use atoll_framework::{ExecutorDriver, ExecutorEnd};

use crate::echo::Echo;

const USAGE: &str = "\
echo-executor: an example custom executor for Atoll.

Not run by hand: a framework launches it as a task's executor_command, and Atoll's executor runs
it with $ATOLL_EXECUTOR_SOCKET naming the executor API's socket. It reports the task RUNNING
(\"echo executor up\"), answers each framework message DATA with the message \"echo: DATA\", and
reports KILLED and exits 0 when the task is killed. It writes a line to stdout for each.";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(other) => {
            eprintln!("echo-executor takes no arguments, not '{other}'; --help says what it does");
            std::process::exit(2);
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    let mut echo = Echo::default();
    let end = ExecutorDriver::run(&mut echo).await.context("the echo executor could not run its task")?;
    if let Some(failure) = echo.failure {
        return Err(failure);
    }
    match end {
        ExecutorEnd::Shutdown { .. } | ExecutorEnd::Stopped => {
            println!("echo executor exits");
            Ok(())
        }
        ExecutorEnd::StreamEnded => bail!("Atoll's executor ended the executor API's stream without SHUTDOWN"),
    }
}

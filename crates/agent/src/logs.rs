//! Task logs for `atoll task logs`: the agent reads what its tasks' executors wrote (the layout
//! and readers are the sandbox's, `atoll_sandbox::logs`) and serves it to the scheduler.
//!
//! Layout: `cursor` picks the process and run a request means and reads it chunk by chunk,
//! following; `service` is the agent's gRPC `AgentLogService`, which the scheduler calls.

mod cursor;
mod service;

use atoll_sandbox::SandboxError;
use atoll_sandbox::logs::{LogFileError, Stream};

pub use cursor::{Chunk, LogCursor, LogRequest, Start};
pub use service::{LogServer, fresh_secret, listen_ip};

/// The most bytes one read returns.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Why a log request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "no task {task} on this agent: it never ran here, or it ended and its sandbox was removed (the agent \
         keeps finished sandboxes for --sandbox-retention-secs, at most --sandboxes-kept of them)"
    )]
    NoSuchTask { task: String },
    #[error("task {task} has no process '{process}'; its processes: {known}")]
    NoSuchProcess { task: String, process: String, known: String },
    #[error("process '{process}' has not started yet")]
    NotStarted { process: String },
    #[error("process '{process}' has no run {run}; its newest run is {newest}")]
    NoSuchRun { process: String, run: u32, newest: u32 },
    #[error(
        "run {run} of process '{process}' has no {stream} file; its logger's destination may be console or none",
        stream = stream.file_name()
    )]
    NoLogFile { process: String, run: u32, stream: Stream },
    #[error(transparent)]
    Files(#[from] LogFileError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

//! Task logs on the host: writing each run's stdout and stderr as the process's `Logger` asks,
//! and reading them back for `atoll task logs`.
//!
//! A run logs to `<sandbox>/.logs/<process>/<run>/stdout` and `stderr`. A rotating logger
//! renames a full `stdout` to `stdout.1` (shifting older files up, keeping `backups` of them)
//! and records, in `stdout.offsets`, the logical offset at which each kept file starts, so an
//! offset into the stream means the same byte before and after any number of rotations.
//!
//! Layout: `index` is the offsets file and its lock; `rotate` the rotating writer; `output`
//! the executor's side (which stdio a run gets, and the pumps that copy piped output); `reader`
//! reads one stream as logical bytes across its files; `cursor` picks the process and run a
//! request means and reads it chunk by chunk, following; `service` is the agent's gRPC
//! `AgentLogService`, which the scheduler calls.

mod cursor;
mod index;
mod output;
mod reader;
mod rotate;
mod service;

use std::io;
use std::path::PathBuf;

pub use cursor::{Chunk, LogCursor, LogRequest, Start};
pub use output::{OutputPlan, spawn_pump};
pub use reader::{LogFiles, Snapshot};
pub use rotate::RotatingLog;
pub use service::{LogServer, listen_ip};

/// The most bytes one read or one pump buffer holds.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// One of a process's two output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name of the stream's current file in a run's log directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Why a log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("could not {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("{} is not a log offsets file: line {line} reads '{text}'", path.display())]
    MalformedIndex { path: PathBuf, line: usize, text: String },
    #[error("no task {task} on this agent")]
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
    Sandbox(#[from] crate::sandbox::SandboxError),
}

/// Wraps an I/O error with what was being done and to which path.
pub(crate) fn io_error(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> LogError {
    let path = path.into();
    move |source| LogError::Io { action, path, source }
}

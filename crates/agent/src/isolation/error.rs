//! The isolation layer's errors. Every message names the operation and the cgroup file or
//! directory it was applied to, so an operator can reproduce it by hand, e.g.
//! `cannot write 52428800 to /sys/fs/cgroup/memory/atoll/T/memory.limit_in_bytes: Invalid argument (os error 22)`.

use std::io;
use std::path::PathBuf;

/// Why a cgroup could not be created, limited, measured, emptied or removed.
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    /// A value could not be written to a cgroup control file.
    #[error("cannot write {value} to {}: {source}", path.display())]
    Write { value: String, path: PathBuf, source: io::Error },
    /// Any other file system operation (`read`, `create directory`, `remove directory`, `list`) failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    /// A control file held something other than what the kernel documents.
    #[error("cannot parse {}: unexpected content {content:?}", path.display())]
    Parse { path: PathBuf, content: String },
    /// A controller the isolator needs is not mounted (v1) or not available (v2).
    #[error("the cgroup {controller} controller is not available under {}", base.display())]
    MissingController { controller: &'static str, base: PathBuf },
    /// A task id or parent name that is not a single safe path component.
    #[error("invalid cgroup name {0:?}: use 1 to 200 letters, digits, '-', '_' or '.', not starting with '.'")]
    InvalidName(String),
    /// Limits the kernel would reject or that make no sense (no cpu, no memory).
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    /// A process listed in the group could not be signalled.
    #[error("cannot send SIGKILL to process {pid} of {}: {source}", path.display())]
    Signal { pid: u32, path: PathBuf, source: nix::Error },
    /// Processes were still in the group when `kill_all` gave up.
    #[error("processes {pids:?} are still in {} after repeated SIGKILL", path.display())]
    KillTimeout { path: PathBuf, pids: Vec<u32> },
}

impl IsolationError {
    /// The file or directory the failed operation was applied to, if there was one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            IsolationError::Write { path, .. }
            | IsolationError::Io { path, .. }
            | IsolationError::Parse { path, .. }
            | IsolationError::Signal { path, .. }
            | IsolationError::KillTimeout { path, .. } => Some(path),
            IsolationError::MissingController { base, .. } => Some(base),
            IsolationError::InvalidName(_) | IsolationError::InvalidLimits(_) => None,
        }
    }

    /// The underlying I/O error, for callers that distinguish "not permitted" from other failures.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            IsolationError::Write { source, .. } | IsolationError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

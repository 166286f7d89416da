//! The task log layout: the executor writes it, the agent reads it back for `atoll task logs`.
//!
//! A run logs to `<sandbox>/.logs/<process>/<run>/stdout` and `stderr`, runs counted from 0. A
//! rotating logger renames a full `stdout` to `stdout.1` (shifting older files up, keeping
//! `backups` of them) and records, in `stdout.offsets`, the logical offset at which each kept
//! file starts, so an offset into the stream means the same byte before and after any number
//! of rotations. A stream without an offsets file is one file, starting at offset 0.
//!
//! Layout: `index` is the offsets file and the lock both sides take on it (the writer
//! exclusively while it shifts files, readers shared while they open them); `reader` reads one
//! stream as logical bytes across its files. How the executor writes and rotates is its own.

mod index;
mod reader;

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::TaskUser;

pub use index::{LockedIndex, Segment, index_path};
pub use reader::{LogFiles, Snapshot};

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

/// Creates a run's log directory and those above it that are missing, each 0711: a task's user
/// reaches its own log files but lists nothing, and nobody can change the directories.
pub fn create_run_dir(dir: &Path) -> Result<(), LogFileError> {
    DirBuilder::new().recursive(true).mode(0o711).create(dir).map_err(LogFileError::io("create", dir))
}

/// Opens a log file for writing at its end (`truncate`: empty), creating it 0600 and, given the
/// task's user, that user's. A symbolic link in its place is refused, never followed.
pub fn open_log_file(path: &Path, truncate: bool, owner: Option<&TaskUser>) -> Result<File, LogFileError> {
    let file = OpenOptions::new()
        .create(true)
        .append(!truncate)
        .write(true)
        .truncate(truncate)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(LogFileError::io("open", path))?;
    if let Some(user) = owner {
        std::os::unix::fs::fchown(&file, Some(user.uid), Some(user.gid)).map_err(LogFileError::io("chown", path))?;
    }
    Ok(file)
}

/// A log file or offsets index that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    #[error("could not {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("{} is not a log offsets file: line {line} reads '{text}'", path.display())]
    MalformedIndex { path: PathBuf, line: usize, text: String },
}

impl LogFileError {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> LogFileError {
        let path = path.into();
        move |source| LogFileError::Io { action, path, source }
    }
}

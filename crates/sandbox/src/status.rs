//! The status file, `<root>/.executor/status.jsonl`: what the executor reported, one JSON line
//! per status, the last complete line the current one.
//!
//! Format 1 lines have no `format_version`; it is the only format so far.

use std::fs;
use std::io::{self, Write};

use atoll_model::TaskState;
use serde::{Deserialize, Serialize};

use crate::{Sandbox, SandboxError, format_1, io_error, known_format, parse, write_atomically};

/// The status line format this build writes; format 1 lines have no `format_version`.
pub const STATUS_FORMAT: u32 = 1;

/// The size past which the status file is compacted to its last line.
pub const STATUS_COMPACT_BYTES: u64 = 64 * 1024;

/// What the status file is, in messages.
const WHAT: &str = "an executor status";

/// What the executor last reported about its task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExecutorStatus {
    /// The line's format; a newer one than [`STATUS_FORMAT`] is refused.
    #[serde(default = "format_1")]
    pub format_version: u32,
    pub state: TaskState,
    pub message: String,
    /// Set once the task has ended: 0 when it finished, the failed process's code when it failed.
    pub exit_code: Option<i32>,
    pub executor_pid: u32,
    /// Process group ids of the task's live processes, so the agent can kill them if the
    /// executor dies.
    pub process_groups: Vec<i32>,
}

impl Sandbox {
    /// Appends a status to the status file as one line, written with a single write(2);
    /// compacts the file to that line once it has grown past [`STATUS_COMPACT_BYTES`].
    pub fn write_status(&self, status: &ExecutorStatus) -> Result<(), SandboxError> {
        let path = self.status_file();
        let mut line = serde_json::to_vec(status).expect("a status has string keys and no fallible fields");
        line.push(b'\n');
        let open = || fs::OpenOptions::new().create(true).append(true).open(&path);
        let opened = match open() {
            // The agent made the directory with the launch file; make it only if it is missing,
            // and never the sandbox itself: a sandbox removed under its executor stays removed.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let dir = self.executor_dir();
                fs::create_dir(&dir).map_err(io_error("create directory", &dir))?;
                open()
            }
            opened => opened,
        };
        let mut file = opened.map_err(io_error("open", &path))?;
        let before = file.metadata().map_err(io_error("read the size of", &path))?.len();
        if let Err(error) = file.write_all(&line) {
            // A line cut short (a full disk) is taken back, so the next one starts cleanly.
            let _ = file.set_len(before);
            return Err(io_error("append to", &path)(error));
        }
        if before + line.len() as u64 > STATUS_COMPACT_BYTES {
            write_atomically(&path, &line)?;
        }
        Ok(())
    }

    /// The last status written, or `None` if the executor has not completed one yet.
    pub fn read_status(&self) -> Result<Option<ExecutorStatus>, SandboxError> {
        let path = self.status_file();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error("read", &path)(error)),
        };
        let Some(line) = last_complete_line(&bytes) else { return Ok(None) };
        let status: ExecutorStatus = parse(&path, line, WHAT)?;
        known_format(&path, WHAT, status.format_version, STATUS_FORMAT)?;
        Ok(Some(status))
    }
}

/// The last line that ends in a newline, without it.
fn last_complete_line(bytes: &[u8]) -> Option<&[u8]> {
    let complete = &bytes[..bytes.iter().rposition(|&b| b == b'\n')?];
    let start = complete.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Some(&complete[start..])
}

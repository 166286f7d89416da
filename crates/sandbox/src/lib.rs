//! The sandbox protocol: the files a task's agent and its executor share, and nothing else.
//!
//! Every task runs in its own sandbox directory. The agent writes the launch file, starts
//! `atoll executor --sandbox <root>`, and polls the status file; the executor runs the task's
//! processes and logs their output. The two are different binaries that may be of different
//! releases: executors outlive agent upgrades, and an upgraded agent adopts the executors an
//! older one started. So every shared file has a fixed place and a format, and each format
//! that carries a version is read in every version up to this build's:
//!
//! | file (under the sandbox)          | written by | read by  | format              |
//! |-----------------------------------|------------|----------|---------------------|
//! | `.executor/launch.json`           | agent      | executor | [`LAUNCH_FORMAT`]   |
//! | `.executor/status.jsonl`          | executor   | agent    | [`STATUS_FORMAT`]   |
//! | `.executor/acknowledged`          | agent      | agent    | a task state's name |
//! | `.executor/{stdout,stderr}`       | executor   | people   | its own output      |
//! | `.executor/inbox/*.msg`           | agent      | executor | a framework message's bytes ([`MessageBox`]) |
//! | `.executor/outbox/*.msg`          | executor   | agent    | a custom executor's message's bytes |
//! | `.logs/PROCESS/RUN/…`             | executor   | agent    | [`logs`]            |
//! | `sandbox/` ([`TASK_HOME`])        | the task   | the task | its cwd and `HOME`  |
//! | `sandbox/.thermos_profile` ([`PROFILE`]) | the task | its processes, first | bash |
//! | `sandbox/`[`HEALTH_CHECK_SNOOZE`] | the task   | executor | present or not      |
//!
//! The agent reads launch files too, at recovery and to serve logs.
//!
//! Ownership, as Aurora's: the sandbox and everything the agent and executor keep in it belong
//! to the agent's user (root on a real host), and `.executor/` is that user's alone; the task's
//! own directory, `sandbox/`, belongs to the task's user ([`TaskUser`]) and is closed to
//! everyone else (0700); its log files are that user's too (0600) in directories others can
//! pass through but not list (0711). So a task can neither read another's files nor make the
//! agent or executor, which run as root, follow a link it planted: they write only in
//! directories the task cannot change. Launch files before format 4 ran the task in the
//! sandbox itself ([`Sandbox::prepare_task_home`]).
//!
//! The launch file is written atomically (temporary file, then rename). The status file is only
//! appended to, each line with one write(2), so a reader sees whole lines plus at most a partial
//! last line, which it ignores; past [`STATUS_COMPACT_BYTES`] it is replaced, atomically, by its
//! last line. Appending rather than replacing the file per status keeps a burst of launches from
//! freeing thousands of inodes, which ext4 then steps over one by one as it allocates new ones.
//! Neither file is fsynced: they describe processes on this host, which a host crash ends anyway
//! (its tasks become LOST and are rescheduled), while an agent or executor that restarts reads
//! them back from the page cache.
//!
//! The agent also hands the executor the task's control groups, as directories in the launch
//! file, and the task's user; [`ChildSetup`] is how each process the executor starts enters
//! the groups and becomes the user.
//!
//! Invariants: a file in a format newer than this build reads is refused with its path, never
//! guessed at; every older format is read (golden files in `testdata/`). No tokio, no gRPC: the
//! protocol is files and the types in them.

mod child;
mod launch;
pub mod logs;
mod messages;
mod status;
#[cfg(test)]
mod tests;

use std::fs::{self, DirBuilder, File};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use atoll_model::TaskState;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use child::{ChildSetup, GroupEntryError};
pub use launch::{AgentWatch, LAUNCH_FORMAT, Launch, LaunchFile, RegistryTarget};
pub use messages::{MESSAGES_KEPT, MessageBox};
pub use status::{ExecutorStatus, STATUS_COMPACT_BYTES, STATUS_FORMAT};

/// The sandbox file every process of the task sources first, through `BASH_ENV` (Aurora's
/// `.thermos_profile`).
pub const PROFILE: &str = ".thermos_profile";

/// The environment variable the agent hands an executor its token in (for the scheduler's
/// embedded registry); the task's processes, whose environment is their own, never see it.
pub const TOKEN_VARIABLE: &str = "ATOLL_TOKEN";

/// The environment variable the agent hands an executor the path of its CA certificate in, for
/// an `https://` scheduler's embedded registry.
pub const CA_FILE_VARIABLE: &str = "ATOLL_CA_FILE";

/// The environment variables the agent hands an executor the paths of its own certificate and
/// key in, which the executor presents to an `https://` scheduler in place of a token.
pub const CERT_FILE_VARIABLE: &str = "ATOLL_CERT_FILE";
/// See [`CERT_FILE_VARIABLE`].
pub const KEY_FILE_VARIABLE: &str = "ATOLL_KEY_FILE";

/// The task's own directory under the sandbox (Aurora's `sandbox`): its processes' working
/// directory and `HOME`, owned by the task's user.
pub const TASK_HOME: &str = "sandbox";

/// The sandbox file that, while it exists, makes every health check pass.
pub const HEALTH_CHECK_SNOOZE: &str = ".healthchecksnooze";

/// The user a task's processes run as, as its agent found it on the host: the name and the ids
/// the executor switches to (`groups`: every group the user is in, its own included).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TaskUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// A sandbox file that could not be read, written or understood.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("{} is not valid JSON for {what}: {source}", path.display())]
    Malformed { what: &'static str, path: PathBuf, source: serde_json::Error },
    #[error("{} is {what} in format {found}, newer than this Atoll reads ({known}); upgrade the agent", path.display())]
    NewerFormat { what: &'static str, path: PathBuf, found: u32, known: u32 },
}

/// A task's sandbox directory and the layout of the files in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    pub fn new(root: impl Into<PathBuf>) -> Sandbox {
        Sandbox { root: root.into() }
    }

    /// The sandbox directory; the task's processes run here.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/.executor/launch.json`
    pub fn launch_file(&self) -> PathBuf {
        self.executor_dir().join("launch.json")
    }

    /// `<root>/.executor/status.jsonl`
    pub fn status_file(&self) -> PathBuf {
        self.executor_dir().join("status.jsonl")
    }

    /// `<root>/.executor/acknowledged`: the end of the task the scheduler acknowledged.
    pub fn acknowledged_file(&self) -> PathBuf {
        self.executor_dir().join("acknowledged")
    }

    /// `<root>/.executor/stdout` or `stderr`: the executor's own output.
    pub fn executor_output(&self, stream: logs::Stream) -> PathBuf {
        self.executor_dir().join(stream.file_name())
    }

    /// `<root>/.logs/<process>/<run>`, holding that run's `stdout` and `stderr`.
    pub fn process_log_dir(&self, process: &str, run: u32) -> PathBuf {
        self.root.join(".logs").join(process).join(run.to_string())
    }

    /// Records that the scheduler acknowledged the task's end, `state`, so that no later agent
    /// reports it again.
    pub fn write_acknowledged(&self, state: TaskState) -> Result<(), SandboxError> {
        let path = self.acknowledged_file();
        fs::write(&path, state.name()).map_err(io_error("write", &path))
    }

    /// Whether the scheduler acknowledged the task's end.
    pub fn is_acknowledged(&self) -> bool {
        fs::read_to_string(self.acknowledged_file()).is_ok()
    }

    fn executor_dir(&self) -> PathBuf {
        self.root.join(".executor")
    }
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("sandbox files have string keys and no fallible fields")
}

fn parse<T: DeserializeOwned>(path: &Path, bytes: &[u8], what: &'static str) -> Result<T, SandboxError> {
    serde_json::from_slice(bytes).map_err(|source| SandboxError::Malformed { what, path: path.to_owned(), source })
}

/// Refuses a file in a format newer than this build reads.
fn known_format(path: &Path, what: &'static str, found: u32, known: u32) -> Result<(), SandboxError> {
    if found > known {
        return Err(SandboxError::NewerFormat { what, path: path.to_owned(), found, known });
    }
    Ok(())
}

/// The format of the files that had none written in them.
fn format_1() -> u32 {
    1
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SandboxError {
    let path = path.to_owned();
    move |source| SandboxError::Io { action, path, source }
}

/// Creates `dir` 0700 (its parents as usual, so others may pass through them) unless it exists.
fn create_private_dir(dir: &Path) -> Result<(), SandboxError> {
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).map_err(io_error("create directory", parent))?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Err(error) if error.kind() != io::ErrorKind::AlreadyExists => Err(io_error("create directory", dir)(error)),
        _ => Ok(()),
    }
}

/// Writes `contents` to a temporary file next to `path` and renames it over `path`.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), SandboxError> {
    let dir = path.parent().expect("sandbox files live in a directory");
    create_private_dir(dir)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary).map_err(io_error("create", &temporary))?;
    file.write_all(contents).map_err(io_error("write", &temporary))?;
    fs::rename(&temporary, path).map_err(io_error("rename into place", path))
}

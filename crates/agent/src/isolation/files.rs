//! Reading and writing cgroupfs control files, with errors that name the file and operation.
//!
//! Writes open with `O_CREAT`: on a real cgroupfs the kernel has already created every control
//! file when the group's directory was made (and refuses to create others), while on the fake
//! trees the unit tests use, the write creates the file. `cgroup.procs` is opened for append so a
//! fake tree accumulates pids the way the kernel's listing does.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::IsolationError;

/// How long to sleep between polls of a group that is emptying.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// Writes `value` (plus a newline) to a control file, replacing its content.
pub(crate) fn write_value(path: &Path, value: &str) -> Result<(), IsolationError> {
    write_with(path, value, OpenOptions::new().write(true).create(true).truncate(true))
}

/// Appends `value` (plus a newline) to a control file: one pid to `cgroup.procs`.
pub(crate) fn append_value(path: &Path, value: &str) -> Result<(), IsolationError> {
    write_with(path, value, OpenOptions::new().create(true).append(true))
}

fn write_with(path: &Path, value: &str, options: &OpenOptions) -> Result<(), IsolationError> {
    let write = || -> io::Result<()> {
        let mut file = options.open(path)?;
        // One write call: cgroupfs takes each write(2) as one whole value.
        file.write_all(format!("{value}\n").as_bytes())
    };
    write().map_err(|source| IsolationError::Write { value: value.to_owned(), path: path.to_owned(), source })
}

/// The whole content of a control file.
pub(crate) fn read_text(path: &Path) -> Result<String, IsolationError> {
    fs::read_to_string(path).map_err(|source| IsolationError::Io { op: "read", path: path.to_owned(), source })
}

/// A control file holding one unsigned number (`memory.usage_in_bytes`, `cpuacct.usage`, …).
pub(crate) fn read_u64(path: &Path) -> Result<u64, IsolationError> {
    let text = read_text(path)?;
    text.trim().parse().map_err(|_| IsolationError::Parse { path: path.to_owned(), content: text })
}

/// Like [`read_u64`], but `None` when the file does not exist.
pub(crate) fn read_u64_if_present(path: &Path) -> Result<Option<u64>, IsolationError> {
    if path.exists() { read_u64(path).map(Some) } else { Ok(None) }
}

/// The value of `key` in a flat keyed file (`key value` per line: `memory.events`, `cpu.stat`,
/// `memory.oom_control`); `Ok(None)` when the key is absent.
pub(crate) fn keyed_value(path: &Path, text: &str, key: &str) -> Result<Option<u64>, IsolationError> {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some(key) {
            let parsed = words.next().and_then(|v| v.parse().ok());
            return parsed
                .map(Some)
                .ok_or_else(|| IsolationError::Parse { path: path.to_owned(), content: text.to_owned() });
        }
    }
    Ok(None)
}

/// The pids listed in a `cgroup.procs` file.
pub(crate) fn read_pids(path: &Path) -> Result<Vec<u32>, IsolationError> {
    let text = read_text(path)?;
    text.split_whitespace()
        .map(|word| word.parse().map_err(|_| IsolationError::Parse { path: path.to_owned(), content: text.clone() }))
        .collect()
}

/// Creates one directory level; an existing directory is fine (creation is idempotent).
pub(crate) fn make_dir(path: &Path) -> Result<(), IsolationError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(source) => Err(IsolationError::Io { op: "create directory", path: path.to_owned(), source }),
    }
}

/// Removes a group directory, retrying while the kernel reports it busy (its last processes are
/// still exiting) until `timeout` has passed. A directory that is already gone is fine.
pub(crate) fn remove_dir_retrying(path: &Path, timeout: Duration) -> Result<(), IsolationError> {
    let deadline = Instant::now() + timeout;
    loop {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ResourceBusy && Instant::now() < deadline => thread::sleep(POLL),
            Err(source) => return Err(IsolationError::Io { op: "remove directory", path: path.to_owned(), source }),
        }
    }
}

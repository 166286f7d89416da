//! Entering the control groups a launch file names.
//!
//! The agent creates a task's groups and lists their directories in the launch file
//! (`cgroups`); the executor opens their `cgroup.procs` files, and each process it starts
//! (the task's processes and its shell health checks) writes `0`, itself, to every one of them
//! between fork and exec. So the task's limits bind the task's processes and everything they
//! start, never the executor that supervises them, and no process is ever moved by another.
//!
//! This is the workspace's one piece of unsafe code (a `pre_exec` hook), kept the only one by
//! `tests/workspace_invariants.rs`.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

/// How a task's processes enter its control groups: the `cgroup.procs` files of the task's
/// group directories, held open by its executor.
#[derive(Clone, Debug, Default)]
pub struct GroupEntry {
    procs: Arc<Vec<OwnedFd>>,
}

/// A group's `cgroup.procs` file that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open {}: {source}", path.display())]
pub struct GroupEntryError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl GroupEntry {
    /// Opens the `cgroup.procs` file of each directory; the error names the one that failed.
    pub fn open(dirs: &[PathBuf]) -> Result<GroupEntry, GroupEntryError> {
        let procs = dirs
            .iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map(OwnedFd::from)
                    .map_err(|source| GroupEntryError { path, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(GroupEntry { procs: Arc::new(procs) })
    }

    /// Makes every process `command` starts enter the groups before it runs anything; if it
    /// cannot, the spawn fails with the kernel's error. For a `tokio::process::Command`, pass
    /// its `as_std_mut()`.
    #[allow(unsafe_code)]
    pub fn apply(&self, command: &mut Command) {
        if self.procs.is_empty() {
            return;
        }
        let procs = Arc::clone(&self.procs);
        let enter = move || -> io::Result<()> {
            // Runs in the child between fork and exec: one write(2) per file, no allocation.
            for fd in procs.iter() {
                nix::unistd::write(fd, b"0").map_err(io::Error::from)?;
            }
            Ok(())
        };
        // SAFETY: `enter` only calls write(2), which is async-signal-safe, on descriptors the
        // parent opened (close-on-exec, so the task never inherits them).
        unsafe {
            command.pre_exec(enter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_entry_that_cannot_open_a_procs_file_names_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("gone");
        let error = GroupEntry::open(std::slice::from_ref(&missing)).expect_err("no such group");
        let message = error.to_string();
        assert!(message.starts_with("cannot open "), "{message}");
        assert!(message.contains(&missing.join("cgroup.procs").display().to_string()), "{message}");
    }

    #[test]
    fn a_process_started_with_an_entry_writes_itself_to_each_procs_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let groups = [dir.path().join("memory"), dir.path().join("cpu")];
        for group in &groups {
            std::fs::create_dir(group).expect("create group directory");
            std::fs::write(group.join("cgroup.procs"), "").expect("create procs file");
        }
        let entry = GroupEntry::open(&groups).expect("open");
        let mut command = Command::new("true");
        entry.apply(&mut command);
        assert!(command.status().expect("run true").success());
        for group in &groups {
            assert_eq!(std::fs::read_to_string(group.join("cgroup.procs")).expect("read"), "0");
        }
    }
}

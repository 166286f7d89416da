//! What every process the executor starts for a task does between fork and exec: it enters the
//! task's control groups, then becomes the task's user.
//!
//! The agent creates a task's groups and lists their directories in the launch file
//! (`cgroups`), and resolves the task's user on its host (`user`); the executor opens the
//! groups' `cgroup.procs` files once, and each process it starts (the task's processes, its
//! finalisers and its shell health checks) writes `0`, itself, to every one of them, then sets
//! its supplementary groups, its group and its user, in that order, and only then runs anything.
//! So the task's limits bind the task's processes and everything they start, never the executor
//! that supervises them; no process is ever moved by another; and a process that cannot become
//! the task's user fails to start rather than run as anyone else.
//!
//! This is the workspace's one piece of unsafe code (a `pre_exec` hook), kept the only one by
//! `tests/workspace_invariants.rs`.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use nix::unistd::{Gid, Uid};

use crate::TaskUser;

/// How a task's processes become the task's: the `cgroup.procs` files of its group directories,
/// held open by its executor, and the user they run as (`None`: the executor's own).
#[derive(Clone, Debug, Default)]
pub struct ChildSetup {
    procs: Arc<Vec<OwnedFd>>,
    identity: Option<Arc<Identity>>,
}

/// A user's ids, ready for the calls a child makes before exec.
#[derive(Debug)]
struct Identity {
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
}

/// A group's `cgroup.procs` file that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open {}: {source}", path.display())]
pub struct GroupEntryError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl ChildSetup {
    /// Opens the `cgroup.procs` file of each directory (the error names the one that failed);
    /// with `user`, every process also becomes that user.
    pub fn open(dirs: &[PathBuf], user: Option<&TaskUser>) -> Result<ChildSetup, GroupEntryError> {
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
        let identity = user.map(|user| {
            Arc::new(Identity {
                uid: Uid::from_raw(user.uid),
                gid: Gid::from_raw(user.gid),
                groups: user.groups.iter().copied().map(Gid::from_raw).collect(),
            })
        });
        Ok(ChildSetup { procs: Arc::new(procs), identity })
    }

    /// Makes every process `command` starts enter the groups and take the user before it runs
    /// anything; if it cannot, the spawn fails with the kernel's error. For a
    /// `tokio::process::Command`, pass its `as_std_mut()`.
    #[allow(unsafe_code)]
    pub fn apply(&self, command: &mut Command) {
        if self.procs.is_empty() && self.identity.is_none() {
            return;
        }
        let procs = Arc::clone(&self.procs);
        let identity = self.identity.clone();
        let become_the_tasks = move || -> io::Result<()> {
            // Runs in the child between fork and exec: system calls on what the parent
            // prepared, no allocation. The groups first, while the child may still write to
            // root's files; the user last, since after it the child may change nothing else.
            for fd in procs.iter() {
                nix::unistd::write(fd, b"0").map_err(io::Error::from)?;
            }
            if let Some(identity) = &identity {
                nix::unistd::setgroups(&identity.groups).map_err(io::Error::from)?;
                nix::unistd::setgid(identity.gid).map_err(io::Error::from)?;
                nix::unistd::setuid(identity.uid).map_err(io::Error::from)?;
            }
            Ok(())
        };
        // SAFETY: the hook only makes async-signal-safe system calls (write(2), setgroups(2),
        // setgid(2), setuid(2)) on descriptors and ids the parent prepared; the descriptors are
        // close-on-exec, so the task never inherits them.
        unsafe {
            command.pre_exec(become_the_tasks);
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
        let error = ChildSetup::open(std::slice::from_ref(&missing), None).expect_err("no such group");
        let message = error.to_string();
        assert!(message.starts_with("cannot open "), "{message}");
        assert!(message.contains(&missing.join("cgroup.procs").display().to_string()), "{message}");
    }

    #[test]
    fn a_process_started_with_a_setup_writes_itself_to_each_procs_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let groups = [dir.path().join("memory"), dir.path().join("cpu")];
        for group in &groups {
            std::fs::create_dir(group).expect("create group directory");
            std::fs::write(group.join("cgroup.procs"), "").expect("create procs file");
        }
        let setup = ChildSetup::open(&groups, None).expect("open");
        let mut command = Command::new("true");
        setup.apply(&mut command);
        assert!(command.status().expect("run true").success());
        for group in &groups {
            assert_eq!(std::fs::read_to_string(group.join("cgroup.procs")).expect("read"), "0");
        }
    }

    /// As root the child runs as `nobody` with exactly the groups given; as anyone else it cannot
    /// switch, and so never starts (CI runs as root and sees the first).
    #[test]
    fn a_process_takes_the_tasks_user_and_groups_or_does_not_start() {
        let nobody = TaskUser { name: "nobody".into(), uid: 65534, gid: 65534, groups: vec![65534, 4] };
        let setup = ChildSetup::open(&[], Some(&nobody)).expect("no groups to open");
        let mut command = Command::new("sh");
        command.args(["-c", "echo $(id -u) $(id -g) $(id -G)"]);
        setup.apply(&mut command);
        if nix::unistd::geteuid().is_root() {
            let output = command.output().expect("run as nobody");
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "65534 65534 65534 4");
        } else {
            let error = command.output().expect_err("only root may switch users");
            assert_eq!(error.raw_os_error(), Some(nix::libc::EPERM), "{error}");
        }
    }
}

//! Which user each task runs as on this host (Mesos' `--switch_user`, Aurora's role users).
//!
//! A task runs as its `user`, or as its role when it names none. The agent finds that user in
//! the host's user database at launch (uid, group and every supplementary group) and checks it
//! against what the operator allows: never uid 0 unless the agent was started with
//! `--allow-root`, and only the names of `--allowed-users` when that is given. A user that does
//! not exist or is not allowed fails the task with a message naming the user and the host; the
//! task never runs as anyone else. The executor switches each process to the user it was given
//! (`atoll_sandbox::ChildSetup`).
//!
//! An agent that is not root cannot switch users; it refuses to start unless told to run every
//! task as itself (`--no-switch-user`, what `atoll dev` does), and so does one whose work
//! directory the tasks' users could not reach.
//!
//! [`TaskUsers`] is the pure rule; [`lookup`] and [`unreachable_ancestor`] are its edges.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use atoll_sandbox::TaskUser;

/// How this agent picks the user of each task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskUsers {
    /// Every task runs as the agent's own user (`--no-switch-user`).
    AgentsOwn,
    /// Each task runs as its user.
    Switch {
        /// The only users tasks may run as; `None`: any user but root.
        allowed: Option<BTreeSet<String>>,
        /// Whether a task may run as uid 0.
        allow_root: bool,
    },
}

/// Why the agent cannot run tasks as their users.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error(
        "running tasks as their users needs root, and this agent runs as uid {uid}: start it as root, or pass \
         --no-switch-user to run every task as the agent's own user"
    )]
    NotRoot { uid: u32 },
    #[error(
        "the tasks' users cannot reach the work directory: {} is mode {mode:04o}, closed to others; make it \
         passable (chmod o+x {}) or choose another --work-dir",
        dir.display(), dir.display()
    )]
    Unreachable { dir: PathBuf, mode: u32 },
}

impl TaskUsers {
    /// Checks that this agent can run tasks as this policy says: as `euid`, with the work
    /// directory's first ancestor closed to others, if any.
    pub fn check_start(&self, euid: u32, closed: Option<(PathBuf, u32)>) -> Result<(), StartError> {
        if matches!(self, TaskUsers::AgentsOwn) {
            return Ok(());
        }
        if euid != 0 {
            return Err(StartError::NotRoot { uid: euid });
        }
        match closed {
            Some((dir, mode)) => Err(StartError::Unreachable { dir, mode }),
            None => Ok(()),
        }
    }

    /// The user a task wanting `wanted` runs as on `hostname` (`None`: the agent's own), found
    /// through `lookup`; the error is the task's failure message.
    pub fn resolve(
        &self,
        wanted: &str,
        hostname: &str,
        lookup: impl FnOnce(&str) -> io::Result<Option<TaskUser>>,
    ) -> Result<Option<TaskUser>, String> {
        let TaskUsers::Switch { allowed, allow_root } = self else { return Ok(None) };
        if let Some(allowed) = allowed
            && !allowed.contains(wanted)
        {
            let names: Vec<&str> = allowed.iter().map(String::as_str).collect();
            return Err(format!(
                "user '{wanted}' is not one the agent on host {hostname} may run tasks as (--allowed-users {})",
                names.join(",")
            ));
        }
        let user = match lookup(wanted) {
            Ok(Some(user)) => user,
            Ok(None) => return Err(format!("user '{wanted}' does not exist on host {hostname}")),
            Err(error) => return Err(format!("could not look up user '{wanted}' on host {hostname}: {error}")),
        };
        if user.uid == 0 && !allow_root {
            return Err(format!(
                "user '{wanted}' is root (uid 0), and the agent on host {hostname} runs no task as root unless \
                 started with --allow-root"
            ));
        }
        if (user.gid == 0 || user.groups.contains(&0)) && !allow_root {
            return Err(format!(
                "user '{wanted}' is in group root (gid 0), and the agent on host {hostname} runs no task with \
                 root's group unless started with --allow-root"
            ));
        }
        Ok(Some(user))
    }

    /// How the agent's start describes the policy.
    pub fn describe(&self) -> String {
        match self {
            TaskUsers::AgentsOwn => "every task as the agent's own user (--no-switch-user)".to_owned(),
            TaskUsers::Switch { allowed: Some(allowed), allow_root } => format!(
                "each task as its user, among {}{}",
                allowed.iter().map(String::as_str).collect::<Vec<_>>().join(","),
                if *allow_root { "" } else { " (never root)" }
            ),
            TaskUsers::Switch { allowed: None, allow_root: true } => "each task as its user, root included".to_owned(),
            TaskUsers::Switch { allowed: None, allow_root: false } => {
                "each task as its user, never root (--allow-root allows it)".to_owned()
            }
        }
    }
}

/// The user `name` in this host's user database, with every group it is in.
pub fn lookup(name: &str) -> io::Result<Option<TaskUser>> {
    let Some(user) = nix::unistd::User::from_name(name).map_err(io::Error::from)? else { return Ok(None) };
    let c_name = std::ffi::CString::new(name).map_err(|_| io::Error::other("a user name with a NUL byte"))?;
    let groups = nix::unistd::getgrouplist(&c_name, user.gid).map_err(io::Error::from)?;
    Ok(Some(TaskUser {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups: groups.into_iter().map(|gid| gid.as_raw()).collect(),
    }))
}

/// The first directory on the way to `dir` (`dir` included) that others may not pass through,
/// with its mode; `None` when every one of them is passable.
pub fn unreachable_ancestor(dir: &Path) -> io::Result<Option<(PathBuf, u32)>> {
    let dir = std::path::absolute(dir)?;
    for ancestor in dir.ancestors().collect::<Vec<_>>().into_iter().rev() {
        let mode = std::fs::metadata(ancestor)?.permissions().mode() & 0o7777;
        if mode & 0o001 == 0 {
            return Ok(Some((ancestor.to_owned(), mode)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice(uid: u32) -> TaskUser {
        TaskUser { name: "alice".into(), uid, gid: 100, groups: vec![100, 27] }
    }

    fn switch() -> TaskUsers {
        TaskUsers::Switch { allowed: None, allow_root: false }
    }

    #[test]
    fn a_task_runs_as_its_user_when_it_exists_and_is_allowed() {
        let found = switch().resolve("alice", "host1", |name| {
            assert_eq!(name, "alice");
            Ok(Some(alice(1001)))
        });
        assert_eq!(found, Ok(Some(alice(1001))));
        let own = TaskUsers::AgentsOwn.resolve("alice", "host1", |_| panic!("no lookup when not switching"));
        assert_eq!(own, Ok(None));
    }

    #[test]
    fn a_user_that_does_not_exist_or_cannot_be_looked_up_fails_naming_user_and_host() {
        assert_eq!(
            switch().resolve("ghost", "host1", |_| Ok(None)),
            Err("user 'ghost' does not exist on host host1".into())
        );
        let error = switch().resolve("alice", "host1", |_| Err(io::Error::other("nss is down"))).unwrap_err();
        assert_eq!(error, "could not look up user 'alice' on host host1: nss is down");
    }

    #[test]
    fn root_is_refused_unless_allowed_whatever_it_is_called() {
        let toor = TaskUser { name: "toor".into(), uid: 0, gid: 0, groups: vec![0] };
        let error = switch().resolve("toor", "host1", |_| Ok(Some(toor.clone()))).unwrap_err();
        assert!(error.starts_with("user 'toor' is root (uid 0), and the agent on host host1"), "{error}");
        assert!(error.ends_with("unless started with --allow-root"), "{error}");
        let allowing = TaskUsers::Switch { allowed: None, allow_root: true };
        assert_eq!(allowing.resolve("toor", "host1", |_| Ok(Some(toor.clone()))), Ok(Some(toor)));
        let wheel = TaskUser { name: "op".into(), uid: 1001, gid: 100, groups: vec![100, 0] };
        let error = switch().resolve("op", "host1", |_| Ok(Some(wheel.clone()))).unwrap_err();
        assert!(error.starts_with("user 'op' is in group root (gid 0)"), "{error}");
    }

    #[test]
    fn only_the_allowed_users_run_when_a_list_is_given() {
        let policy = TaskUsers::Switch { allowed: Some(["alice".into(), "bob".into()].into()), allow_root: false };
        assert_eq!(policy.resolve("alice", "h", |_| Ok(Some(alice(1001)))), Ok(Some(alice(1001))));
        let error = policy.resolve("carol", "h", |_| panic!("not looked up")).unwrap_err();
        assert_eq!(error, "user 'carol' is not one the agent on host h may run tasks as (--allowed-users alice,bob)");
    }

    #[test]
    fn switching_users_needs_root_and_a_work_directory_others_can_reach() {
        assert_eq!(TaskUsers::AgentsOwn.check_start(1000, Some(("/x".into(), 0o700))), Ok(()));
        assert_eq!(switch().check_start(1000, None), Err(StartError::NotRoot { uid: 1000 }));
        assert!(StartError::NotRoot { uid: 1000 }.to_string().contains("pass --no-switch-user"));
        assert_eq!(switch().check_start(0, None), Ok(()));
        let closed = switch().check_start(0, Some(("/srv/atoll".into(), 0o700))).unwrap_err();
        assert_eq!(
            closed.to_string(),
            "the tasks' users cannot reach the work directory: /srv/atoll is mode 0700, closed to others; make it \
             passable (chmod o+x /srv/atoll) or choose another --work-dir"
        );
    }

    #[test]
    fn the_first_closed_directory_on_the_way_is_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let inner = dir.path().join("a/b");
        std::fs::create_dir_all(&inner).expect("create");
        let set = |path: &Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
        set(dir.path(), 0o711).expect("chmod");
        set(&dir.path().join("a"), 0o750).expect("chmod");
        assert_eq!(unreachable_ancestor(&inner).expect("walk"), Some((dir.path().join("a"), 0o750)));
        set(&dir.path().join("a"), 0o755).expect("chmod");
        assert_eq!(unreachable_ancestor(&inner).expect("walk"), None);
    }

    #[test]
    fn this_hosts_users_are_found_with_their_groups() {
        let root = lookup("root").expect("look up").expect("every host has root");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0), "{root:?}");
        assert_eq!(lookup("atoll-no-such-user").expect("look up"), None);
    }
}

//! One task's control group: moving the task's processes in, reading its usage and OOM kills,
//! emptying it and removing it.
//!
//! A [`TaskGroup`] holds only paths under the isolator's parent group; `kill_all` signals only
//! pids the kernel lists in the group's own `cgroup.procs` (never pid 0, 1 or the agent itself).
//! Dropping a `TaskGroup` leaves the group in place: it belongs to the task, not to this value.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::IsolationError;
use super::files::{self, POLL};

/// How long `kill_all` and `remove` keep trying before they report failure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub kill: Duration,
    pub remove: Duration,
}

/// The group's directories, one per hierarchy.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    /// `--no-isolation`: no group exists.
    Unisolated,
    /// One directory per v1 hierarchy; `cpuacct` and `pids` are absent when not mounted, and
    /// may equal `cpu` when co-mounted with it.
    V1 { memory: PathBuf, cpu: PathBuf, cpuacct: Option<PathBuf>, pids: Option<PathBuf> },
    /// The single v2 directory; `has_kill` when the kernel offers `cgroup.kill` (5.14+).
    V2 { dir: PathBuf, has_kill: bool },
}

impl Backend {
    /// The directories, one per distinct hierarchy, memory first on v1.
    pub(crate) fn dirs(&self) -> Vec<PathBuf> {
        match self {
            Backend::Unisolated => Vec::new(),
            Backend::V1 { memory, cpu, cpuacct, pids } => {
                let mut dirs = vec![memory.clone()];
                for dir in [Some(cpu), cpuacct.as_ref(), pids.as_ref()].into_iter().flatten() {
                    if !dirs.contains(dir) {
                        dirs.push(dir.clone());
                    }
                }
                dirs
            }
            Backend::V2 { dir, .. } => vec![dir.clone()],
        }
    }

    /// The child group `name` in every hierarchy; on v2 it has `cgroup.kill` if this group has.
    pub(crate) fn join(&self, name: &str) -> Backend {
        match self {
            Backend::Unisolated => Backend::Unisolated,
            Backend::V1 { memory, cpu, cpuacct, pids } => Backend::V1 {
                memory: memory.join(name),
                cpu: cpu.join(name),
                cpuacct: cpuacct.as_ref().map(|d| d.join(name)),
                pids: pids.as_ref().map(|d| d.join(name)),
            },
            Backend::V2 { dir, .. } => Backend::V2 { dir: dir.join(name), has_kill: dir.join("cgroup.kill").exists() },
        }
    }
}

/// A task's control group (or, under [`NoIsolation`](super::NoIsolation), the absence of one).
#[derive(Clone, Debug)]
pub struct TaskGroup {
    task_id: String,
    backend: Backend,
    timeouts: Timeouts,
}

impl TaskGroup {
    pub(crate) fn new(task_id: &str, backend: Backend, timeouts: Timeouts) -> TaskGroup {
        TaskGroup { task_id: task_id.to_owned(), backend, timeouts }
    }

    pub(crate) fn unisolated(task_id: &str) -> TaskGroup {
        let timeouts = Timeouts { kill: Duration::ZERO, remove: Duration::ZERO };
        TaskGroup::new(task_id, Backend::Unisolated, timeouts)
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// False for the groups of [`NoIsolation`](super::NoIsolation), which limit and measure nothing.
    pub fn is_isolated(&self) -> bool {
        !matches!(self.backend, Backend::Unisolated)
    }

    /// The group's directories, one per distinct hierarchy (memory first on v1); empty when unisolated.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.backend.dirs()
    }

    /// Moves a process the agent started into the group, in every hierarchy (memory first, so
    /// the memory limit applies from the first write). Children it forks later inherit the group.
    pub fn add_process(&self, pid: u32) -> Result<(), IsolationError> {
        for dir in self.dirs() {
            files::append_value(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Memory charged to the group now (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub fn memory_usage_bytes(&self) -> Result<Option<u64>, IsolationError> {
        match &self.backend {
            Backend::Unisolated => Ok(None),
            Backend::V1 { memory, .. } => files::read_u64(&memory.join("memory.usage_in_bytes")).map(Some),
            Backend::V2 { dir, .. } => files::read_u64(&dir.join("memory.current")).map(Some),
        }
    }

    /// Whether the kernel has OOM-killed a process of the group: v1 `oom_kill` in
    /// `memory.oom_control` (kernel 4.13+; older kernels only say `under_oom 1` while it is
    /// happening), v2 `oom_kill` in `memory.events`. `memory.failcnt` is deliberately not used:
    /// it also counts limit hits that reclaim resolved without killing anything.
    pub fn oom_killed(&self) -> Result<bool, IsolationError> {
        let (path, v1) = match &self.backend {
            Backend::Unisolated => return Ok(false),
            Backend::V1 { memory, .. } => (memory.join("memory.oom_control"), true),
            Backend::V2 { dir, .. } => (dir.join("memory.events"), false),
        };
        let text = files::read_text(&path)?;
        if v1 { parse_oom_control(&path, &text) } else { parse_memory_events(&path, &text) }
    }

    /// Cpu time the group's processes have used (v1 `cpuacct.usage`, v2 `usage_usec` in
    /// `cpu.stat`), `None` where it is not measured (no v1 `cpuacct` hierarchy).
    pub fn cpu_usage_nanos(&self) -> Result<Option<u64>, IsolationError> {
        match &self.backend {
            Backend::Unisolated | Backend::V1 { cpuacct: None, .. } => Ok(None),
            Backend::V1 { cpuacct: Some(dir), .. } => files::read_u64(&dir.join("cpuacct.usage")).map(Some),
            Backend::V2 { dir, .. } => {
                let path = dir.join("cpu.stat");
                let text = files::read_text(&path)?;
                let usec = files::keyed_value(&path, &text, "usage_usec")?
                    .ok_or_else(|| IsolationError::Parse { path: path.clone(), content: text.clone() })?;
                Ok(Some(usec.saturating_mul(1000)))
            }
        }
    }

    /// The processes in the group, sorted (on v1 the union over its hierarchies).
    pub fn pids(&self) -> Result<Vec<u32>, IsolationError> {
        let mut pids = Vec::new();
        for dir in self.dirs() {
            pids.extend(files::read_pids(&dir.join("cgroup.procs"))?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Kills every process in the group and waits until it is empty: v2 writes `cgroup.kill`
    /// where the kernel has it; then (and always on v1) each listed pid gets SIGKILL, repeatedly,
    /// until the listing is empty, which also catches processes forked meanwhile.
    pub fn kill_all(&self) -> Result<(), IsolationError> {
        if let Backend::V2 { dir, has_kill: true } = &self.backend {
            files::write_value(&dir.join("cgroup.kill"), "1")?;
        }
        let deadline = Instant::now() + self.timeouts.kill;
        loop {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            let procs = self.dirs().first().map(|dir| dir.join("cgroup.procs")).unwrap_or_default();
            if Instant::now() >= deadline {
                return Err(IsolationError::KillTimeout { path: procs, pids });
            }
            for &pid in &pids {
                sigkill(pid, &procs)?;
            }
            thread::sleep(POLL);
        }
    }

    /// Removes the group's directories once it is empty, retrying briefly while the kernel still
    /// reports it busy. Removing a group that is already gone succeeds.
    pub fn remove(&self) -> Result<(), IsolationError> {
        for dir in self.dirs() {
            files::remove_dir_retrying(&dir, self.timeouts.remove)?;
        }
        Ok(())
    }
}

/// SIGKILL to one listed pid; a process that has already gone is fine.
fn sigkill(pid: u32, procs: &Path) -> Result<(), IsolationError> {
    let Ok(raw) = i32::try_from(pid) else { return Ok(()) };
    if raw <= 1 || pid == std::process::id() {
        return Ok(());
    }
    match kill(Pid::from_raw(raw), Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(source) => Err(IsolationError::Signal { pid, path: procs.to_owned(), source }),
    }
}

/// v1 `memory.oom_control`: `oom_kill N` with N > 0, or `under_oom 1` on kernels without the counter.
pub(crate) fn parse_oom_control(path: &Path, text: &str) -> Result<bool, IsolationError> {
    match files::keyed_value(path, text, "oom_kill")? {
        Some(kills) => Ok(kills > 0),
        None => Ok(files::keyed_value(path, text, "under_oom")? == Some(1)),
    }
}

/// v2 `memory.events`: `oom_kill N` with N > 0.
pub(crate) fn parse_memory_events(path: &Path, text: &str) -> Result<bool, IsolationError> {
    Ok(files::keyed_value(path, text, "oom_kill")?.is_some_and(|kills| kills > 0))
}

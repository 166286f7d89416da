//! Task isolation: each task's processes run in a control group that carries the task's cpu
//! (shares and CFS quota) and memory limits, on cgroup v1 and v2 hosts alike, plus the sandbox
//! disk measurement the disk limit is enforced with.
//!
//! The [`Isolator`] trait is what the supervisor uses; [`CgroupfsIsolator`] writes
//! cgroupfs directly (no cgroup library) under a configurable base directory, and [`NoIsolation`]
//! serves hosts started with `--no-isolation`. [`check_host`] is the start-up check that decides
//! which of the two an agent gets, or explains why it cannot isolate tasks.
//!
//! Invariants:
//! - Only groups under the isolator's own parent (`atoll` by default) are ever created, written
//!   or removed; the agent never touches another group, and never the parent's own limits.
//! - Only processes an executor starts ever enter a group, and they enter it themselves, between
//!   fork and exec (`atoll_sandbox::GroupEntry`, given the group's [`TaskGroup::dirs`] through the
//!   launch file); the agent never moves itself, its shell, an executor or any other process.
//! - A group belongs to its task, not to the agent process: nothing is removed on drop, so tasks
//!   keep their limits across an agent restart and [`Isolator::open`] finds the group again.
//! - Operations block the calling thread (polling while a group empties); call them from
//!   `tokio::task::spawn_blocking` in async code.

mod cgroupfs;
mod detect;
mod disk;
mod error;
mod files;
mod group;
mod mounts;

#[cfg(test)]
mod fake_tests;
#[cfg(test)]
mod real_tests;

use std::fmt;

use atoll_model::Resources;

pub use cgroupfs::CgroupfsIsolator;
pub use detect::{DEFAULT_BASE, DEFAULT_PARENT, HostIsolation, check_host, detect, detect_at};
pub use disk::sandbox_disk_usage;
pub use error::IsolationError;
pub use group::TaskGroup;
pub use mounts::CgroupVersion;

/// The CFS period every task's cpu quota is expressed against, in microseconds (100 ms).
pub const CPU_PERIOD_US: u64 = 100_000;

/// The limits one task's group carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Cores, e.g. 0.5: a quota of 50 ms per 100 ms period and 512 shares (1024 per core).
    pub cpu: f64,
    /// Memory in bytes. Swap is not allowed on top of it: v1 sets `memory.memsw.limit_in_bytes`
    /// to the same value where swap accounting exists, v2 sets `memory.swap.max` to 0.
    pub memory_bytes: u64,
    /// The most processes and threads the task may have at once; `None` for no limit.
    pub pids: Option<u64>,
}

impl Limits {
    /// The limits of a task's `Resources` (`ram_mb` is mebibytes), without a pids limit.
    pub fn from_resources(resources: &Resources) -> Limits {
        Limits { cpu: resources.cpu, memory_bytes: resources.ram_mb.saturating_mul(1024 * 1024), pids: None }
    }

    /// v1 `cpu.shares`: 1024 per core, within the kernel's range 2..=262144.
    pub fn cpu_shares(&self) -> u64 {
        ((self.cpu * 1024.0).round() as u64).clamp(2, 262_144)
    }

    /// The CFS quota per [`CPU_PERIOD_US`], at least the kernel's minimum of 1 ms.
    pub fn cpu_quota_us(&self) -> u64 {
        ((self.cpu * CPU_PERIOD_US as f64).round() as u64).max(1000)
    }

    /// v2 `cpu.weight` (1..=10000) for the same share, with the conversion runc and systemd use.
    pub fn cpu_weight(&self) -> u64 {
        1 + (self.cpu_shares() - 2) * 9999 / 262_142
    }

    /// Refuses limits the kernel would reject or that would leave a task nothing to run on.
    pub fn validate(&self) -> Result<(), IsolationError> {
        if !self.cpu.is_finite() || self.cpu <= 0.0 {
            return Err(IsolationError::InvalidLimits(format!(
                "cpu must be a positive number of cores, not {}",
                self.cpu
            )));
        }
        if self.memory_bytes == 0 {
            return Err(IsolationError::InvalidLimits("memory must be more than 0 bytes".to_owned()));
        }
        if self.pids == Some(0) {
            return Err(IsolationError::InvalidLimits("a pids limit must allow at least 1 process".to_owned()));
        }
        Ok(())
    }
}

/// Creates and finds task groups. Implementations are shared between threads.
pub trait Isolator: Send + Sync + fmt::Debug {
    /// Creates the task's group (idempotent: an existing group gets the new limits) and writes
    /// its limits. Fails with [`IsolationError::InvalidName`] unless `task_id` is a safe name.
    fn create(&self, task_id: &str, limits: &Limits) -> Result<TaskGroup, IsolationError>;

    /// The group of a task created earlier (e.g. before an agent restart), `None` if it has none.
    fn open(&self, task_id: &str) -> Result<Option<TaskGroup>, IsolationError>;

    /// The task ids that currently have a group, to find groups left by tasks that are gone.
    fn task_ids(&self) -> Result<Vec<String>, IsolationError>;

    /// One line for the agent's start-up log, e.g. `cgroup v1 (cpu, cpuacct, memory, pids) under atoll`.
    fn describe(&self) -> String;
}

/// The isolator of a host started with `--no-isolation`: tasks run without limits, every group is
/// [unisolated](TaskGroup::is_isolated) and its operations do nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoIsolation;

impl Isolator for NoIsolation {
    fn create(&self, task_id: &str, limits: &Limits) -> Result<TaskGroup, IsolationError> {
        limits.validate()?;
        Ok(TaskGroup::unisolated(task_id))
    }

    fn open(&self, task_id: &str) -> Result<Option<TaskGroup>, IsolationError> {
        Ok(Some(TaskGroup::unisolated(task_id)))
    }

    fn task_ids(&self) -> Result<Vec<String>, IsolationError> {
        Ok(Vec::new())
    }

    fn describe(&self) -> String {
        "no isolation (--no-isolation): tasks run without cpu or memory limits".to_owned()
    }
}

/// Accepts a task id or parent name only if it is one harmless path component: 1 to 200 ASCII
/// letters, digits, `-`, `_` or `.`, not starting with `.` (so never `.`, `..` or a probe group).
pub(crate) fn validate_name(name: &str) -> Result<(), IsolationError> {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 200 || name.starts_with('.') || !name.chars().all(safe) {
        return Err(IsolationError::InvalidName(name.to_owned()));
    }
    Ok(())
}

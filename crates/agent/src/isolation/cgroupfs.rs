//! [`CgroupfsIsolator`]: task groups written directly to cgroupfs, v1 or v2, under one parent
//! group (`<hierarchy>/<parent>/<task id>`).
//!
//! Everything it creates, writes or removes lies under `<hierarchy>/<parent>`; outside that it
//! only reads, except on v2 where it enables the `cpu`, `memory` (and `pids`) controllers in the
//! root's `cgroup.subtree_control` when they are not enabled yet, which groups below need. Which
//! optional files a group gets (v1 `memory.memsw.*`, v2 `memory.swap.max`, `cgroup.kill`) is read
//! from the parent group, which the kernel populated the same way.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::files::{self, read_u64_if_present, write_value};
use super::group::{Backend, Timeouts};
use super::{CPU_PERIOD_US, CgroupVersion, IsolationError, Isolator, Limits, TaskGroup, validate_name};

/// Numbers the probe groups of one process, so concurrent probes never collide.
static PROBES: AtomicU64 = AtomicU64::new(0);

/// Task groups in cgroupfs, rooted at the hierarchies a [`CgroupVersion`] names.
#[derive(Clone, Debug)]
pub struct CgroupfsIsolator {
    version: CgroupVersion,
    parent: String,
    /// The parent group's directory in each hierarchy used (on v2 its `has_kill` is unused:
    /// each task group reads `cgroup.kill` from the parent when it is made).
    parent_group: Backend,
    timeouts: Timeouts,
}

impl CgroupfsIsolator {
    /// An isolator for `version`'s hierarchies with groups under `parent` (a single name such as
    /// `atoll`). Touches nothing yet; fails if v1 lacks the `memory` or `cpu` hierarchy.
    pub fn new(version: CgroupVersion, parent: &str) -> Result<CgroupfsIsolator, IsolationError> {
        validate_name(parent)?;
        let parent_group = match &version {
            CgroupVersion::V1 { controllers } => {
                let mount = |name: &str| controllers.get(name).map(|m| m.join(parent));
                let required = |controller: &'static str| {
                    mount(controller).ok_or_else(|| IsolationError::MissingController {
                        controller,
                        base: controllers.values().next().and_then(|p| p.parent()).unwrap_or(Path::new("/")).to_owned(),
                    })
                };
                Backend::V1 {
                    memory: required("memory")?,
                    cpu: required("cpu")?,
                    cpuacct: mount("cpuacct"),
                    pids: mount("pids"),
                }
            }
            CgroupVersion::V2 { root } => Backend::V2 { dir: root.join(parent), has_kill: false },
        };
        let timeouts = Timeouts { kill: Duration::from_secs(5), remove: Duration::from_secs(1) };
        Ok(CgroupfsIsolator { version, parent: parent.to_owned(), parent_group, timeouts })
    }

    /// How long `kill_all` keeps signalling and `remove` keeps retrying (defaults 5 s and 1 s).
    pub fn with_timeouts(mut self, kill: Duration, remove: Duration) -> CgroupfsIsolator {
        self.timeouts = Timeouts { kill, remove };
        self
    }

    pub fn version(&self) -> &CgroupVersion {
        &self.version
    }

    /// The parent group's directory in each hierarchy used (memory first on v1).
    pub fn parent_dirs(&self) -> Vec<PathBuf> {
        self.parent_group.dirs()
    }

    /// Checks that groups can be made here: creates the parent if needed, then creates and
    /// removes a probe group (`.probe-<pid>-<n>`) under it.
    pub fn probe(&self) -> Result<(), IsolationError> {
        self.prepare_parent()?;
        let name = format!(".probe-{}-{}", std::process::id(), PROBES.fetch_add(1, Ordering::Relaxed));
        let group = self.group(&name);
        let made = group.dirs().iter().try_for_each(|dir| files::make_dir(dir));
        let removed = group.remove();
        made.and(removed)
    }

    /// The group of `task_id`, whether or not it exists yet.
    fn group(&self, task_id: &str) -> TaskGroup {
        TaskGroup::new(task_id, self.parent_group.join(task_id), self.timeouts)
    }

    /// The parent in the hierarchy that decides which groups exist: memory on v1, the only one on v2.
    fn main_parent(&self) -> PathBuf {
        self.parent_dirs().into_iter().next().unwrap_or_default()
    }

    /// Creates the parent group in every hierarchy; on v2 also enables the controllers for it
    /// and for the groups below it.
    fn prepare_parent(&self) -> Result<(), IsolationError> {
        let CgroupVersion::V2 { root } = &self.version else {
            return self.parent_dirs().iter().try_for_each(|dir| files::make_dir(dir));
        };
        let available = files::read_text(&root.join("cgroup.controllers"))?;
        let available: BTreeSet<&str> = available.split_whitespace().collect();
        for controller in ["cpu", "memory"] {
            if !available.contains(controller) {
                return Err(IsolationError::MissingController { controller, base: root.clone() });
            }
        }
        let wanted: Vec<&str> = ["cpu", "memory", "pids"].into_iter().filter(|c| available.contains(c)).collect();
        enable_controllers(root, &wanted)?;
        let parent = self.main_parent();
        files::make_dir(&parent)?;
        enable_controllers(&parent, &wanted)
    }

    fn write_limits(&self, group: &TaskGroup, limits: &Limits) -> Result<(), IsolationError> {
        let quota = limits.cpu_quota_us().to_string();
        let period = CPU_PERIOD_US.to_string();
        let bytes = limits.memory_bytes.to_string();
        let parent = self.main_parent();
        match group.backend() {
            Backend::Unisolated => Ok(()),
            Backend::V1 { memory, cpu, pids, .. } => {
                let limit = memory.join("memory.limit_in_bytes");
                if parent.join("memory.memsw.limit_in_bytes").exists() {
                    // memsw (memory + swap) must never be below the memory limit: raise it first
                    // when the limit grows, lower it last when the limit shrinks.
                    let memsw = memory.join("memory.memsw.limit_in_bytes");
                    let current = read_u64_if_present(&limit)?.unwrap_or(u64::MAX);
                    let order = if limits.memory_bytes > current { [&memsw, &limit] } else { [&limit, &memsw] };
                    order.into_iter().try_for_each(|path| write_value(path, &bytes))?;
                } else {
                    write_value(&limit, &bytes)?;
                }
                write_value(&cpu.join("cpu.cfs_period_us"), &period)?;
                write_value(&cpu.join("cpu.cfs_quota_us"), &quota)?;
                write_value(&cpu.join("cpu.shares"), &limits.cpu_shares().to_string())?;
                match (limits.pids, pids) {
                    (Some(max), Some(dir)) => write_value(&dir.join("pids.max"), &max.to_string()),
                    (Some(max), None) => {
                        tracing::warn!(task = group.task_id(), "no v1 pids hierarchy: pids limit {max} not applied");
                        Ok(())
                    }
                    (None, _) => Ok(()),
                }
            }
            Backend::V2 { dir, .. } => {
                write_value(&dir.join("memory.max"), &bytes)?;
                if parent.join("memory.swap.max").exists() {
                    write_value(&dir.join("memory.swap.max"), "0")?;
                }
                write_value(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
                write_value(&dir.join("cpu.weight"), &limits.cpu_weight().to_string())?;
                match limits.pids {
                    Some(max) => write_value(&dir.join("pids.max"), &max.to_string()),
                    None => Ok(()),
                }
            }
        }
    }
}

impl Isolator for CgroupfsIsolator {
    fn create(&self, task_id: &str, limits: &Limits) -> Result<TaskGroup, IsolationError> {
        validate_name(task_id)?;
        limits.validate()?;
        self.prepare_parent()?;
        let group = self.group(task_id);
        let created = group
            .dirs()
            .iter()
            .try_for_each(|dir| files::make_dir(dir))
            .and_then(|()| self.write_limits(&group, limits));
        match created {
            Ok(()) => Ok(group),
            Err(e) => {
                // Best effort: leave no half-limited group behind; the first error is the one to report.
                let _ = group.remove();
                Err(e)
            }
        }
    }

    fn open(&self, task_id: &str) -> Result<Option<TaskGroup>, IsolationError> {
        validate_name(task_id)?;
        let group = self.group(task_id);
        Ok(group.dirs().first().is_some_and(|dir| dir.is_dir()).then_some(group))
    }

    fn task_ids(&self) -> Result<Vec<String>, IsolationError> {
        let parent = self.main_parent();
        let list_error = |source| IsolationError::Io { op: "list", path: parent.clone(), source };
        let entries = match fs::read_dir(&parent) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(list_error(e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(list_error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && validate_name(&name).is_ok() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    fn describe(&self) -> String {
        format!("{} under {}", self.version, self.parent)
    }
}

/// Enables `wanted` controllers for the children of `dir` unless its `cgroup.subtree_control`
/// already lists them (a missing file counts as none enabled).
fn enable_controllers(dir: &Path, wanted: &[&str]) -> Result<(), IsolationError> {
    let path = dir.join("cgroup.subtree_control");
    let enabled = if path.exists() { files::read_text(&path)? } else { String::new() };
    let enabled: BTreeSet<&str> = enabled.split_whitespace().map(|c| c.trim_start_matches('+')).collect();
    let missing: Vec<String> = wanted.iter().filter(|c| !enabled.contains(*c)).map(|c| format!("+{c}")).collect();
    if missing.is_empty() { Ok(()) } else { write_value(&path, &missing.join(" ")) }
}

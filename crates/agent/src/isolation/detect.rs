//! The start-up check: which isolation this host offers, or a message saying why it offers none.
//!
//! Detection only reads, except for the probe, which creates the parent group if needed and then
//! creates and removes one `.probe-…` group under it; it never moves any process.

use std::io;
use std::path::Path;

use super::{CgroupVersion, CgroupfsIsolator, IsolationError};

/// Where cgroup hierarchies are mounted on Linux.
pub const DEFAULT_BASE: &str = "/sys/fs/cgroup";
/// The parent group all task groups live under.
pub const DEFAULT_PARENT: &str = "atoll";

const NO_ISOLATION_ADVICE: &str = "pass --no-isolation to run tasks without limits";

/// What [`check_host`] found.
#[derive(Debug)]
pub enum HostIsolation {
    /// Groups can be created; the isolator says which cgroup version ([`CgroupfsIsolator::version`]).
    Available(CgroupfsIsolator),
    /// Tasks cannot be isolated here; `reason` is a complete sentence for the operator.
    Unavailable { reason: String },
}

/// Detects the isolation of this host under [`DEFAULT_BASE`] with groups under [`DEFAULT_PARENT`].
pub fn detect() -> Result<Option<CgroupfsIsolator>, IsolationError> {
    detect_at(Path::new(DEFAULT_BASE), DEFAULT_PARENT)
}

/// `Ok(None)` when no usable cgroup hierarchy is mounted under `base`; an error (naming the file
/// and operation) when one is mounted but groups cannot be made under `parent`; otherwise an
/// isolator that has just created and removed a probe group.
pub fn detect_at(base: &Path, parent: &str) -> Result<Option<CgroupfsIsolator>, IsolationError> {
    let Some(version) = CgroupVersion::detect(base) else { return Ok(None) };
    let isolator = CgroupfsIsolator::new(version, parent)?;
    isolator.probe()?;
    Ok(Some(isolator))
}

/// The check the agent runs at start: usable isolation under `base` (normally
/// [`DEFAULT_BASE`]) with task groups under `parent` (normally [`DEFAULT_PARENT`]), or why
/// there is none, with what to do about it.
pub fn check_host(base: &Path, parent: &str) -> HostIsolation {
    match detect_at(base, parent) {
        Ok(Some(isolator)) => HostIsolation::Available(isolator),
        Ok(None) => HostIsolation::Unavailable {
            reason: format!(
                "no cgroup hierarchy with a memory controller is mounted under {}; {NO_ISOLATION_ADVICE}",
                base.display()
            ),
        },
        Err(e) => HostIsolation::Unavailable { reason: unavailable_reason(&e) },
    }
}

/// The operator's message for a host whose cgroups are mounted but unusable.
pub(crate) fn unavailable_reason(error: &IsolationError) -> String {
    match (error.path(), error.io_error()) {
        (Some(path), Some(io))
            if matches!(io.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem) =>
        {
            format!(
                "cgroups are not writable at {}: {io}; run the agent as root or {NO_ISOLATION_ADVICE}",
                path.display()
            )
        }
        _ => format!("cgroups cannot be used: {error}; {NO_ISOLATION_ADVICE}"),
    }
}

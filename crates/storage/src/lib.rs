//! Durable storage of the scheduler's jobs and tasks, behind Atoll's own [`Store`] trait.
//!
//! Invariants:
//! - This is the only crate that depends on sled; nothing sled-shaped leaves it.
//! - [`Store::commit`] is atomic (one sled transaction over every tree) and durable (flushed to
//!   disk) before it returns, so a caller may acknowledge a change once it has returned.
//! - The data directory records its schema version; a newer version is refused, never rewritten.
//! - One scheduler per data directory: a second open fails at once with [`StoreError::Locked`].
//!
//! Layout (schema 2): tree `jobs` maps `CLUSTER/ROLE/ENV/NAME` to a JSON job spec; tree `tasks`
//! maps a task id to a JSON task; tree `hosts` maps a hostname to its maintenance mode (JSON;
//! hosts in NONE have no record); tree `quotas` maps a role to its production quota (JSON);
//! tree `restarts` maps `CLUSTER/ROLE/ENV/NAME` to the restart in progress (JSON); tree `meta`
//! holds `schema_version` and `next_task_seq` (big-endian u64).
//!
//! Schema 1 had only `jobs`, `tasks` and `meta`: its data directory is read as is (the new trees
//! start empty) and its recorded version raised to 2 on open, so an older Atoll, which would
//! ignore the new trees, refuses it from then on.

mod memory;
mod sled_store;

pub use memory::MemoryStore;
pub use sled_store::SledStore;

use atoll_state::{Changes, Durable};

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u64 = 2;

/// Where the scheduler keeps what must survive a restart.
pub trait Store: Send + Sync {
    /// Everything stored.
    fn load(&self) -> Result<Durable, StoreError>;
    /// Makes `changes` durable, all or nothing.
    fn commit(&self, changes: &Changes) -> Result<(), StoreError>;
}

/// A storage failure; each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "data directory {dir} is in use by another scheduler (its lock is held); stop that scheduler or pick another --data-dir"
    )]
    Locked { dir: String },
    #[error(
        "data directory {dir} has schema version {found}, newer than this Atoll understands ({SCHEMA_VERSION}); run a newer Atoll"
    )]
    NewerSchema { dir: String, found: u64 },
    #[error("data directory {dir} is corrupt: {detail}")]
    Corrupt { dir: String, detail: String },
    #[error("storage I/O failed in {dir}: {detail}")]
    Io { dir: String, detail: String },
}

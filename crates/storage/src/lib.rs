//! Durable storage of the scheduler's jobs and tasks, behind Atoll's own [`Store`] trait.
//!
//! Invariants:
//! - This is the only crate that depends on sled; nothing sled-shaped leaves it.
//! - [`Store::commit`] is atomic (one sled transaction over every tree) and durable (flushed to
//!   disk) before it returns, so a caller may acknowledge a change once it has returned.
//! - The data directory records its schema version; a newer version is refused, never rewritten.
//! - One scheduler per data directory: a second open fails at once with [`StoreError::Locked`].
//!
//! Layout (schema 6), every value in the versioned envelope of `records`:
//! - `jobs`: `CLUSTER/ROLE/ENV/NAME` → the job spec;
//! - `configs`: a config id (64 hex digits) → the task config stored under it;
//! - `tasks`: a task id → the task, naming its config;
//! - `hosts`: a hostname → its maintenance mode (hosts in NONE have no record);
//! - `quotas`: a role → its production quota;
//! - `restarts`: `CLUSTER/ROLE/ENV/NAME` → the restart in progress;
//! - `updates`: an update id in 20 decimal digits → the update;
//! - `cron`: `CLUSTER/ROLE/ENV/NAME` → a cron job's record (its template is in `jobs`);
//! - `events`: an event index in 20 decimal digits → the event (the newest
//!   `atoll_state::EVENTS_KEPT` of them);
//! - `frameworks`: a framework id → the framework (name, role, failover timeout); its tasks
//!   are in `tasks`, under the job key `CLUSTER/ROLE/framework/ID`;
//! - `acknowledged`: a framework task's id → how many of its status updates its framework
//!   acknowledged;
//! - `meta`: `schema_version`, `next_task_seq`, `next_update_id` and `next_event_index`
//!   (big-endian u64).
//!
//! Older schemas are upgraded on open, in one transaction: schema 1 had only `jobs`, `tasks` and
//! `meta`; schema 2 added `hosts`, `quotas` and `restarts`; both stored bare records (format 1)
//! and tasks that carried their own task spec. Schema 4 added `cron`, and changed no record of
//! schema 3, so a schema-3 directory only has its version raised; schema 5 added `events`,
//! and schema 6 `frameworks` and `acknowledged`, likewise. The new schema version is recorded
//! in the same transaction, so an older Atoll refuses the directory from then on. The golden
//! tests (`sled_store/tests.rs`) read a schema-2 directory written by the release before
//! schema 3, and the schema-3, schema-4 and schema-5 directories the releases before schemas 4,
//! 5 and 6 wrote.

mod memory;
mod records;
mod sled_store;

pub use memory::MemoryStore;
pub use sled_store::SledStore;

use atoll_state::{Changes, Durable};

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u64 = 6;

/// Where the scheduler keeps what must survive a restart.
pub trait Store: Send + Sync {
    /// Everything stored.
    fn load(&self) -> Result<Durable, StoreError>;
    /// Writes `changes`, all or nothing, in the order of the calls, without waiting for them to
    /// reach the disk; answers how many bytes of keys and values it wrote (0 for a store that
    /// writes nowhere). Nothing written is durable before the next [`Store::flush`].
    fn write(&self, changes: &Changes) -> Result<u64, StoreError>;
    /// Makes everything written before it durable: one flush for any number of writes (group
    /// commit).
    fn flush(&self) -> Result<(), StoreError>;
    /// Writes `changes` and makes them durable.
    fn commit(&self, changes: &Changes) -> Result<u64, StoreError> {
        let bytes = self.write(changes)?;
        self.flush()?;
        Ok(bytes)
    }
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
    #[error(
        "data directory {dir}: {record} is stored in format {found}, newer than this Atoll understands ({known}); run a newer Atoll"
    )]
    NewerFormat { dir: String, record: String, found: u32, known: u32 },
    #[error("data directory {dir} is corrupt: {detail}")]
    Corrupt { dir: String, detail: String },
    #[error("storage I/O failed in {dir}: {detail}")]
    Io { dir: String, detail: String },
}

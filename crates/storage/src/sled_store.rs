//! The sled-backed [`Store`]: one sled database in the scheduler's data directory.

use std::path::{Path, PathBuf};

use atoll_state::{Changes, Durable};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::{SCHEMA_VERSION, Store, StoreError};

const SCHEMA_KEY: &[u8] = b"schema_version";
const NEXT_SEQ_KEY: &[u8] = b"next_task_seq";

/// A store in a data directory, holding the directory's lock while open.
pub struct SledStore {
    dir: PathBuf,
    db: sled::Db,
    jobs: sled::Tree,
    tasks: sled::Tree,
    meta: sled::Tree,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, checking its schema version.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let shown = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io { dir: shown.clone(), detail: e.to_string() })?;
        let db = sled::Config::new().path(dir.join("db")).open().map_err(|e| open_error(&shown, e))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| io(&shown, e));
        let (jobs, tasks, meta) = (tree("jobs")?, tree("tasks")?, tree("meta")?);
        match meta.get(SCHEMA_KEY).map_err(|e| io(&shown, e))? {
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes()).map_err(|e| io(&shown, e))?;
                db.flush().map_err(|e| io(&shown, e))?;
            }
            Some(raw) => {
                let found = decode_u64(&raw).ok_or_else(|| StoreError::Corrupt {
                    dir: shown.clone(),
                    detail: "schema_version is not a number".to_owned(),
                })?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema { dir: shown, found });
                }
            }
        }
        Ok(SledStore { dir: dir.to_owned(), db, jobs, tasks, meta })
    }

    /// Records a schema version, for tests of version refusal.
    #[cfg(test)]
    pub(crate) fn set_schema_version(&self, version: u64) {
        self.meta.insert(SCHEMA_KEY, &version.to_be_bytes()).expect("write schema version");
        self.db.flush().expect("flush");
    }

    fn shown(&self) -> String {
        self.dir.display().to_string()
    }
}

fn decode_u64(raw: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(raw.try_into().ok()?))
}

fn io(dir: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io { dir: dir.to_owned(), detail: e.to_string() }
}

fn open_error(dir: &str, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io_err) if io_err.kind() == std::io::ErrorKind::WouldBlock => {
            StoreError::Locked { dir: dir.to_owned() }
        }
        sled::Error::Io(io_err) if io_err.to_string().contains("could not acquire lock") => {
            StoreError::Locked { dir: dir.to_owned() }
        }
        sled::Error::Corruption { .. } => StoreError::Corrupt { dir: dir.to_owned(), detail: e.to_string() },
        _ => io(dir, e),
    }
}

impl Store for SledStore {
    fn load(&self) -> Result<Durable, StoreError> {
        let corrupt = |what: &str, e: String| StoreError::Corrupt { dir: self.shown(), detail: format!("{what}: {e}") };
        let mut durable = Durable::default();
        for entry in self.jobs.iter() {
            let (key, value) = entry.map_err(|e| io(&self.shown(), e))?;
            let job = serde_json::from_slice(&value)
                .map_err(|e| corrupt(&format!("job {}", String::from_utf8_lossy(&key)), e.to_string()))?;
            durable.jobs.push(job);
        }
        for entry in self.tasks.iter() {
            let (key, value) = entry.map_err(|e| io(&self.shown(), e))?;
            let task = serde_json::from_slice(&value)
                .map_err(|e| corrupt(&format!("task {}", String::from_utf8_lossy(&key)), e.to_string()))?;
            durable.tasks.push(task);
        }
        if let Some(raw) = self.meta.get(NEXT_SEQ_KEY).map_err(|e| io(&self.shown(), e))? {
            durable.next_task_seq =
                decode_u64(&raw).ok_or_else(|| corrupt("next_task_seq", "not a number".to_owned()))?;
        }
        Ok(durable)
    }

    fn commit(&self, changes: &Changes) -> Result<(), StoreError> {
        let jobs_put: Vec<(String, Vec<u8>)> = changes
            .jobs_put
            .iter()
            .map(|j| Ok((j.key.to_string(), encode(&self.shown(), j)?)))
            .collect::<Result<_, StoreError>>()?;
        let tasks_put: Vec<(String, Vec<u8>)> = changes
            .tasks_put
            .iter()
            .map(|t| Ok((t.id.0.clone(), encode(&self.shown(), t)?)))
            .collect::<Result<_, StoreError>>()?;
        let result = (&self.jobs, &self.tasks, &self.meta).transaction(|(jobs, tasks, meta)| {
            for (key, value) in &jobs_put {
                jobs.insert(key.as_bytes(), value.as_slice())?;
            }
            for key in &changes.jobs_deleted {
                jobs.remove(key.to_string().as_bytes())?;
            }
            for (key, value) in &tasks_put {
                tasks.insert(key.as_bytes(), value.as_slice())?;
            }
            for id in &changes.tasks_deleted {
                tasks.remove(id.0.as_bytes())?;
            }
            meta.insert(NEXT_SEQ_KEY, &changes.next_task_seq.to_be_bytes())?;
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(())) => return Err(io(&self.shown(), "transaction aborted")),
            Err(TransactionError::Storage(e)) => return Err(io(&self.shown(), e)),
        }
        self.db.flush().map_err(|e| io(&self.shown(), e))?;
        Ok(())
    }
}

fn encode<T: serde::Serialize>(dir: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| io(dir, e))
}

#[cfg(test)]
mod tests;

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
    hosts: sled::Tree,
    quotas: sled::Tree,
    restarts: sled::Tree,
    meta: sled::Tree,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, checking its schema version and raising an older
    /// one to this build's.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let shown = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io { dir: shown.clone(), detail: e.to_string() })?;
        let db = sled::Config::new().path(dir.join("db")).open().map_err(|e| open_error(&shown, e))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| io(&shown, e));
        let (jobs, tasks, meta) = (tree("jobs")?, tree("tasks")?, tree("meta")?);
        let found = match meta.get(SCHEMA_KEY).map_err(|e| io(&shown, e))? {
            None => None,
            Some(raw) => Some(decode_u64(&raw).ok_or_else(|| StoreError::Corrupt {
                dir: shown.clone(),
                detail: "schema_version is not a number".to_owned(),
            })?),
        };
        if let Some(found) = found.filter(|found| *found > SCHEMA_VERSION) {
            return Err(StoreError::NewerSchema { dir: shown, found });
        }
        let (hosts, quotas, restarts) = (tree("hosts")?, tree("quotas")?, tree("restarts")?);
        if found != Some(SCHEMA_VERSION) {
            meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes()).map_err(|e| io(&shown, e))?;
            db.flush().map_err(|e| io(&shown, e))?;
        }
        Ok(SledStore { dir: dir.to_owned(), db, jobs, tasks, hosts, quotas, restarts, meta })
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

impl SledStore {
    /// Every record of `tree`, decoded; `what` names the kind in a corruption report.
    fn records<T: serde::de::DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        what: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        tree.iter()
            .map(|entry| {
                let (key, value) = entry.map_err(|e| io(&self.shown(), e))?;
                let key = String::from_utf8_lossy(&key).into_owned();
                let record = serde_json::from_slice(&value)
                    .map_err(|e| StoreError::Corrupt { dir: self.shown(), detail: format!("{what} {key}: {e}") })?;
                Ok((key, record))
            })
            .collect()
    }
}

impl Store for SledStore {
    fn load(&self) -> Result<Durable, StoreError> {
        let mut durable = Durable {
            jobs: self.records(&self.jobs, "job")?.into_iter().map(|(_, job)| job).collect(),
            tasks: self.records(&self.tasks, "task")?.into_iter().map(|(_, task)| task).collect(),
            host_modes: self.records(&self.hosts, "host")?,
            quotas: self.records(&self.quotas, "quota of role")?,
            restarts: self.records(&self.restarts, "restart of")?.into_iter().map(|(_, plan)| plan).collect(),
            ..Durable::default()
        };
        if let Some(raw) = self.meta.get(NEXT_SEQ_KEY).map_err(|e| io(&self.shown(), e))? {
            durable.next_task_seq = decode_u64(&raw).ok_or_else(|| StoreError::Corrupt {
                dir: self.shown(),
                detail: "next_task_seq: not a number".to_owned(),
            })?;
        }
        Ok(durable)
    }

    fn commit(&self, changes: &Changes) -> Result<(), StoreError> {
        let dir = self.shown();
        let jobs_put = encode_all(&dir, changes.jobs_put.iter().map(|j| (j.key.to_string(), j)))?;
        let tasks_put = encode_all(&dir, changes.tasks_put.iter().map(|t| (t.id.0.clone(), t)))?;
        let hosts_put = encode_all(&dir, changes.hosts_put.iter().map(|(host, mode)| (host.clone(), mode)))?;
        let quotas_put = encode_all(&dir, changes.quotas_put.iter().map(|(role, quota)| (role.clone(), quota)))?;
        let restarts_put = encode_all(&dir, changes.restarts_put.iter().map(|r| (r.job.to_string(), r)))?;
        let trees = (&self.jobs, &self.tasks, &self.hosts, &self.quotas, &self.restarts, &self.meta);
        let result = trees.transaction(|(jobs, tasks, hosts, quotas, restarts, meta)| {
            let puts = [(jobs, &jobs_put), (tasks, &tasks_put), (hosts, &hosts_put), (quotas, &quotas_put)];
            for (tree, records) in puts.into_iter().chain([(restarts, &restarts_put)]) {
                for (key, value) in records {
                    tree.insert(key.as_bytes(), value.as_slice())?;
                }
            }
            for key in &changes.jobs_deleted {
                jobs.remove(key.to_string().as_bytes())?;
            }
            for id in &changes.tasks_deleted {
                tasks.remove(id.0.as_bytes())?;
            }
            for host in &changes.hosts_deleted {
                hosts.remove(host.as_bytes())?;
            }
            for key in &changes.restarts_deleted {
                restarts.remove(key.to_string().as_bytes())?;
            }
            meta.insert(NEXT_SEQ_KEY, &changes.next_task_seq.to_be_bytes())?;
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(())) => return Err(io(&dir, "transaction aborted")),
            Err(TransactionError::Storage(e)) => return Err(io(&dir, e)),
        }
        self.db.flush().map_err(|e| io(&dir, e))?;
        Ok(())
    }
}

/// Each record as its key and JSON.
fn encode_all<'a, T: serde::Serialize + 'a>(
    dir: &str,
    records: impl Iterator<Item = (String, &'a T)>,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    records.map(|(key, value)| Ok((key, serde_json::to_vec(value).map_err(|e| io(dir, e))?))).collect()
}

#[cfg(test)]
mod tests;

//! The sled-backed [`Store`]: one sled database in the scheduler's data directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use atoll_model::{ConfigId, ConfigVersion, JobKey, JobSpec, TaskConfig};
use atoll_state::{Changes, Durable, JobUpdate};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::records::{self, TaskRecord, Unreadable};
use crate::{SCHEMA_VERSION, Store, StoreError};

const SCHEMA_KEY: &[u8] = b"schema_version";
const NEXT_SEQ_KEY: &[u8] = b"next_task_seq";
const NEXT_UPDATE_KEY: &[u8] = b"next_update_id";
const NEXT_EVENT_KEY: &[u8] = b"next_event_index";

/// The trees of the database, in the order of [`SledStore::trees`].
#[derive(Clone, Copy)]
enum TreeName {
    Jobs,
    Configs,
    Tasks,
    Hosts,
    Quotas,
    Restarts,
    Updates,
    Cron,
    Events,
    Meta,
    Frameworks,
    Acknowledged,
}

/// The trees, in [`TreeName`] order.
const TREE_NAMES: [&str; 12] = [
    "jobs",
    "configs",
    "tasks",
    "hosts",
    "quotas",
    "restarts",
    "updates",
    "cron",
    "events",
    "meta",
    "frameworks",
    "acknowledged",
];

/// A store in a data directory, holding the directory's lock while open.
pub struct SledStore {
    dir: PathBuf,
    pub(crate) db: sled::Db,
    trees: Vec<sled::Tree>,
    upgraded_from: Option<u64>,
}

/// The keys and encoded values to write into one tree.
type Writes = Vec<(Vec<u8>, Vec<u8>)>;

impl SledStore {
    /// Opens (or creates) the store in `dir`, checking its schema version; an older schema's
    /// records are rewritten in this build's formats in one transaction.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let shown = dir.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io { dir: shown.clone(), detail: e.to_string() })?;
        let db = open_db(&dir.join("db"), &shown)?;
        let trees = TREE_NAMES
            .iter()
            .map(|name| db.open_tree(name).map_err(|e| sled_io(&shown, e)))
            .collect::<Result<_, _>>()?;
        let mut store = SledStore { dir: dir.to_owned(), db, trees, upgraded_from: None };
        let found = match store.tree(TreeName::Meta).get(SCHEMA_KEY).map_err(|e| sled_io(&shown, e))? {
            None => None,
            Some(raw) => Some(decode_u64(&raw).ok_or_else(|| StoreError::Corrupt {
                dir: shown.clone(),
                detail: "schema_version is not a number".to_owned(),
            })?),
        };
        match found {
            Some(found) if found > SCHEMA_VERSION => return Err(StoreError::NewerSchema { dir: shown, found }),
            Some(SCHEMA_VERSION) => {}
            Some(older) => {
                store.upgrade()?;
                store.upgraded_from = Some(older);
            }
            None => {
                store
                    .tree(TreeName::Meta)
                    .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(|e| sled_io(&shown, e))?;
                store.db.flush().map_err(|e| sled_io(&shown, e))?;
            }
        }
        Ok(store)
    }

    /// The schema the directory had if opening it upgraded it, for the scheduler to log.
    pub fn upgraded_from(&self) -> Option<u64> {
        self.upgraded_from
    }

    fn tree(&self, name: TreeName) -> &sled::Tree {
        &self.trees[name as usize]
    }

    /// Rewrites every record of an older schema in this build's formats and records the
    /// current schema, all in one transaction: a crash leaves the old directory as it was.
    fn upgrade(&self) -> Result<(), StoreError> {
        let durable = self.load()?;
        let mut writes: Vec<Writes> = vec![Vec::new(); self.trees.len()];
        let dir = self.shown();
        let encode = |value: &dyn Encode| value.encode().map_err(|e| io(&dir, e));
        for job in &durable.jobs {
            writes[TreeName::Jobs as usize].push((job.key.to_string().into_bytes(), encode(job)?));
        }
        for version in &durable.configs {
            writes[TreeName::Configs as usize].push((version.id().to_string().into_bytes(), encode(version.config())?));
        }
        for task in &durable.tasks {
            writes[TreeName::Tasks as usize].push((task.id.0.clone().into_bytes(), encode(&TaskRecord::of(task))?));
        }
        for (host, mode) in &durable.host_modes {
            writes[TreeName::Hosts as usize].push((host.clone().into_bytes(), encode(mode)?));
        }
        for (role, quota) in &durable.quotas {
            writes[TreeName::Quotas as usize].push((role.clone().into_bytes(), encode(quota)?));
        }
        for plan in &durable.restarts {
            writes[TreeName::Restarts as usize].push((plan.job.to_string().into_bytes(), encode(plan)?));
        }
        for update in &durable.updates {
            writes[TreeName::Updates as usize].push((update_key(update.id), encode(update)?));
        }
        for record in &durable.cron {
            writes[TreeName::Cron as usize].push((record.job.to_string().into_bytes(), encode(record)?));
        }
        for event in &durable.events {
            writes[TreeName::Events as usize].push((sequence_key(event.index), encode(event)?));
        }
        for framework in &durable.frameworks {
            writes[TreeName::Frameworks as usize].push((framework.id.clone().into_bytes(), encode(framework)?));
        }
        for (task, count) in &durable.acknowledged {
            writes[TreeName::Acknowledged as usize].push((task.0.clone().into_bytes(), encode(count)?));
        }
        writes[TreeName::Meta as usize].push((SCHEMA_KEY.to_vec(), SCHEMA_VERSION.to_be_bytes().to_vec()));
        self.transact(|trees| {
            for (tree, records) in trees.iter().zip(&writes) {
                for (key, value) in records {
                    tree.insert(key.as_slice(), value.as_slice())?;
                }
            }
            Ok(())
        })?;
        self.flush()
    }

    /// Records a schema version, for tests of version refusal and upgrades.
    #[cfg(test)]
    pub(crate) fn set_schema_version(&self, version: u64) {
        self.tree(TreeName::Meta).insert(SCHEMA_KEY, &version.to_be_bytes()).expect("write schema version");
        self.db.flush().expect("flush");
    }

    /// Writes a raw value, for tests of what older and broken stores hold.
    #[cfg(test)]
    pub(crate) fn put_raw(&self, tree: &str, key: &[u8], value: &[u8]) {
        let index = TREE_NAMES.iter().position(|name| *name == tree).expect("a tree of the store");
        self.trees[index].insert(key, value).expect("raw write");
        self.db.flush().expect("flush");
    }

    /// The recorded schema version, for tests.
    #[cfg(test)]
    pub(crate) fn schema_version(&self) -> Option<u64> {
        self.tree(TreeName::Meta).get(SCHEMA_KEY).unwrap().map(|raw| decode_u64(&raw).unwrap())
    }

    fn shown(&self) -> String {
        self.dir.display().to_string()
    }

    /// Runs `body` as one transaction over every tree, then flushes.
    fn transact(
        &self,
        body: impl Fn(&[TransactionalTree]) -> Result<(), ConflictableTransactionError<()>>,
    ) -> Result<(), StoreError> {
        let dir = self.shown();
        let trees: Vec<&sled::Tree> = self.trees.iter().collect();
        match trees.as_slice().transaction(|views| body(views)) {
            Ok(()) => {}
            Err(TransactionError::Abort(())) => return Err(io(&dir, "transaction aborted")),
            Err(TransactionError::Storage(e)) => return Err(sled_io(&dir, e)),
        }
        Ok(())
    }

    /// Every record of `tree` with its key, read by `decode`; `what` names the kind in a report.
    fn records<T>(
        &self,
        tree: TreeName,
        what: &str,
        decode: impl Fn(&[u8]) -> Result<T, Unreadable>,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.tree(tree)
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(|e| sled_io(&self.shown(), e))?;
                let key = String::from_utf8_lossy(&key).into_owned();
                let record = decode(&value).map_err(|e| self.unreadable(what, &key, e))?;
                Ok((key, record))
            })
            .collect()
    }

    fn unreadable(&self, what: &str, key: &str, error: Unreadable) -> StoreError {
        match error {
            Unreadable::Newer(found) => StoreError::NewerFormat {
                dir: self.shown(),
                record: format!("{what} {key}"),
                found,
                known: records::FORMAT,
            },
            Unreadable::Malformed(detail) => {
                StoreError::Corrupt { dir: self.shown(), detail: format!("{what} {key}: {detail}") }
            }
        }
    }

    fn meta_u64(&self, key: &[u8], what: &str) -> Result<u64, StoreError> {
        match self.tree(TreeName::Meta).get(key).map_err(|e| sled_io(&self.shown(), e))? {
            None => Ok(0),
            Some(raw) => decode_u64(&raw)
                .ok_or_else(|| StoreError::Corrupt { dir: self.shown(), detail: format!("{what}: not a number") }),
        }
    }
}

/// Any record, encoded in the current format: one closure then serves every kind.
trait Encode {
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error>;
}

impl<T: serde::Serialize> Encode for T {
    fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        records::encode(self)
    }
}

/// How long an open waits for a lock still held: sled lets go of its file lock from a writer
/// thread a moment after the last handle of a closed store is dropped, so a reopen in the same
/// process (a restart) may find it held for a few milliseconds. A lock held by another
/// scheduler is still reported within this long.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_millis(1000);

/// Opens sled's database at `path`, waiting up to [`LOCK_GRACE`] for a lock being let go.
fn open_db(path: &Path, shown: &str) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + LOCK_GRACE;
    loop {
        match sled::Config::new().path(path).open().map_err(|e| open_error(shown, e)) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

fn decode_u64(raw: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(raw.try_into().ok()?))
}

fn io(dir: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io { dir: dir.to_owned(), detail: e.to_string() }
}

/// A sled failure in words: an I/O error's own message ("No space left on device (os error
/// 28)"), not the debug form sled passes it on in.
fn sled_io(dir: &str, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io_error) => io(dir, io_words(&io_error)),
        other => io(dir, other),
    }
}

/// sled hands an OS error on as a new error holding the original's debug form (`Os { code: 28,
/// kind: StorageFull, message: "No space left on device" }`); this gives back its words.
fn io_words(error: &std::io::Error) -> String {
    let text = error.to_string();
    if error.raw_os_error().is_some() {
        return text;
    }
    let code = text
        .split("code: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse::<i32>().ok());
    code.map_or(text, |code| std::io::Error::from_raw_os_error(code).to_string())
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
        _ => sled_io(dir, e),
    }
}

impl Store for SledStore {
    fn load(&self) -> Result<Durable, StoreError> {
        let jobs: BTreeMap<JobKey, JobSpec> = self
            .records(TreeName::Jobs, "job", records::decode_plain::<JobSpec>)?
            .into_iter()
            .map(|(_, job)| (job.key.clone(), job))
            .collect();
        let mut configs: BTreeMap<ConfigId, ConfigVersion> = BTreeMap::new();
        for (key, config) in self.records(TreeName::Configs, "config", records::decode_plain::<TaskConfig>)? {
            let id: ConfigId =
                key.parse().map_err(|e| self.unreadable("config", &key, Unreadable::Malformed(format!("{e}"))))?;
            configs.insert(id, ConfigVersion::stored(id, config));
        }
        let tasks = self.records(TreeName::Tasks, "task", |bytes| records::decode_task(bytes, &jobs))?;
        let tasks = tasks
            .into_iter()
            .map(|(key, (record, implied))| {
                if let Some(config) = implied {
                    configs.entry(record.config).or_insert_with(|| ConfigVersion::stored(record.config, config));
                }
                let version = configs.get(&record.config).cloned().ok_or_else(|| StoreError::Corrupt {
                    dir: self.shown(),
                    detail: format!("task {key} runs config {}, which is not stored", record.config),
                })?;
                Ok(record.into_task(version))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let updates: Vec<JobUpdate> =
            self.records(TreeName::Updates, "update", records::decode_plain)?.into_iter().map(|(_, u)| u).collect();
        if let Some((update, missing)) =
            updates.iter().find_map(|u| u.config_ids().find(|id| !configs.contains_key(id)).map(|missing| (u, missing)))
        {
            return Err(StoreError::Corrupt {
                dir: self.shown(),
                detail: format!(
                    "update {} of {} refers to config {missing}, which is not stored",
                    update.id, update.job
                ),
            });
        }
        Ok(Durable {
            jobs: jobs.into_values().collect(),
            configs: configs.into_values().collect(),
            tasks,
            next_task_seq: self.meta_u64(NEXT_SEQ_KEY, "next_task_seq")?,
            host_modes: self.records(TreeName::Hosts, "host", records::decode_plain)?,
            quotas: self.records(TreeName::Quotas, "quota of role", records::decode_plain)?,
            restarts: self
                .records(TreeName::Restarts, "restart of", records::decode_plain)?
                .into_iter()
                .map(|(_, p)| p)
                .collect(),
            updates,
            next_update_id: self.meta_u64(NEXT_UPDATE_KEY, "next_update_id")?,
            cron: self
                .records(TreeName::Cron, "cron job", records::decode_plain)?
                .into_iter()
                .map(|(_, c)| c)
                .collect(),
            events: self
                .records(TreeName::Events, "event", records::decode_plain)?
                .into_iter()
                .map(|(_, e)| e)
                .collect(),
            next_event_index: self.meta_u64(NEXT_EVENT_KEY, "next_event_index")?,
            frameworks: self
                .records(TreeName::Frameworks, "framework", records::decode_plain)?
                .into_iter()
                .map(|(_, f)| f)
                .collect(),
            acknowledged: self
                .records(TreeName::Acknowledged, "acknowledgements of task", records::decode_plain)?
                .into_iter()
                .map(|(task, count)| (atoll_model::TaskId(task), count))
                .collect(),
        })
    }

    fn write(&self, changes: &Changes) -> Result<u64, StoreError> {
        let dir = self.shown();
        let encode = |value: &dyn Encode| value.encode().map_err(|e| io(&dir, e));
        let mut writes: Vec<Writes> = vec![Vec::new(); self.trees.len()];
        let mut removals: Vec<Vec<Vec<u8>>> = vec![Vec::new(); self.trees.len()];
        for job in &changes.jobs_put {
            writes[TreeName::Jobs as usize].push((job.key.to_string().into_bytes(), encode(job)?));
        }
        removals[TreeName::Jobs as usize].extend(changes.jobs_deleted.iter().map(|k| k.to_string().into_bytes()));
        for version in &changes.configs_put {
            writes[TreeName::Configs as usize].push((version.id().to_string().into_bytes(), encode(version.config())?));
        }
        removals[TreeName::Configs as usize]
            .extend(changes.configs_deleted.iter().map(|id| id.to_string().into_bytes()));
        for task in &changes.tasks_put {
            writes[TreeName::Tasks as usize].push((task.id.0.clone().into_bytes(), encode(&TaskRecord::of(task))?));
        }
        removals[TreeName::Tasks as usize].extend(changes.tasks_deleted.iter().map(|id| id.0.clone().into_bytes()));
        for (host, mode) in &changes.hosts_put {
            writes[TreeName::Hosts as usize].push((host.clone().into_bytes(), encode(mode)?));
        }
        removals[TreeName::Hosts as usize].extend(changes.hosts_deleted.iter().map(|h| h.clone().into_bytes()));
        for (role, quota) in &changes.quotas_put {
            writes[TreeName::Quotas as usize].push((role.clone().into_bytes(), encode(quota)?));
        }
        for plan in &changes.restarts_put {
            writes[TreeName::Restarts as usize].push((plan.job.to_string().into_bytes(), encode(plan)?));
        }
        removals[TreeName::Restarts as usize]
            .extend(changes.restarts_deleted.iter().map(|k| k.to_string().into_bytes()));
        for update in &changes.updates_put {
            writes[TreeName::Updates as usize].push((update_key(update.id), encode(update)?));
        }
        removals[TreeName::Updates as usize].extend(changes.updates_deleted.iter().map(|id| update_key(*id)));
        for record in &changes.cron_put {
            writes[TreeName::Cron as usize].push((record.job.to_string().into_bytes(), encode(record)?));
        }
        removals[TreeName::Cron as usize].extend(changes.cron_deleted.iter().map(|k| k.to_string().into_bytes()));
        for event in &changes.events_put {
            writes[TreeName::Events as usize].push((sequence_key(event.index), encode(event)?));
        }
        removals[TreeName::Events as usize].extend(changes.events_deleted.iter().map(|index| sequence_key(*index)));
        for framework in &changes.frameworks_put {
            writes[TreeName::Frameworks as usize].push((framework.id.clone().into_bytes(), encode(framework)?));
        }
        removals[TreeName::Frameworks as usize]
            .extend(changes.frameworks_deleted.iter().map(|id| id.clone().into_bytes()));
        for (task, count) in &changes.acknowledged_put {
            writes[TreeName::Acknowledged as usize].push((task.0.clone().into_bytes(), encode(count)?));
        }
        removals[TreeName::Acknowledged as usize]
            .extend(changes.acknowledged_deleted.iter().map(|task| task.0.clone().into_bytes()));
        let meta = &mut writes[TreeName::Meta as usize];
        meta.push((NEXT_SEQ_KEY.to_vec(), changes.next_task_seq.to_be_bytes().to_vec()));
        meta.push((NEXT_UPDATE_KEY.to_vec(), changes.next_update_id.to_be_bytes().to_vec()));
        meta.push((NEXT_EVENT_KEY.to_vec(), changes.next_event_index.to_be_bytes().to_vec()));
        let bytes = writes.iter().flatten().map(|(key, value)| key.len() + value.len()).sum::<usize>()
            + removals.iter().flatten().map(Vec::len).sum::<usize>();
        self.transact(|trees| {
            for ((tree, records), removed) in trees.iter().zip(&writes).zip(&removals) {
                for (key, value) in records {
                    tree.insert(key.as_slice(), value.as_slice())?;
                }
                for key in removed {
                    tree.remove(key.as_slice())?;
                }
            }
            Ok(())
        })?;
        Ok(bytes as u64)
    }

    /// One fsync of sled's log, for every transaction written before it.
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| sled_io(&self.shown(), e))
    }
}

/// Updates are keyed by their id in 20 decimal digits, so they list in the order they were made.
fn update_key(id: u64) -> Vec<u8> {
    sequence_key(id)
}

/// A number as a key that sorts as the number does: 20 decimal digits.
fn sequence_key(number: u64) -> Vec<u8> {
    format!("{number:020}").into_bytes()
}

#[cfg(test)]
mod tests;

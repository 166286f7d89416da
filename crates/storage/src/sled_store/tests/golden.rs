//! Golden data: what the release before schema 3 (schema 2, format-1 records) wrote, read by
//! this build. `testdata/schema2/*.json` are that release's records tree by tree, verbatim;
//! `testdata/schema2-sled.tar.gz` is the data directory it left. The state in both: a
//! production service `web` (3 instances, health check, announcer, constraints) in the middle
//! of a restart, a finished ad-hoc job `batch`, the tasks of a killed job `doomed` (its job
//! record gone), a SCHEDULED host and a quota. `testdata/schema3-sled.tar.gz` and
//! `testdata/schema4-sled.tar.gz` and `testdata/schema5-sled.tar.gz` are what the releases
//! before schemas 4, 5 and 6 left; see their tests.

use std::path::{Path, PathBuf};

use atoll_model::{JobKey, MaintenanceMode, TaskState};
use atoll_state::{ClusterState, Durable, StateConfig};
use serde_json::Value;

use crate::{SCHEMA_VERSION, SledStore, Store};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// A data directory holding the golden records, as schema 2 left it.
fn schema2_from_records(dir: &Path) {
    let store = SledStore::open(dir).expect("open a fresh store");
    for tree in ["jobs", "tasks", "hosts", "quotas", "restarts", "meta"] {
        let path = testdata().join("schema2").join(format!("{tree}.json"));
        let records: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).expect("golden file")).expect("json");
        for record in records {
            let key = record["key"].as_str().expect("a key").as_bytes().to_vec();
            let value = match record.get("value_hex") {
                Some(hex) => {
                    let hex = hex.as_str().expect("hex");
                    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
                }
                None => serde_json::to_vec(&record["value"]).expect("value"),
            };
            store.put_raw(tree, &key, &value);
        }
    }
    assert_eq!(store.schema_version(), Some(2), "the golden meta records schema 2");
}

/// A golden tarball of `testdata`, unpacked into a temporary directory.
fn unpacked(tarball: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(testdata().join(tarball))
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("run tar");
    assert!(status.success(), "tar -xzf {tarball} failed");
    dir
}

fn key(text: &str) -> JobKey {
    text.parse().expect("a job key")
}

/// Everything the golden state holds, as this build reads it.
fn check(durable: &Durable) {
    assert_eq!(durable.jobs.len(), 2, "web and batch; doomed was killed");
    assert_eq!(durable.tasks.len(), 7);
    assert_eq!(durable.next_task_seq, 7);
    assert_eq!(durable.host_modes, vec![("agent-b.example.com".to_owned(), MaintenanceMode::Scheduled)]);
    assert_eq!(durable.quotas.len(), 1);
    assert_eq!(durable.restarts.len(), 1);
    assert_eq!(durable.restarts[0].waiting, vec![1]);
    assert!(durable.updates.is_empty());

    let web = key("devcluster/www-data/prod/web");
    let web_job = durable.jobs.iter().find(|j| j.key == web).expect("the web job");
    let web_tasks: Vec<_> = durable.tasks.iter().filter(|t| t.job == web).collect();
    assert_eq!(web_tasks.len(), 4);
    for task in &web_tasks {
        assert_eq!(task.config.config(), &web_job.config, "{}: the job's config with the task's spec", task.id);
        assert!(task.config.ptr_eq(&web_tasks[0].config), "one shared version");
    }
    let config = &web_tasks[0].config;
    assert!(config.announce.is_some() && config.production && config.priority == 5);
    assert_eq!(config.constraints.len(), 2);
    assert!(config.requested_ports().contains("http"));
    let states: Vec<TaskState> = web_tasks.iter().map(|t| t.state).collect();
    assert_eq!(states, vec![TaskState::Killed, TaskState::Pending, TaskState::Running, TaskState::Assigned]);
    assert!(web_tasks[3].assignment.as_ref().is_some_and(|a| !a.ports.is_empty()));

    let doomed: Vec<_> = durable.tasks.iter().filter(|t| t.job == key("devcluster/www-data/test/doomed")).collect();
    assert_eq!(doomed.len(), 2);
    assert_eq!(doomed[0].config.task.name, "worker", "its own spec");
    assert!(!doomed[0].config.service, "defaults for the rest: its job is gone");
    assert_eq!(durable.configs.len(), 3, "web, batch and doomed");
}

#[test]
fn a_schema_2_directory_is_upgraded_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    schema2_from_records(dir.path());
    let store = SledStore::open(dir.path()).expect("the upgrade");
    assert_eq!(store.upgraded_from(), Some(2));
    assert_eq!(store.schema_version(), Some(SCHEMA_VERSION));
    let durable = store.load().expect("load");
    check(&durable);
    drop(store);

    // Rewritten in the current formats: reopening upgrades nothing and reads the same.
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.upgraded_from(), None);
    assert_eq!(store.load().unwrap(), durable);
    let raw = store.db.open_tree("tasks").unwrap().iter().next().unwrap().unwrap().1;
    assert!(raw.starts_with(br#"{"format":2,"record":{"#), "{}", String::from_utf8_lossy(&raw));

    // A scheduler restored from it carries on: the restart and the pending instance with it.
    let state = ClusterState::restore(StateConfig::new("devcluster"), durable, 1_700_000_500_000);
    assert_eq!(state.restarts().count(), 1);
    assert_eq!(state.job_tasks(&key("devcluster/www-data/prod/web"), false).len(), 3);
}

#[test]
fn the_data_directory_that_release_left_reads_the_same() {
    let dir = unpacked("schema2-sled.tar.gz");
    let store = SledStore::open(&dir.path().join("schema2-sled")).expect("open and upgrade the old directory");
    assert_eq!(store.upgraded_from(), Some(2));
    let from_directory = store.load().unwrap();
    check(&from_directory);

    let records = tempfile::tempdir().unwrap();
    schema2_from_records(records.path());
    assert_eq!(SledStore::open(records.path()).unwrap().load().unwrap(), from_directory, "records and directory agree");
}

/// `testdata/schema3-sled.tar.gz` is the data directory the release before schema 4 (no cron
/// tree) left: a production service `web` (3 instances, `limit:1` on hosts) with its update 1
/// to a second config under way, an ad-hoc job `batch`, and a quota for `www-data`; its tasks
/// all PENDING, as no agent ever joined.
#[test]
fn a_schema_3_directory_is_raised_to_schema_4_and_keeps_everything() {
    let dir = unpacked("schema3-sled.tar.gz");
    let store = SledStore::open(&dir.path().join("schema3-sled")).expect("open and upgrade the schema-3 directory");
    assert_eq!(store.upgraded_from(), Some(3));
    assert_eq!(store.schema_version(), Some(SCHEMA_VERSION));
    let durable = store.load().expect("load");
    let web = key("devcluster/www-data/prod/web");
    let mut jobs: Vec<String> = durable.jobs.iter().map(|j| j.key.to_string()).collect();
    jobs.sort();
    assert_eq!(jobs, ["devcluster/www-data/devel/batch", "devcluster/www-data/prod/web"]);
    assert!(durable.cron.is_empty(), "schema 3 had no cron jobs");
    assert_eq!(durable.quotas.len(), 1);
    assert_eq!(durable.updates.len(), 1);
    let update = &durable.updates[0];
    assert_eq!((update.id, &update.job, update.message.as_deref()), (1, &web, Some("golden")));
    assert_ne!(update.job_before.config, update.job_after.config, "an update to a second config");
    assert!(
        durable.tasks.iter().all(|t| t.state == TaskState::Pending || t.state.is_terminal()),
        "{:?}",
        durable.tasks
    );
    assert!(durable.tasks.iter().filter(|t| t.job == web && t.state == TaskState::Pending).count() == 3);
    let stored: std::collections::BTreeSet<_> = durable.configs.iter().map(|c| c.id()).collect();
    assert!(durable.tasks.iter().all(|t| stored.contains(&t.config.id())), "every task's config is stored");
    drop(store);

    // Raised in place: reopening upgrades nothing, and a scheduler restored from it carries
    // the update on.
    let store = SledStore::open(&dir.path().join("schema3-sled")).unwrap();
    assert_eq!(store.upgraded_from(), None);
    assert_eq!(store.load().unwrap(), durable);
    let state = ClusterState::restore(StateConfig::new("devcluster"), durable, 1_800_000_000_000);
    assert_eq!(state.active_update(&web).map(|u| u.id), Some(1));
}

/// `testdata/schema4-sled.tar.gz` is the data directory the release before schema 5 (no events)
/// left: a service `hello` (2 instances, RUNNING on agents `a` and `b`) mid-restart, host `b`
/// SCHEDULED, a quota for `www-data`, and a cron job `nightly` (Europe/Paris) started once.
#[test]
fn a_schema_4_directory_is_raised_to_the_current_schema_and_keeps_everything() {
    let dir = unpacked("schema4-sled.tar.gz");
    let store = SledStore::open(&dir.path().join("schema4-sled")).expect("open and upgrade the schema-4 directory");
    assert_eq!(store.upgraded_from(), Some(4));
    assert_eq!(store.schema_version(), Some(SCHEMA_VERSION));
    let durable = store.load().expect("load");
    assert!(durable.events.is_empty(), "schema 4 had no events");
    let mut jobs: Vec<String> = durable.jobs.iter().map(|j| j.key.to_string()).collect();
    jobs.sort();
    assert_eq!(jobs, ["devcluster/www-data/devel/hello", "devcluster/www-data/devel/nightly"]);
    assert_eq!((durable.restarts.len(), durable.quotas.len(), durable.cron.len()), (1, 1, 1));
    assert_eq!(durable.cron[0].zone, "Europe/Paris");
    assert_eq!(durable.host_modes, vec![("b".to_owned(), MaintenanceMode::Scheduled)]);
    drop(store);
    // A scheduler restored from it numbers its first event 1, and the events it records are
    // there after reopening.
    let store = SledStore::open(&dir.path().join("schema4-sled")).unwrap();
    assert_eq!(store.upgraded_from(), None);
    let mut state = ClusterState::restore(StateConfig::new("devcluster"), store.load().unwrap(), 10);
    assert_eq!(state.next_event_index(), 1);
    let outcome = state.kill(&key("devcluster/www-data/devel/hello"), None, 11).unwrap().1;
    store.commit(&outcome.changes).unwrap();
    let indices: Vec<u64> = store.load().unwrap().events.iter().map(|e| e.index).collect();
    assert!(!indices.is_empty() && indices.windows(2).all(|w| w[1] == w[0] + 1) && indices[0] == 1, "{indices:?}");
}

/// `testdata/schema5-sled.tar.gz` is the data directory the release before schema 6 (no
/// frameworks) left: `atoll dev` with `examples/hello_world.rhai` run, then stopped.
#[test]
fn a_schema_5_directory_is_raised_to_schema_6_and_keeps_its_frameworks_from_then_on() {
    let dir = unpacked("schema5-sled.tar.gz");
    let path = dir.path().join("schema5-sled");
    let store = SledStore::open(&path).expect("open and upgrade the schema-5 directory");
    assert_eq!(store.upgraded_from(), Some(5));
    assert_eq!(store.schema_version(), Some(SCHEMA_VERSION));
    let durable = store.load().expect("load");
    assert!(durable.frameworks.is_empty(), "schema 5 had no frameworks");
    let hello = key("devcluster/www-data/devel/hello");
    assert!(durable.tasks.iter().any(|t| t.job == hello), "the hello task is kept: {:?}", durable.tasks);
    assert!(!durable.events.is_empty(), "its events are kept");
    let record = atoll_model::framework::FrameworkRecord {
        id: "fanout-1".into(),
        name: "fanout".into(),
        role: "www-data".into(),
        principal: "alice".into(),
        failover_timeout_ms: 60_000,
        registered_ms: 5,
        next_instance: 3,
        disconnected_ms: Some(7),
    };
    let acknowledged = vec![(atoll_model::TaskId("t".into()), 2)];
    let changes = atoll_state::Changes {
        frameworks_put: vec![record.clone()],
        acknowledged_put: acknowledged.clone(),
        ..Default::default()
    };
    store.commit(&changes).unwrap();
    drop(store);
    let store = SledStore::open(&path).unwrap();
    assert_eq!(store.upgraded_from(), None);
    let durable = store.load().unwrap();
    assert_eq!((durable.frameworks, durable.acknowledged), (vec![record], acknowledged));
}

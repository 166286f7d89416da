//! Store tests on real sled files: round trips, restarts, the lock, schema versions, atomicity.

use atoll_model::{JobSpec, ProcessSpec, Resources, TaskSpec};
use atoll_state::{ClusterState, StateConfig};

use crate::{SCHEMA_VERSION, SledStore, Store, StoreError};

fn job(name: &str) -> JobSpec {
    let task = TaskSpec::new(
        vec![ProcessSpec::new(name, "sleep 100")],
        Resources { cpu: 0.5, ram_mb: 16, disk_mb: 16, gpu: 0 },
    );
    let mut job = JobSpec::new(format!("devcluster/www-data/devel/{name}").parse().unwrap(), task);
    job.instances = 2;
    job.service = true;
    job
}

#[test]
fn everything_committed_is_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = ClusterState::new(StateConfig::new("devcluster"));
    state.create_job(job("hello"), 1).unwrap();
    state.create_job(job("other"), 2).unwrap();
    let changes = state.take_changes();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.commit(&changes).unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let durable = store.load().unwrap();
    assert_eq!(durable.jobs, changes.jobs_put);
    assert_eq!(durable.tasks.len(), 4);
    assert_eq!(durable.next_task_seq, 4);

    let key = job("hello").key;
    state.kill(&key, None, 3).unwrap();
    store.commit(&state.take_changes()).unwrap();
    let durable = store.load().unwrap();
    assert_eq!(durable.jobs.len(), 1, "killall removed the job durably");
    assert_eq!(durable.tasks.iter().filter(|t| t.job == key && t.state.is_terminal()).count(), 2);
}

#[test]
fn a_second_open_of_the_same_directory_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    let err = SledStore::open(dir.path()).err().expect("second open must fail");
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("in use by another scheduler"), "{err}");
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.set_schema_version(SCHEMA_VERSION + 1);
    }
    let err = SledStore::open(dir.path()).err().expect("newer schema must be refused");
    assert!(err.to_string().contains("schema version 2, newer than this Atoll understands (1)"), "{err}");
    let err = SledStore::open(dir.path()).err().expect("still refused: nothing was rewritten");
    assert!(matches!(err, StoreError::NewerSchema { found: 2, .. }));
}

#[test]
fn a_corrupt_record_is_reported_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.jobs.insert("devcluster/a/b/c", b"{not json".as_slice()).unwrap();
        store.db.flush().unwrap();
    }
    let err = SledStore::open(dir.path()).unwrap().load().unwrap_err().to_string();
    assert!(err.contains("is corrupt") && err.contains("job devcluster/a/b/c"), "{err}");
}

#[test]
fn a_store_that_cannot_be_created_says_where() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = SledStore::open(&file.path().join("sub")).err().expect("a file is not a directory");
    assert!(err.to_string().contains(&file.path().display().to_string()), "{err}");
}

//! Store tests on real sled files: round trips, restarts, the lock, schema versions and their
//! upgrade, the records beyond jobs and tasks (configs, host modes, quotas, restarts, updates),
//! and golden data: schema-2 and schema-3 directories written by the releases before schemas 3
//! and 4.

use atoll_model::{AgentId, JobSpec, MaintenanceMode, ProcessSpec, ResourceAggregate, Resources, TaskSpec, TaskState};
use atoll_state::{ClusterState, Effect, Outcome, Registration, StateConfig, StatusReport};

use crate::{MemoryStore, SCHEMA_VERSION, SledStore, Store, StoreError};

mod golden;

fn job(name: &str) -> JobSpec {
    let task = TaskSpec::new(
        vec![ProcessSpec::new(name, "sleep 100")],
        Resources { cpu: 0.5, ram_mb: 16, disk_mb: 16, gpu: 0 },
    );
    let mut job = JobSpec::new(format!("devcluster/www-data/devel/{name}").parse().unwrap(), task);
    job.instances = 2;
    job.config.service = true;
    job
}

#[test]
fn everything_committed_is_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = ClusterState::new(StateConfig::new("devcluster"));
    let (_, hello) = state.create_job(job("hello"), 1).unwrap();
    let (_, other) = state.create_job(job("other"), 2).unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.commit(&hello.changes).unwrap();
        store.commit(&other.changes).unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let durable = store.load().unwrap();
    assert_eq!(durable.jobs, [hello.changes.jobs_put, other.changes.jobs_put].concat());
    assert_eq!(durable.tasks.len(), 4);
    assert_eq!(durable.next_task_seq, 4);

    let key = job("hello").key;
    let (_, killed) = state.kill(&key, None, 3).unwrap();
    store.commit(&killed.changes).unwrap();
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
    let newer = SCHEMA_VERSION + 1;
    let expected = format!("schema version {newer}, newer than this Atoll understands ({SCHEMA_VERSION})");
    assert!(err.to_string().contains(&expected), "{err}");
    let err = SledStore::open(dir.path()).err().expect("still refused: nothing was rewritten");
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == newer));
}

#[test]
fn a_corrupt_record_is_reported_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.put_raw("jobs", b"devcluster/a/b/c", b"{not json");
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

#[test]
fn a_schema_1_directory_is_read_and_raised_to_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = ClusterState::new(StateConfig::new("devcluster"));
    let (_, created) = state.create_job(job("hello"), 1).unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.commit(&created.changes).unwrap();
        store.set_schema_version(1);
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.schema_version(), Some(SCHEMA_VERSION));
    let durable = store.load().unwrap();
    assert_eq!((durable.jobs.len(), durable.tasks.len()), (1, 2));
    assert!(durable.host_modes.is_empty() && durable.quotas.is_empty() && durable.restarts.is_empty());
}

/// A state with a running job mid-restart, a drained host and a quota, its changes committed to
/// `store`.
fn admin_state(store: &dyn Store) -> ClusterState {
    let mut state = ClusterState::new(StateConfig::new("devcluster"));
    let registration = |id: &str| Registration {
        incarnation: None,
        id: AgentId(id.into()),
        hostname: id.into(),
        resources: "cpus:4;mem:1024;disk:1024".parse().unwrap(),
        attributes: Default::default(),
        tasks: Vec::new(),
    };
    let commit = |outcome: Outcome| {
        store.commit(&outcome.changes).unwrap();
        outcome.effects
    };
    commit(state.register_agent(registration("a"), 0).expect("registered"));
    commit(state.register_agent(registration("b"), 0).expect("registered"));
    commit(state.create_job(job("hello"), 0).unwrap().1);
    for effect in commit(state.placement_round(0)) {
        if let Effect::Launch { agent, task } = effect {
            let running =
                StatusReport { state: TaskState::Running, message: String::new(), exit_code: None, sandbox: None };
            commit(state.update_status(&agent, &task.id, running, 1));
        }
    }
    commit(state.restart(&job("hello").key, None, 1, 2).unwrap().1);
    commit(state.set_maintenance(&["b".to_owned()], MaintenanceMode::Scheduled, 3).1);
    commit(state.set_quota("www-data", ResourceAggregate { cpu_millis: 1500, ram_mb: 64, disk_mb: 64 }));
    let mut nightly = job("nightly");
    nightly.config.service = false;
    nightly.cron_schedule = Some("15 2 * * *".into());
    nightly.cron_timezone = Some("Europe/Paris".into());
    commit(state.schedule_cron(nightly.clone(), 4).unwrap().1);
    commit(state.start_cron(&nightly.key, 5).unwrap().1);
    state
}

#[test]
fn host_modes_quotas_restarts_and_cron_jobs_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        admin_state(&store);
    }
    let durable = SledStore::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(durable.host_modes, vec![("b".to_owned(), MaintenanceMode::Scheduled)]);
    assert_eq!(
        durable.quotas,
        vec![("www-data".to_owned(), ResourceAggregate { cpu_millis: 1500, ram_mb: 64, disk_mb: 64 })]
    );
    assert_eq!(durable.restarts.len(), 1);
    assert_eq!((durable.restarts[0].waiting.clone(), durable.restarts[0].batch.len()), (vec![1], 1));
    assert_eq!(durable.cron.len(), 1);
    let (cron, run) = (&durable.cron[0], &durable.cron[0].runs[0]);
    assert_eq!((cron.job.name.as_str(), cron.zone.as_str(), cron.handled_ms), ("nightly", "Europe/Paris", 4));
    assert_eq!((run.state, run.due_ms, run.at_ms), (atoll_state::CronRunState::Running, None, 5));
    let template = durable.jobs.iter().find(|j| j.key == cron.job).expect("the template");
    assert_eq!(template.cron_timezone.as_deref(), Some("Europe/Paris"));
}

#[test]
fn the_memory_store_keeps_what_sled_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path()).unwrap();
    let memory = MemoryStore::default();
    let mut state = admin_state(&sled);
    let mut twin = admin_state(&memory);
    sled.commit(&state.set_maintenance(&["b".to_owned()], MaintenanceMode::None, 4).1.changes).unwrap();
    memory.commit(&twin.set_maintenance(&["b".to_owned()], MaintenanceMode::None, 4).1.changes).unwrap();
    let (from_sled, from_memory) = (sled.load().unwrap(), memory.load().unwrap());
    assert_eq!(from_sled, from_memory);
    assert!(from_sled.host_modes.is_empty(), "NONE removes the record");
}

#[test]
fn an_os_error_sled_passes_on_reads_in_words() {
    let full = std::io::Error::from_raw_os_error(28);
    let as_sled_passes_it = std::io::Error::new(full.kind(), format!("{full:?}"));
    assert_eq!(super::io_words(&as_sled_passes_it), "No space left on device (os error 28)");
    assert_eq!(super::io_words(&full), "No space left on device (os error 28)");
    let other = std::io::Error::other("something else");
    assert_eq!(super::io_words(&other), "something else");
}

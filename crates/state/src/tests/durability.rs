//! A scheduler restarted from what its store kept picks up every pending decision: throttles,
//! preemption delays, restarts in progress, host modes and quotas, without a task twice.

use super::*;

/// Active tasks per instance of `job`.
fn active_per_instance(state: &ClusterState, job: &JobKey) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for task in state.job_tasks(job, true).into_iter().filter(|t| t.state.is_active()) {
        *counts.entry(task.instance).or_insert(0) += 1;
    }
    counts
}

/// Registers `agent` again, reporting each of `ids` RUNNING.
fn reregister(state: &mut ClusterState, agent: &str, ids: &[TaskId], now: u64) -> Vec<Effect> {
    let tasks = ids.iter().map(|id| (id.clone(), running_report())).collect();
    register_reporting(state, agent, tasks, now)
}

#[test]
fn a_throttled_task_waits_out_its_backoff_across_a_restart() {
    let mut state = ClusterState::new(config());
    let mut kept = Kept::default();
    let ids = state.create_job(job("svc", 1, true), 0).unwrap();
    register(&mut state, "a", 0);
    state.schedule(0);
    report(&mut state, "a", &ids[0], TaskState::Running, 100);
    report(&mut state, "a", &ids[0], TaskState::Finished, 200);
    kept.save(&mut state);

    let mut restored = kept.restore(1_000);
    register(&mut restored, "a", 1_000);
    restored.tick(2_100);
    assert_eq!(states(&restored, "svc"), vec![(0, TaskState::Throttled)], "backoff ends at 2 200");
    restored.tick(2_200);
    assert_eq!(states(&restored, "svc"), vec![(0, TaskState::Pending)]);
    assert_eq!(active_per_instance(&restored, &job("svc", 1, true).key), BTreeMap::from([(0, 1)]));
}

#[test]
fn the_preemption_delay_counts_from_the_pending_event_and_a_preemption_is_not_repeated() {
    let mut state = ClusterState::new(config());
    let mut kept = Kept::default();
    register(&mut state, "a", 0);
    let low = state.create_job(job("low", 2, true), 0).unwrap();
    state.schedule(0);
    for id in &low {
        report(&mut state, "a", id, TaskState::Running, 0);
    }
    let mut prod = job("prod", 1, true);
    prod.config.production = true;
    state.create_job(prod.clone(), 100).unwrap();
    kept.save(&mut state);

    let mut restored = kept.restore(5_000);
    reregister(&mut restored, "a", &low, 5_000);
    assert!(restored.schedule(10_099).is_empty(), "the wait did not start again at the restart");
    assert_eq!(killed(&restored.schedule(10_100)), vec![("a".to_owned(), low[0].clone())]);
    kept.save(&mut restored);

    let mut again = kept.restore(10_200);
    let effects = reregister(&mut again, "a", &low, 10_200);
    assert_eq!(killed(&effects), vec![("a".to_owned(), low[0].clone())], "the lost kill is sent again");
    assert!(killed(&again.schedule(10_300)).is_empty(), "no second victim");
    report(&mut again, "a", &low[0], TaskState::Killed, 10_400);
    let placed = launched(&again.schedule(10_500));
    assert_eq!(placed.len(), 1, "the production task takes the room");
    assert_eq!(active_per_instance(&again, &job("low", 1, true).key), BTreeMap::from([(0, 1), (1, 1)]));
}

#[test]
fn a_restart_carries_on_batch_by_batch_after_a_scheduler_restart() {
    let mut state = ClusterState::new(config());
    let mut kept = Kept::default();
    register(&mut state, "a", 0);
    let key = job("web", 2, true).key;
    let ids = state.create_job(job("web", 2, true), 0).unwrap();
    state.schedule(0);
    for id in &ids {
        report(&mut state, "a", id, TaskState::Running, 0);
    }
    state.restart(&key, None, 1, 10).unwrap();
    kept.save(&mut state);

    let mut restored = kept.restore(100);
    let effects = reregister(&mut restored, "a", &ids, 100);
    assert_eq!(killed(&effects), vec![("a".to_owned(), ids[0].clone())], "only the first batch is stopped");
    assert!(killed(&restored.tick(150)).is_empty());
    report(&mut restored, "a", &ids[0], TaskState::Killed, 200);
    let replacement = restored.schedule(300);
    for (agent, id) in launched(&replacement) {
        report(&mut restored, &agent, &id, TaskState::Running, 400);
    }
    kept.save(&mut restored);

    let mut again = kept.restore(500);
    let running: Vec<TaskId> = again.job_tasks(&key, false).iter().map(|t| t.id.clone()).collect();
    reregister(&mut again, "a", &running, 500);
    assert_eq!(killed(&again.tick(600)), vec![("a".to_owned(), ids[1].clone())], "then the second batch");
    assert_eq!(active_per_instance(&again, &key), BTreeMap::from([(0, 1), (1, 1)]));
}

#[test]
fn host_modes_and_quotas_are_kept() {
    let mut state = ClusterState::new(config());
    let mut kept = Kept::default();
    register(&mut state, "a", 0);
    state.set_maintenance(&["a".to_owned()], MaintenanceMode::Drained, 0);
    state.set_quota("www-data", ResourceAggregate { cpu_millis: 500, ram_mb: 64, disk_mb: 64 });
    kept.save(&mut state);

    let restored = kept.restore(100);
    assert_eq!(restored.maintenance(&["a".to_owned()])[0].mode, Some(MaintenanceMode::Drained));
    assert_eq!(restored.quota("www-data").quota.map(|q| q.cpu_millis), Some(500));
}

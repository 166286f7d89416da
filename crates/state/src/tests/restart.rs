//! Rolling restarts in batches, and instances added to a running job.

use super::*;

/// Three running instances of the service `web` on agents `a` and `b`, placed at time 0.
fn running_web(state: &mut ClusterState) -> (JobKey, Vec<(String, TaskId)>) {
    register(state, "a", 0);
    register(state, "b", 0);
    let spec = job("web", 3, true);
    let _ = state.create_job(spec.clone(), 0).unwrap();
    let placed = launched(&place(state, 0));
    for (agent, id) in &placed {
        report(state, agent, id, TaskState::Running, 0);
    }
    (spec.key, placed)
}

/// Reports every launch in `effects` RUNNING.
fn run_all(state: &mut ClusterState, effects: &[Effect], now: u64) {
    for (agent, id) in launched(effects) {
        report(state, &agent, &id, TaskState::Running, now);
    }
}

#[test]
fn a_restart_goes_batch_by_batch_once_replacements_run() {
    let mut state = ClusterState::new(config());
    let (key, placed) = running_web(&mut state);
    let agent_of = |id: &TaskId| placed.iter().find(|(_, t)| t == id).map(|(a, _)| a.clone()).unwrap();

    let (restarted, Outcome { effects, .. }) = state.restart(&key, None, 2, 10).unwrap();
    assert_eq!(restarted.iter().map(|r| r.instance).collect::<Vec<_>>(), vec![0, 1, 2]);
    let first: Vec<TaskId> = killed(&effects).into_iter().map(|(_, id)| id).collect();
    assert_eq!(first, vec![restarted[0].replaces.clone(), restarted[1].replaces.clone()], "the first batch: two");
    assert_eq!(
        states(&state, "web"),
        vec![(0, TaskState::Restarting), (1, TaskState::Restarting), (2, TaskState::Running)]
    );

    for id in &first {
        report(&mut state, &agent_of(id), id, TaskState::Killed, 20);
    }
    assert_eq!(states(&state, "web")[..2], [(0, TaskState::Pending), (1, TaskState::Pending)], "not throttled");
    let replacements = place(&mut state, 30);
    assert!(killed(&tick(&mut state, 40)).is_empty(), "the next batch waits for the replacements to run");
    run_all(&mut state, &replacements, 50);
    let second = killed(&tick(&mut state, 60));
    assert_eq!(second, vec![(agent_of(&restarted[2].replaces), restarted[2].replaces.clone())]);

    report(&mut state, &second[0].0, &second[0].1, TaskState::Killed, 70);
    let last = place(&mut state, 80);
    run_all(&mut state, &last, 90);
    let finished = state.tick(100);
    assert_eq!(state.restarts().count(), 0, "done");
    assert_eq!(finished.changes.restarts_deleted, vec![key.clone()]);
    let now: Vec<TaskId> = state.job_tasks(&key, false).iter().map(|t| t.id.clone()).collect();
    assert!(now.iter().all(|id| restarted.iter().all(|r| r.replaces != *id)), "every instance runs a new task");
}

#[test]
fn restarts_are_refused_or_empty_when_they_cannot_run() {
    let mut state = ClusterState::new(config());
    let (key, _) = running_web(&mut state);
    assert_eq!(state.restart(&key, None, 0, 1).unwrap_err(), StateError::ZeroBatchSize);
    let missing = state.restart(&key, Some(&BTreeSet::from([7])), 1, 1).unwrap_err().to_string();
    assert!(missing.contains("has no instance 7"), "{missing}");
    let _ = state.restart(&key, Some(&BTreeSet::from([0])), 1, 2).unwrap();
    let again = state.restart(&key, None, 1, 3).unwrap_err().to_string();
    assert!(again.contains("is already restarting"), "{again}");

    let pending = job("pending", 2, true);
    let _ = state.create_job(pending.clone(), 4).unwrap();
    let (restarted, Outcome { effects, .. }) = state.restart(&pending.key, None, 1, 5).unwrap();
    assert!(restarted.is_empty() && effects.is_empty(), "nothing on an agent: nothing to restart");
    assert!(state.restarts().all(|plan| plan.job == key));

    let _ = state.kill(&key, None, 6).unwrap();
    assert_eq!(state.restarts().count(), 0, "killing the job ends its restart");
}

#[test]
fn added_instances_clone_an_instance_after_the_last() {
    let mut state = ClusterState::new(config());
    let (key, _) = running_web(&mut state);
    let added = state.add_instances(&key, 1, 2, 10).unwrap().0;
    assert_eq!(added.len(), 2);
    assert_eq!(state.job(&key).unwrap().instances, 5);
    let tasks = state.job_tasks(&key, false);
    let new: Vec<(u32, TaskState)> =
        tasks.iter().filter(|t| added.contains(&t.id)).map(|t| (t.instance, t.state)).collect();
    assert_eq!(new, vec![(3, TaskState::Pending), (4, TaskState::Pending)]);
    assert!(tasks[3].config.ptr_eq(&tasks[1].config), "the new instance shares the config version");

    assert!(state.add_instances(&key, 9, 1, 11).unwrap_err().to_string().contains("has no instance 9"));
    assert_eq!(state.add_instances(&key, 0, 0, 11).unwrap_err(), StateError::NothingToAdd);
    let too_many = state.add_instances(&key, 0, 4_000, 11).unwrap_err().to_string();
    assert!(too_many.contains("between 1 and 4000, not 4005"), "{too_many}");
}

//! Preemption through the state machine: the delay, Aurora's rules on real jobs, victims going
//! PREEMPTING then KILLED and rescheduled, and no second preemption for room already coming.

use super::*;

/// A service of `role` with the given tier and priority.
fn ranked(name: &str, role: &str, instances: u32, tier: &str, priority: i32) -> JobSpec {
    let mut spec = job(name, instances, true);
    spec.key.role = role.to_owned();
    spec.config.tier = Some(tier.to_owned());
    spec.config.priority = priority;
    spec
}

/// Agent `a`, full with the two running instances of `low`; returns their task ids.
fn full_agent(state: &mut ClusterState, low: JobSpec) -> Vec<TaskId> {
    assert_eq!(low.instances, 2);
    register(state, "a", 0);
    let ids = state.create_job(low, 0).unwrap().0;
    place(state, 0);
    for id in &ids {
        report(state, "a", id, TaskState::Running, 0);
    }
    ids
}

fn task_state(state: &ClusterState, job: &JobKey, id: &TaskId) -> Option<TaskState> {
    state.job_tasks(job, true).iter().find(|t| t.id == *id).map(|t| t.state)
}

#[test]
fn a_production_task_preempts_after_the_delay_and_the_victim_is_rescheduled() {
    let mut state = ClusterState::new(config());
    let low_job = ranked("low", "www-data", 2, "preemptible", 0);
    let low = full_agent(&mut state, low_job.clone());
    let prod = state.create_job(ranked("prod", "www-data", 1, "preferred", 0), 100).unwrap().0;
    assert!(place(&mut state, 200).is_empty());
    assert_eq!(state.pending_reason(&prod[0]), Some("Insufficient: CPU"));
    assert!(place(&mut state, 10_099).is_empty(), "not before the delay");

    let effects = place(&mut state, 10_100);
    assert_eq!(killed(&effects), vec![("a".to_owned(), low[0].clone())], "one victim is enough: the lower id");
    assert_eq!(task_state(&state, &low_job.key, &low[0]), Some(TaskState::Preempting));
    assert!(place(&mut state, 10_200).is_empty(), "room is on its way: nothing more is preempted");

    report(&mut state, "a", &low[0], TaskState::Killed, 10_300);
    assert_eq!(launched(&place(&mut state, 10_400)), vec![("a".to_owned(), prod[0].clone())], "placed first");
    let replacement = state.job_tasks(&low_job.key, false)[0].clone();
    assert_eq!((replacement.state, replacement.ancestor), (TaskState::Pending, Some(low[0].clone())));
    assert_eq!(state.pending_reason(&replacement.id), Some("Insufficient: CPU"), "and waits its turn");
}

#[test]
fn priority_preempts_only_within_the_role() {
    let mut state = ClusterState::new(config());
    let low = full_agent(&mut state, ranked("low", "www-data", 2, "preemptible", 0));
    let stranger = ranked("stranger", "other", 1, "preemptible", 9);
    let _ = state.create_job(stranger.clone(), 0).unwrap();
    assert!(place(&mut state, 20_000).is_empty(), "another role's priority does not count");
    let _ = state.kill(&stranger.key, None, 20_001).unwrap();

    let _ = state.create_job(ranked("peer", "www-data", 1, "preemptible", 5), 20_002).unwrap();
    assert!(place(&mut state, 30_001).is_empty(), "within the delay");
    let effects = place(&mut state, 30_002);
    assert_eq!(killed(&effects), vec![("a".to_owned(), low[0].clone())], "same role, higher priority");
}

#[test]
fn production_victims_and_equals_are_never_preempted() {
    let mut state = ClusterState::new(config());
    full_agent(&mut state, ranked("low", "www-data", 2, "preferred", 0));
    let _ = state.create_job(ranked("eager", "www-data", 1, "preemptible", 9), 0).unwrap();
    let _ = state.create_job(ranked("equal", "www-data", 1, "preferred", 0), 0).unwrap();
    assert!(place(&mut state, 20_000).is_empty(), "neither a preemptible task nor an equal preempts production");
}

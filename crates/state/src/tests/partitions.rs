//! PARTITIONED: a silent agent's running tasks under a `partition_policy`.

use std::collections::BTreeSet;

use atoll_model::config::PartitionPolicy;

use super::*;

/// A running instance of `hello` with `policy`, on agent "a", which then goes silent past the
/// agent timeout (1 s here) at 5 s.
fn partitioned(policy: PartitionPolicy) -> (ClusterState, TaskId) {
    let mut state = ClusterState::new(config());
    let mut spec = job("hello", 1, true);
    spec.config.partition_policy = Some(policy);
    let ids = state.create_job(spec, 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    report(&mut state, "a", &ids[0], TaskState::Running, 10);
    tick(&mut state, 5_000);
    (state, ids[0].clone())
}

fn messages(state: &ClusterState, task: &TaskId) -> Vec<(TaskState, String)> {
    state.tasks.get(task).unwrap().events.iter().map(|e| (e.state, e.message.clone())).collect()
}

#[test]
fn a_task_that_waits_for_its_agent_is_running_again_when_it_comes_back_and_never_twice() {
    let (mut state, task) = partitioned(PartitionPolicy { reschedule: false, delay_secs: 0 });
    assert_eq!(history(&state, "hello"), vec![TaskState::Partitioned], "no replacement");
    let (_, message) = messages(&state, &task).pop().unwrap();
    assert_eq!(message, "Agent a stopped sending heartbeats; its partition_policy waits for the agent to come back");
    tick(&mut state, 3_600_000);
    place(&mut state, 3_600_000);
    assert_eq!(history(&state, "hello"), vec![TaskState::Partitioned], "an hour on, still waiting");
    register_reporting(&mut state, "a", vec![(task.clone(), running_report())], 3_600_001);
    assert_eq!(history(&state, "hello"), vec![TaskState::Running], "the same run goes on");
}

#[test]
fn a_partitioned_task_is_lost_and_replaced_after_its_delay() {
    let (mut state, task) = partitioned(PartitionPolicy { reschedule: true, delay_secs: 30 });
    tick(&mut state, 34_000);
    assert_eq!(history(&state, "hello"), vec![TaskState::Partitioned], "within its 30 s");
    tick(&mut state, 35_001);
    assert_eq!(history(&state, "hello"), vec![TaskState::Pending, TaskState::Lost]);
    let (state_now, message) = messages(&state, &task).pop().unwrap();
    assert_eq!(state_now, TaskState::Lost);
    assert_eq!(message, "Partitioned for longer than its partition_policy's delay_secs (30 s); rescheduled");
    // The agent back with the old copy is told to kill it, and the copy holds its room meanwhile.
    let effects = register_reporting(&mut state, "a", vec![(task.clone(), running_report())], 36_000);
    assert!(effects.contains(&Effect::Kill { agent: AgentId("a".into()), task }), "{effects:?}");
}

#[test]
fn without_delay_the_task_passes_through_partitioned_to_lost_and_without_a_policy_straight_to_lost() {
    let (state, task) = partitioned(PartitionPolicy { reschedule: true, delay_secs: 0 });
    assert_eq!(history(&state, "hello"), vec![TaskState::Pending, TaskState::Lost]);
    let states: Vec<TaskState> = messages(&state, &task).into_iter().map(|(s, _)| s).collect();
    assert_eq!(&states[states.len() - 2..], [TaskState::Partitioned, TaskState::Lost]);

    let mut state = ClusterState::new(config());
    let ids = state.create_job(job("hello", 1, true), 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    report(&mut state, "a", &ids[0], TaskState::Running, 10);
    tick(&mut state, 5_000);
    let states: Vec<TaskState> = messages(&state, &ids[0]).into_iter().map(|(s, _)| s).collect();
    assert!(!states.contains(&TaskState::Partitioned), "{states:?}");
}

#[test]
fn killing_a_partitioned_task_loses_it_at_once_and_an_agent_back_without_it_loses_it_too() {
    let (mut state, task) = partitioned(PartitionPolicy { reschedule: false, delay_secs: 0 });
    let key = job("hello", 1, true).key;
    let _ = state.kill(&key, Some(&BTreeSet::from([0])), 6_000).unwrap();
    let states: Vec<TaskState> = messages(&state, &task).into_iter().map(|(s, _)| s).collect();
    assert_eq!(&states[states.len() - 2..], [TaskState::Killing, TaskState::Lost]);
    assert_eq!(history(&state, "hello"), vec![TaskState::Lost], "killed, so not replaced");

    let (mut state, task) = partitioned(PartitionPolicy { reschedule: false, delay_secs: 0 });
    register(&mut state, "a", 6_000);
    assert_eq!(state.tasks.get(&task).unwrap().state, TaskState::Lost);
    assert_eq!(history(&state, "hello"), vec![TaskState::Pending, TaskState::Lost], "rescheduled");
}

//! The checker catches each kind of broken invariant, fed the changes a faulty state machine
//! would hand the store.

use std::collections::BTreeMap;

use TaskState::{Assigned, Lost, Pending, Running, Throttled};
use atoll_model::{
    AgentId, Assignment, ConfigVersion, ProcessSpec, Resources, ScheduledTask, TaskConfig, TaskEvent, TaskId, TaskSpec,
    TaskState,
};
use atoll_state::Changes;

use super::Checker;
use crate::scenario::key;

const AGENT: &str = "host-0";

fn checker() -> Checker {
    let mut checker = Checker::default();
    let resources = "cpus:1;mem:1024;disk:1024;ports:[31000-31001]".parse().expect("resources");
    checker.add_agent(AgentId(AGENT.into()), resources);
    checker
}

/// Task `n` of instance `instance`, through `states` (after INIT), placed on the agent with
/// `port` once past PENDING.
fn task(n: u32, instance: u32, states: &[TaskState], cpu: f64, port: u16) -> ScheduledTask {
    let state = *states.last().expect("a state");
    let mut events = vec![TaskEvent { at_ms: 0, state: TaskState::Init, message: String::new() }];
    events.extend(states.iter().map(|s| TaskEvent { at_ms: 1, state: *s, message: String::new() }));
    let placed = states.contains(&TaskState::Assigned);
    ScheduledTask {
        id: TaskId(format!("task-{n}")),
        job: key("web"),
        instance,
        config: ConfigVersion::new(TaskConfig::new(TaskSpec::new(
            vec![ProcessSpec::new("main", "true")],
            Resources { cpu, ram_mb: 1, disk_mb: 1, gpu: 0 },
        ))),
        state,
        assignment: placed.then(|| Assignment {
            agent: AgentId(AGENT.into()),
            hostname: AGENT.into(),
            ports: BTreeMap::from([("http".to_owned(), port)]),
        }),
        sandbox: None,
        exit_code: None,
        failure_count: 0,
        ancestor: None,
        not_before_ms: 0,
        events,
    }
}

fn put(tasks: Vec<ScheduledTask>) -> Changes {
    Changes { tasks_put: tasks, ..Changes::default() }
}

#[test]
fn a_legal_life_passes() {
    let mut checker = checker();
    checker.apply(&put(vec![task(1, 0, &[Pending], 0.5, 31000)])).unwrap();
    checker.apply(&put(vec![task(1, 0, &[Pending, Assigned, Running], 0.5, 31000)])).unwrap();
    checker.apply(&put(vec![task(1, 0, &[Pending, Assigned, Running, Lost], 0.5, 31000)])).unwrap();
    checker.apply(&put(vec![task(2, 0, &[Pending, Assigned], 1.0, 31000)])).unwrap();
    checker.apply(&Changes { tasks_deleted: vec![TaskId("task-1".into())], ..Changes::default() }).unwrap();
    assert_eq!(checker.lost, 1);
}

#[test]
fn an_illegal_transition_is_caught() {
    let error = checker().apply(&put(vec![task(1, 0, &[Pending, Running], 0.5, 31000)])).unwrap_err();
    assert_eq!(error, "illegal transition PENDING -> RUNNING of task-1");
}

#[test]
fn a_rewritten_history_is_caught() {
    let mut checker = checker();
    checker.apply(&put(vec![task(1, 0, &[Pending, Assigned], 0.5, 31000)])).unwrap();
    let error = checker.apply(&put(vec![task(1, 0, &[Throttled], 0.5, 31000)])).unwrap_err();
    assert!(error.contains("lost its ASSIGNED event"), "{error}");
}

#[test]
fn two_active_tasks_of_one_instance_are_caught() {
    let mut checker = checker();
    checker.apply(&put(vec![task(1, 3, &[Pending], 0.1, 31000)])).unwrap();
    let error = checker.apply(&put(vec![task(2, 3, &[Pending], 0.1, 31001)])).unwrap_err();
    assert!(error.contains("/3 has 2 active tasks"), "{error}");
}

#[test]
fn an_overcommitted_agent_is_caught() {
    let mut checker = checker();
    checker.apply(&put(vec![task(1, 0, &[Pending, Assigned], 0.75, 31000)])).unwrap();
    let error = checker.apply(&put(vec![task(2, 1, &[Pending, Assigned], 0.5, 31001)])).unwrap_err();
    assert!(error.starts_with("host-0 is overcommitted"), "{error}");
}

#[test]
fn a_port_given_twice_or_not_offered_is_caught() {
    let mut twice = checker();
    twice.apply(&put(vec![task(1, 0, &[Pending, Assigned], 0.1, 31000)])).unwrap();
    let error = twice.apply(&put(vec![task(2, 1, &[Pending, Assigned], 0.1, 31000)])).unwrap_err();
    assert!(error.starts_with("port 31000 is given twice on host-0"), "{error}");
    let error = checker().apply(&put(vec![task(3, 0, &[Pending, Assigned], 0.1, 40000)])).unwrap_err();
    assert!(error.contains("got port 40000, which host-0 does not offer"), "{error}");
}

#[test]
fn pruning_an_active_task_is_caught() {
    let mut checker = checker();
    checker.apply(&put(vec![task(1, 0, &[Pending], 0.1, 31000)])).unwrap();
    let error =
        checker.apply(&Changes { tasks_deleted: vec![TaskId("task-1".into())], ..Changes::default() }).unwrap_err();
    assert_eq!(error, "task task-1 was pruned while PENDING");
}

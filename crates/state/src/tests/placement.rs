//! Placement through the state machine: constraints across rounds, structured pending reasons,
//! and host maintenance.

use atoll_model::Constraint;

use super::*;

fn constrained(name: &str, instances: u32, attribute: &str, rule: &str) -> JobSpec {
    let mut spec = job(name, instances, true);
    spec.constraints = vec![Constraint::parse(attribute, rule).unwrap()];
    spec
}

fn modes(state: &ClusterState, hosts: &[&str]) -> Vec<Option<MaintenanceMode>> {
    let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
    state.maintenance(&hosts).into_iter().map(|m| m.mode).collect()
}

#[test]
fn a_limit_counts_the_instances_placed_in_earlier_rounds() {
    let mut state = ClusterState::new(config());
    register_with(&mut state, "a", "host:a", vec![], 0);
    register_with(&mut state, "b", "host:b", vec![], 0);
    let ids = state.create_job(constrained("web", 3, "host", "limit:1"), 0).unwrap();
    let first: Vec<String> = launched(&state.schedule(1)).into_iter().map(|(agent, _)| agent).collect();
    assert_eq!(first, vec!["a", "b"]);
    let waiting = &ids[2];
    assert_eq!(state.pending_reason(waiting), Some("Limit not satisfied: host"));
    let why = state.why_pending(waiting).unwrap();
    assert_eq!(
        why.vetoes,
        vec![VetoCount {
            reason: "Limit not satisfied: host".into(),
            hosts: 2,
            examples: vec!["a".into(), "b".into()]
        }]
    );

    // Bin-packing prefers the half-full agents; the limit sends the last instance to the new one.
    register_with(&mut state, "c", "host:c", vec![], 2);
    assert_eq!(launched(&state.schedule(3)), vec![("c".to_owned(), waiting.clone())]);
    assert_eq!(state.why_pending(waiting), None, "placed tasks have no pending reason");
}

#[test]
fn the_structured_reason_counts_hosts_per_veto() {
    let mut state = ClusterState::new(config());
    register_with(&mut state, "a", "rack:r1", vec![], 0);
    register_with(&mut state, "b", "rack:r1", vec![], 0);
    let ids = state.create_job(constrained("web", 1, "rack", "r9"), 0).unwrap();
    assert!(state.schedule(1).is_empty());
    let why = state.why_pending(&ids[0]).unwrap();
    assert_eq!(why.summary, "Constraint not satisfied: rack");
    assert_eq!((why.vetoes[0].hosts, why.vetoes[0].examples.clone()), (2, vec!["a".into(), "b".into()]));
}

#[test]
fn a_draining_host_takes_nothing_and_is_drained_once_its_tasks_are_gone() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let running = state.create_job(job("old", 1, false), 0).unwrap();
    state.schedule(1);
    report(&mut state, "a", &running[0], TaskState::Running, 2);

    let drained = state.set_maintenance(&["a".into(), "nowhere".into()], MaintenanceMode::Drained);
    assert_eq!(
        drained,
        vec![
            HostMaintenance { host: "a".into(), mode: Some(MaintenanceMode::Draining) },
            HostMaintenance { host: "nowhere".into(), mode: None },
        ],
        "draining until its task is gone; unknown hosts have no mode"
    );
    let waiting = state.create_job(job("new", 1, true), 3).unwrap();
    assert!(state.schedule(4).is_empty());
    assert_eq!(state.pending_reason(&waiting[0]), Some("Host is draining for maintenance"));

    report(&mut state, "a", &running[0], TaskState::Finished, 5);
    state.tick(6);
    assert_eq!(modes(&state, &["a"]), vec![Some(MaintenanceMode::Drained)]);
    register(&mut state, "a", 7);
    assert_eq!(modes(&state, &["a"]), vec![Some(MaintenanceMode::Drained)], "kept across re-registration");
    assert!(state.schedule(8).is_empty());
    assert_eq!(state.pending_reason(&waiting[0]), Some("Host is drained for maintenance"));

    state.set_maintenance(&["a".into()], MaintenanceMode::None);
    assert_eq!(launched(&state.schedule(9)), vec![("a".to_owned(), waiting[0].clone())]);
}

#[test]
fn a_host_scheduled_for_maintenance_is_used_last() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    register(&mut state, "b", 0);
    state.set_maintenance(&["a".into()], MaintenanceMode::Scheduled);
    let ids = state.create_job(job("web", 2, true), 0).unwrap();
    let placed: Vec<String> = launched(&state.schedule(1)).into_iter().map(|(agent, _)| agent).collect();
    assert_eq!(placed, vec!["b", "b"]);
    assert_eq!(ids.len(), 2);
    let all = state.maintenance(&[]);
    assert_eq!(
        all.iter().map(|m| (m.host.as_str(), m.mode)).collect::<Vec<_>>(),
        vec![("a", Some(MaintenanceMode::Scheduled)), ("b", Some(MaintenanceMode::None))]
    );
}

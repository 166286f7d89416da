//! Host maintenance: draining moves tasks off and ends DRAINED, scheduled hosts are used last,
//! unknown hosts are left alone, and modes outlive their agents.

use super::*;

fn modes(state: &ClusterState, hosts: &[&str]) -> Vec<Option<MaintenanceMode>> {
    let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
    state.maintenance(&hosts).into_iter().map(|m| m.mode).collect()
}

fn hosts(names: &[&str]) -> Vec<String> {
    names.iter().map(|h| (*h).to_owned()).collect()
}

#[test]
fn draining_moves_tasks_off_and_the_host_is_drained_once_they_are_gone() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let web = state.create_job(job("web", 1, true), 0).unwrap().0;
    place(&mut state, 1);
    report(&mut state, "a", &web[0], TaskState::Running, 2);
    register(&mut state, "b", 3);

    let (drained, Outcome { effects, .. }) =
        state.set_maintenance(&hosts(&["a", "nowhere"]), MaintenanceMode::Drained, 4);
    assert_eq!(
        drained,
        vec![
            HostMaintenance { host: "a".into(), mode: Some(MaintenanceMode::Draining) },
            HostMaintenance { host: "nowhere".into(), mode: None },
        ],
        "draining until its task is gone; unknown hosts have no mode"
    );
    assert_eq!(killed(&effects), vec![("a".to_owned(), web[0].clone())]);
    assert_eq!(states(&state, "web"), vec![(0, TaskState::Draining)]);
    assert!(place(&mut state, 5).is_empty(), "nothing new goes to a draining host, nor twice to b");

    report(&mut state, "a", &web[0], TaskState::Killed, 6);
    let moved = state.job_tasks(&job("web", 1, true).key, false)[0].clone();
    assert_eq!((moved.state, moved.ancestor.as_ref()), (TaskState::Pending, Some(&web[0])), "rescheduled");
    assert_eq!(launched(&place(&mut state, 7)), vec![("b".to_owned(), moved.id.clone())]);
    tick(&mut state, 8);
    assert_eq!(modes(&state, &["a"]), vec![Some(MaintenanceMode::Drained)]);
    register(&mut state, "a", 9);
    assert_eq!(modes(&state, &["a"]), vec![Some(MaintenanceMode::Drained)], "kept across re-registration");

    let (active, Outcome { effects, changes, .. }) = state.set_maintenance(&hosts(&["a"]), MaintenanceMode::None, 10);
    assert_eq!((active[0].mode, effects.len()), (Some(MaintenanceMode::None), 0));
    assert_eq!(changes.hosts_deleted, vec!["a".to_owned()], "NONE is stored as no record");
}

#[test]
fn a_drained_host_takes_nothing_and_says_why() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let (_, Outcome { effects, .. }) = state.set_maintenance(&hosts(&["a"]), MaintenanceMode::Drained, 1);
    assert!(effects.is_empty());
    assert_eq!(modes(&state, &["a"]), vec![Some(MaintenanceMode::Drained)], "empty: drained at once");
    let waiting = state.create_job(job("new", 1, true), 2).unwrap().0;
    assert!(place(&mut state, 3).is_empty());
    assert_eq!(state.pending_reason(&waiting[0]), Some("Host is drained for maintenance"));
    let _ = state.set_maintenance(&hosts(&["a"]), MaintenanceMode::None, 4);
    assert_eq!(launched(&place(&mut state, 5)), vec![("a".to_owned(), waiting[0].clone())]);
}

#[test]
fn a_host_scheduled_for_maintenance_is_used_last() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    register(&mut state, "b", 0);
    let _ = state.set_maintenance(&hosts(&["a"]), MaintenanceMode::Scheduled, 0);
    let ids = state.create_job(job("web", 2, true), 0).unwrap().0;
    let placed: Vec<String> = launched(&place(&mut state, 1)).into_iter().map(|(agent, _)| agent).collect();
    assert_eq!(placed, vec!["b", "b"]);
    assert_eq!(ids.len(), 2);
    let all = state.maintenance(&[]);
    assert_eq!(
        all.iter().map(|m| (m.host.as_str(), m.mode)).collect::<Vec<_>>(),
        vec![("a", Some(MaintenanceMode::Scheduled)), ("b", Some(MaintenanceMode::None))]
    );
}

#[test]
fn a_mode_outlives_its_agent() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let _ = state.set_maintenance(&hosts(&["a"]), MaintenanceMode::Scheduled, 0);
    tick(&mut state, 5_000);
    assert!(state.agents().next().is_none(), "the silent agent is lost");
    assert_eq!(modes(&state, &["a"]), vec![Some(MaintenanceMode::Scheduled)], "the mode is not");
    register(&mut state, "a", 5_100);
    assert_eq!(state.snapshot().agents[0].maintenance, MaintenanceMode::Scheduled);
}

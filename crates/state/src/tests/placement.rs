//! Placement through the state machine: constraints across rounds and structured pending
//! reasons.

use atoll_model::Constraint;

use super::*;

fn constrained(name: &str, instances: u32, attribute: &str, rule: &str) -> JobSpec {
    let mut spec = job(name, instances, true);
    spec.config.constraints = vec![Constraint::parse(attribute, rule).unwrap()];
    spec
}

#[test]
fn a_limit_counts_the_instances_placed_in_earlier_rounds() {
    let mut state = ClusterState::new(config());
    register_with(&mut state, "a", "host:a", vec![], 0);
    register_with(&mut state, "b", "host:b", vec![], 0);
    let ids = state.create_job(constrained("web", 3, "host", "limit:1"), 0).unwrap().0;
    let first: Vec<String> = launched(&place(&mut state, 1)).into_iter().map(|(agent, _)| agent).collect();
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
    assert_eq!(launched(&place(&mut state, 3)), vec![("c".to_owned(), waiting.clone())]);
    assert_eq!(state.why_pending(waiting), None, "placed tasks have no pending reason");
}

#[test]
fn the_structured_reason_counts_hosts_per_veto() {
    let mut state = ClusterState::new(config());
    register_with(&mut state, "a", "rack:r1", vec![], 0);
    register_with(&mut state, "b", "rack:r1", vec![], 0);
    let ids = state.create_job(constrained("web", 1, "rack", "r9"), 0).unwrap().0;
    assert!(place(&mut state, 1).is_empty());
    let why = state.why_pending(&ids[0]).unwrap();
    assert_eq!(why.summary, "Constraint not satisfied: rack");
    assert_eq!((why.vetoes[0].hosts, why.vetoes[0].examples.clone()), (2, vec!["a".into(), "b".into()]));
}

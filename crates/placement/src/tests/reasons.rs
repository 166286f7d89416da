//! Pending reasons: Aurora's nearest-fit summary, and the hosts each veto excluded.

use std::sync::Arc;

use super::*;

fn counts(reason: &PendingReason) -> Vec<(&str, u32, Vec<&str>)> {
    reason
        .vetoes
        .iter()
        .map(|v| (v.reason.as_str(), v.hosts, v.examples.iter().map(String::as_str).collect()))
        .collect()
}

#[test]
fn every_veto_counts_its_hosts_and_names_a_few_in_filter_order() {
    let mut agents = vec![
        host("d1", &[("dedicated", "ads/db"), ("rack", "ok")]),
        host("d2", &[("dedicated", "ads/db")]),
        host("m1", &[("rack", "ok")]),
        host("r1", &[("rack", "other")]),
    ];
    agents[2].maintenance = MaintenanceMode::Draining;
    for (i, ram) in [8192, 8192, 8192, 100].into_iter().enumerate() {
        let mut small = agent(&format!("s{i}"), &format!("cpus:1;mem:{ram};disk:8192"));
        small.attributes.0.insert("rack".into(), "ok".into());
        agents.push(small);
    }
    let pending = constrained(job("j", vec![task("t", 4.0, 512, &[])]), &[("rack", "ok")]);
    let plan = place(&cluster(agents), &[pending], &Policy::default(), 0);
    let reason = &plan.unplaced[0].reason;
    assert_eq!(reason.summary, "Insufficient: CPU");
    assert_eq!(
        counts(reason),
        vec![
            ("Host is dedicated", 2, vec!["d1", "d2"]),
            ("Host is draining for maintenance", 1, vec!["m1"]),
            ("Constraint not satisfied: rack", 1, vec!["r1"]),
            ("Insufficient: CPU", 4, vec!["s0", "s1", "s2"]),
            ("Insufficient: RAM", 1, vec!["s3"]),
        ]
    );
}

#[test]
fn the_nearest_fit_is_the_host_with_fewest_vetoes_resources_first_on_a_tie() {
    let mut wrong_rack = agent("a", "cpus:8;mem:8192;disk:8192");
    wrong_rack.attributes.0.insert("rack".into(), "other".into());
    let mut short = agent("b", "cpus:1;mem:10;disk:8192");
    short.attributes.0.insert("rack".into(), "ok".into());
    let pending = constrained(job("j", vec![task("t", 4.0, 512, &[])]), &[("rack", "ok")]);
    let plan = place(&cluster(vec![wrong_rack.clone(), short]), std::slice::from_ref(&pending), &Policy::default(), 0);
    assert_eq!(plan.unplaced[0].reason.summary, "Constraint not satisfied: rack", "one veto beats two");

    let mut short_of_cpu = agent("b", "cpus:1;mem:8192;disk:8192");
    short_of_cpu.attributes.0.insert("rack".into(), "ok".into());
    let plan = place(&cluster(vec![wrong_rack, short_of_cpu]), &[pending], &Policy::default(), 0);
    assert_eq!(plan.unplaced[0].reason.summary, "Insufficient: CPU", "a shortfall is nearer than a broken rule");
}

#[test]
fn tasks_of_a_job_that_fail_alike_share_one_reason() {
    let tasks = (0..3).map(|i| task(&format!("t{i}"), 4.0, 1, &[])).collect();
    let plan = place(&cluster(vec![agent("a", "cpus:1;mem:100;disk:100")]), &[job("j", tasks)], &Policy::default(), 0);
    assert_eq!(plan.unplaced.len(), 3);
    assert!(plan.unplaced.windows(2).all(|w| Arc::ptr_eq(&w[0].reason, &w[1].reason)));
    assert_eq!(plan.stats.agents_examined, 1, "later tasks reuse the first one's answer");
}

#[test]
fn an_empty_cluster_says_so() {
    let plan = place(&ClusterSnapshot::default(), &[job("j", vec![task("t", 1.0, 1, &[])])], &Policy::default(), 0);
    assert_eq!(plan.unplaced[0].reason.summary, "No agents available");
    assert!(plan.unplaced[0].reason.vetoes.is_empty());
}

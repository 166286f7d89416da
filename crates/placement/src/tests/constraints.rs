//! Constraint semantics: Marathon's vectors (ConstraintsTest.scala, peers.md §4.1) and Aurora's
//! dedicated and limit rules, each checked through a whole round.

use super::*;

/// Whether a job with the constraint `attribute: rule` and `instances` instances may place one
/// more on an offer with attributes `offer`, when its instances already run on hosts with
/// `placed` attributes. Each entry is `"value"` of `attribute`, or `""` for a host without it.
fn accepts(attribute: &str, rule: &str, instances: u32, placed: &[&str], offer: &str) -> bool {
    let with =
        |id: String, value: &str| if value.is_empty() { host(&id, &[]) } else { host(&id, &[(attribute, value)]) };
    let mut agents: Vec<AgentSnapshot> = placed
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let mut a = with(format!("placed-{i}"), value);
            a.maintenance = MaintenanceMode::Drained;
            a
        })
        .collect();
    agents.push(with("offer".to_owned(), offer));
    let mut pending = constrained(job("app", vec![task("t", 0.1, 1, &[])]), &[(attribute, rule)]);
    pending.instances = instances;
    let snapshot = ClusterSnapshot {
        placed: BTreeMap::from([(key("app"), (0..placed.len()).map(|i| AgentId(format!("placed-{i}"))).collect())]),
        agents,
    };
    let plan = place(&snapshot, &[pending], &Policy::default(), 0);
    plan.placements.iter().any(|p| p.agent.0 == "offer")
}

#[test]
fn marathon_unique_cluster_like_unlike_is_vectors() {
    let cases: &[(&str, &str, &[&str], &str, bool)] = &[
        ("hostname", "cluster:right.com", &[], "wrong.com", false),
        ("hostname", "unique", &["host1", "host2", "host3"], "host4", true),
        ("hostname", "unique", &["host1", "host2", "host3"], "host2", false),
        ("rackid", "cluster:rack-1", &["rack-1", "rack-1"], "rack-1", true),
        ("rackid", "cluster:rack-1", &["rack-1", "rack-1"], "rack-2", false),
        ("rackid", "cluster:rack-1", &[], "", false),
        ("rackid", "unique", &["rack-1", "rack-2"], "rack-3", true),
        ("rackid", "unique", &["rack-1", "rack-2"], "rack-1", false),
        ("jdk", "like:7", &[], "6", false),
        ("jdk", "like:7", &[], "7", true),
        ("jdk", "like:7", &[], "", false),
        ("jdk", "unlike:7", &[], "6", true),
        ("jdk", "unlike:7", &[], "7", false),
        ("jdk", "unlike:7", &[], "", true),
        ("jdk", r"like:\[6-7\]", &[], "[6-7]", true),
        ("jdk", r"like:\[6-7\]", &[], "[5-7]", false),
        ("jdk", "cluster:[6-7]", &[], "[6-7]", true),
        ("jdk", "cluster:[6-7]", &[], "[5-7]", false),
        ("gpu", r"like:\{0,1\}", &[], "{1,0}", true),
        ("gpu", r"like:\{0,1\}", &[], "{2,1}", false),
        ("gpu", r"unlike:\{0,1\}", &[], "{0,1}", false),
        ("gpu", r"unlike:\{0,1\}", &[], "{1,2}", true),
        ("gpu", r"unlike:\{0,1\}", &[], "", true),
        ("number", "is:1.0", &[], "1", true),
        ("number", "is:1.0001", &[], "1.0", true),
        ("number", "is:1.0005", &[], "1.0", true),
        ("number", "is:1.00051", &[], "1.0", false),
        ("number", "is:1.001", &[], "1.0", false),
        ("region", "unique", &["region1"], "region1", false),
        ("region", "unique", &["region1"], "region2", true),
        ("jdk", "like:7|8", &[], "78", false),
    ];
    for (attribute, rule, placed, offer, expected) in cases {
        assert_eq!(accepts(attribute, rule, 5, placed, offer), *expected, "{attribute} {rule} {placed:?} → {offer}");
    }
}

#[test]
fn marathon_max_per_vectors() {
    let cases: &[(&str, &[&str], &str, bool)] = &[
        ("hostname", &[], "host1", true),
        ("hostname", &["host1"], "host1", true),
        ("hostname", &["host1", "host1"], "host2", true),
        ("hostname", &["host1", "host1", "host2"], "host1", false),
        ("hostname", &["host1", "host1", "host2"], "host3", true),
        // Scalar attributes compare as numbers: rack 1.0 is rack 1.
        ("rackid", &[], "1", true),
        ("rackid", &["1.0"], "2", true),
        ("rackid", &["1.0", "2.0"], "1", true),
        ("rackid", &["1.0", "2.0", "1.0"], "1", false),
    ];
    for (attribute, placed, offer, expected) in cases {
        assert_eq!(accepts(attribute, "max_per:2", 5, placed, offer), *expected, "{attribute} {placed:?} → {offer}");
    }
}

#[test]
fn marathon_group_by_vectors_with_five_instances() {
    let cases: &[(&str, &str, &[&str], &str, bool)] = &[
        ("rack", "group_by:2", &[], "1", true),
        ("rack", "group_by:2", &["1", "1"], "1", true),
        ("rack", "group_by:4", &["1"], "1", true),
        ("rack", "group_by:2", &["1", "1", "1"], "1", false),
        ("rack", "group_by:4", &["1", "1"], "1", false),
        ("rack", "group_by:2", &["1"], "2", true),
        ("rack", "group_by:4", &["1", "1", "2"], "2", false),
        ("rack", "group_by:2", &["1", "1", "1", "2"], "2", true),
        ("rack", "group_by:2", &["1", "2"], "3", false),
        ("rack", "group_by:2", &[], "", false),
        ("hostname", "group_by:3", &["host-1", "host-2"], "host-3", true),
    ];
    for (attribute, rule, placed, offer, expected) in cases {
        assert_eq!(accepts(attribute, rule, 5, placed, offer), *expected, "{rule} {placed:?} → {offer}");
    }
}

#[test]
fn group_by_without_a_count_spreads_over_the_values_the_cluster_has() {
    let agents: Vec<AgentSnapshot> =
        (0..6).map(|i| host(&format!("h{i}"), &[("rack", if i < 3 { "r1" } else { "r2" })])).collect();
    let tasks = (0..4).map(|i| task(&format!("t{i}"), 0.1, 1, &[])).collect();
    let plan = place(&cluster(agents), &[constrained(job("j", tasks), &[("rack", "group_by")])], &Policy::default(), 0);
    let racks: Vec<bool> = plan.placements.iter().map(|p| p.agent.0.as_str() < "h3").collect();
    assert_eq!(racks.iter().filter(|r1| **r1).count(), 2, "two of four on each rack: {racks:?}");
}

#[test]
fn aurora_value_and_negated_constraints() {
    let agents = [host("a", &[("rack", "r1")]), host("b", &[("rack", "r2")]), host("c", &[])];
    let cases = [("r2", vec!["b"]), ("r1,r2", vec!["a", "b"]), ("!r1", vec!["b", "c"]), ("r3", vec![])];
    for (rule, allowed) in cases {
        let tasks = (0..3).map(|i| task(&format!("t{i}"), 0.1, 1, &[])).collect();
        let pending = constrained(job("j", tasks), &[("rack", rule), ("host", "unique")]);
        // Without a host attribute `unique` vetoes everything: use the id as host.
        let with_hosts: Vec<AgentSnapshot> = agents
            .iter()
            .map(|a| {
                let mut a = a.clone();
                a.attributes.0.insert("host".into(), a.id.0.clone());
                a
            })
            .collect();
        let plan = place(&cluster(with_hosts), &[pending], &Policy::default(), 0);
        let mut hosts: Vec<String> = plan.placements.iter().map(|p| p.agent.0.clone()).collect();
        hosts.sort();
        assert_eq!(hosts, allowed, "rack: {rule}");
        if allowed.is_empty() {
            assert_eq!(plan.unplaced[0].reason.summary, "Constraint not satisfied: rack");
        }
    }
}

#[test]
fn aurora_dedicated_hosts_and_jobs() {
    let refused = "Constraint not satisfied: dedicated";
    let cases: [(Option<&str>, Option<&str>, Option<&str>); 8] = [
        (None, Some("www-data/db"), Some("Host is dedicated")),
        (None, None, None),
        (Some("www-data/db"), Some("www-data/db"), None),
        (Some("www-data/db"), Some("ads/db"), Some(refused)),
        (Some("www-data/db"), None, Some(refused)),
        (Some("*/db"), Some("ads/db"), None),
        (Some("*/db"), Some("ads/cache"), Some(refused)),
        (Some("www-data/db"), Some("*/db"), None),
    ];
    for (pool, dedicated, refusal) in cases {
        let agent = host("h", &dedicated.map(|d| ("dedicated", d)).into_iter().collect::<Vec<_>>());
        let constraints: Vec<(&str, &str)> = pool.map(|p| ("dedicated", p)).into_iter().collect();
        let pending = constrained(job("j", vec![task("t", 0.1, 1, &[])]), &constraints);
        let plan = place(&cluster(vec![agent]), &[pending], &Policy::default(), 0);
        let outcome = plan.unplaced.first().map(|u| u.reason.summary.as_str());
        assert_eq!(outcome, refusal, "job {pool:?} on host {dedicated:?}");
    }
}

#[test]
fn aurora_limit_counts_running_instances_and_this_rounds_and_vetoes_hosts_without_the_attribute() {
    let agents =
        vec![host("a", &[("host", "a")]), host("b", &[("host", "b")]), host("c", &[("host", "c")]), host("x", &[])];
    let tasks = (0..4).map(|i| task(&format!("t{i}"), 0.1, 1, &[])).collect();
    let pending = constrained(job("j", tasks), &[("host", "limit:1")]);
    let snapshot = ClusterSnapshot { agents, placed: BTreeMap::from([(key("j"), vec![AgentId("b".into())])]) };
    let plan = place(&snapshot, &[pending], &Policy::default(), 0);
    let hosts: BTreeSet<String> = plan.placements.iter().map(|p| p.agent.0.clone()).collect();
    assert_eq!(hosts, BTreeSet::from(["a".to_owned(), "c".to_owned()]));
    assert_eq!(plan.unplaced.len(), 2);
    let reason = &plan.unplaced[0].reason;
    assert_eq!(reason.summary, "Limit not satisfied: host");
    assert_eq!(reason.vetoes.len(), 1);
    assert_eq!(
        (reason.vetoes[0].hosts, reason.vetoes[0].examples.clone()),
        (4, vec!["a".into(), "b".into(), "c".into()])
    );
}

//! Preemption: Aurora's eligibility vectors (tier, priority, role), the smallest victim set on
//! one host, and the cases that preempt nothing.

use super::*;

fn victim(task: &str, agent: &str, role: &str, tier: Tier, priority: i32, cpu: f64) -> Victim {
    Victim {
        task: TaskId(task.to_owned()),
        agent: AgentId(agent.to_owned()),
        role: role.to_owned(),
        tier,
        priority,
        resources: Resources { cpu, ram_mb: 10, disk_mb: 10, gpu: 0 },
        ports: 0,
    }
}

/// A full agent: `cpus` cores, all of them in use.
fn full(id: &str, cpus: u32) -> AgentSnapshot {
    let mut a = agent(id, &format!("cpus:{cpus};mem:1024;disk:1024"));
    a.used = Usage { cpu_millis: u64::from(cpus) * 1000, ram_mb: 100, disk_mb: 100, gpu: 0 };
    a
}

fn candidate(tier: Tier, priority: i32, cpu: f64) -> PendingJob {
    let mut pending = job("web", vec![task("web-0", cpu, 10, &[])]);
    pending.tier = tier;
    pending.priority = priority;
    pending
}

fn preempt(snapshot: &ClusterSnapshot, pending: &PendingJob, victims: &[Victim]) -> Option<(String, Vec<String>)> {
    find_preemption(snapshot, pending, &pending.tasks[0], victims)
        .map(|p| (p.agent.0, p.victims.into_iter().map(|id| id.0).collect()))
}

#[test]
fn eligibility_follows_auroras_vectors() {
    use Tier::*;
    // (candidate role, tier, priority), (victim role, tier, priority), eligible
    let vectors = [
        (("www-data", Preferred, 0), ("other", Preemptible, 9), true),
        (("www-data", Preferred, 0), ("other", Revocable, 9), true),
        (("www-data", Preemptible, 9), ("other", Preferred, 0), false),
        (("www-data", Preferred, 5), ("www-data", Preferred, 1), true),
        (("www-data", Preferred, 5), ("other", Preferred, 1), false),
        (("www-data", Preemptible, 5), ("www-data", Preemptible, 1), true),
        (("www-data", Preemptible, 5), ("www-data", Revocable, 1), true),
        (("www-data", Preemptible, 1), ("www-data", Preemptible, 1), false),
        (("www-data", Preemptible, 1), ("www-data", Preemptible, 5), false),
        (("www-data", Preemptible, 9), ("other", Preemptible, 0), false),
        (("www-data", Revocable, 9), ("www-data", Preemptible, 0), true),
    ];
    for ((role, tier, priority), (v_role, v_tier, v_priority), eligible) in vectors {
        let target = victim("v", "a", v_role, v_tier, v_priority, 1.0);
        assert_eq!(
            may_preempt(role, tier, priority, &target),
            eligible,
            "{role}/{tier:?}/{priority} over {v_role}/{v_tier:?}/{v_priority}"
        );
    }
}

#[test]
fn the_host_needing_the_fewest_victims_wins_and_victims_go_largest_first() {
    let snapshot = cluster(vec![full("a", 4), full("b", 4)]);
    let victims = [
        victim("a-small-1", "a", "batch", Tier::Preemptible, 0, 1.0),
        victim("a-small-2", "a", "batch", Tier::Preemptible, 0, 1.0),
        victim("a-small-3", "a", "batch", Tier::Preemptible, 0, 1.0),
        victim("b-big", "b", "batch", Tier::Preemptible, 0, 3.0),
        victim("b-small", "b", "batch", Tier::Preemptible, 0, 1.0),
    ];
    let pending = candidate(Tier::Preferred, 0, 2.5);
    assert_eq!(preempt(&snapshot, &pending, &victims), Some(("b".to_owned(), vec!["b-big".to_owned()])));
    // Needing three small ones on a and one big one on b: b. Without b, a gives three.
    assert_eq!(
        preempt(&snapshot, &pending, &victims[..3]),
        Some(("a".to_owned(), vec!["a-small-1".into(), "a-small-2".into(), "a-small-3".into()]))
    );
}

#[test]
fn victims_that_turn_out_unneeded_are_given_back() {
    let mut a = full("a", 4);
    a.used.ram_mb = 1000;
    // Largest first takes the 2-core victim, which frees too little RAM; the RAM-heavy one then
    // makes room on its own, so the first is given back.
    let mut ram_heavy = victim("ram-heavy", "a", "batch", Tier::Preemptible, 0, 1.0);
    ram_heavy.resources.ram_mb = 600;
    let victims = [victim("cpu-heavy", "a", "batch", Tier::Preemptible, 0, 2.0), ram_heavy];
    let mut pending = candidate(Tier::Preferred, 0, 1.0);
    pending.tasks[0].resources.ram_mb = 500;
    assert_eq!(preempt(&cluster(vec![a]), &pending, &victims), Some(("a".to_owned(), vec!["ram-heavy".to_owned()])));
}

#[test]
fn ties_go_to_the_lower_agent_and_order_does_not_matter() {
    let snapshot = cluster(vec![full("b", 2), full("a", 2)]);
    let mut victims = vec![
        victim("vb", "b", "batch", Tier::Preemptible, 0, 2.0),
        victim("va", "a", "batch", Tier::Preemptible, 0, 2.0),
    ];
    let pending = candidate(Tier::Preferred, 0, 1.0);
    let first = preempt(&snapshot, &pending, &victims);
    victims.reverse();
    assert_eq!(first, preempt(&snapshot, &pending, &victims));
    assert_eq!(first, Some(("a".to_owned(), vec!["va".to_owned()])));
}

#[test]
fn nothing_is_preempted_when_the_task_fits_or_no_set_suffices() {
    let mut roomy = full("a", 4);
    roomy.used.cpu_millis = 1000;
    let victims = [victim("v", "a", "batch", Tier::Preemptible, 0, 1.0)];
    let pending = candidate(Tier::Preferred, 0, 2.0);
    assert_eq!(preempt(&cluster(vec![roomy]), &pending, &victims), None, "it fits without preempting");
    let too_big = candidate(Tier::Preferred, 0, 8.0);
    assert_eq!(preempt(&cluster(vec![full("a", 4)]), &too_big, &victims), None, "even an empty host is too small");
    let peer = candidate(Tier::Preemptible, 0, 1.0);
    assert_eq!(preempt(&cluster(vec![full("a", 4)]), &peer, &victims), None, "no eligible victim");
}

#[test]
fn constraints_and_maintenance_limit_the_hosts() {
    let mut draining = full("a", 2);
    draining.maintenance = MaintenanceMode::Draining;
    let mut rack2 = full("b", 2);
    rack2.attributes = Attributes([("rack".to_owned(), "r2".to_owned())].into_iter().collect());
    let mut rack1 = full("c", 2);
    rack1.attributes = Attributes([("rack".to_owned(), "r1".to_owned())].into_iter().collect());
    let victims = [
        victim("va", "a", "batch", Tier::Preemptible, 0, 2.0),
        victim("vb", "b", "batch", Tier::Preemptible, 0, 2.0),
        victim("vc", "c", "batch", Tier::Preemptible, 0, 2.0),
    ];
    let pending = constrained(candidate(Tier::Preferred, 0, 1.0), &[("rack", "r1")]);
    assert_eq!(
        preempt(&cluster(vec![draining, rack2, rack1]), &pending, &victims),
        Some(("c".to_owned(), vec!["vc".to_owned()]))
    );
}

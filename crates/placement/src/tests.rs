//! Table tests for placement: fit, ports, ordering, strategies and pending reasons.

use super::*;
use atoll_model::PortRange;

fn agent(id: &str, resources: &str) -> AgentSnapshot {
    AgentSnapshot {
        id: AgentId(id.to_owned()),
        resources: resources.parse().unwrap(),
        attributes: Attributes::default(),
        used: Usage::default(),
        used_ports: BTreeSet::new(),
    }
}

fn task(id: &str, cpu: f64, ram_mb: u64, ports: &[&str]) -> PendingTask {
    PendingTask {
        id: TaskId(id.to_owned()),
        priority: 0,
        resources: Resources { cpu, ram_mb, disk_mb: 10, gpu: 0 },
        ports: ports.iter().map(|p| (*p).to_owned()).collect(),
        not_before_ms: 0,
    }
}

fn placed(plan: &Plan) -> Vec<(String, String)> {
    plan.placements.iter().map(|p| (p.task.0.clone(), p.agent.0.clone())).collect()
}

fn pair(task: &str, agent: &str) -> (String, String) {
    (task.to_owned(), agent.to_owned())
}

#[test]
fn places_on_an_agent_with_room_and_uses_up_resources() {
    let snapshot = ClusterSnapshot { agents: vec![agent("a", "cpus:1;mem:100;disk:100")] };
    let pending = [task("t1", 0.6, 10, &[]), task("t2", 0.6, 10, &[])];
    let plan = place(&snapshot, &pending, &Policy::default(), 0);
    assert_eq!(placed(&plan), vec![pair("t1", "a")]);
    assert_eq!(plan.unplaced, vec![Unplaced { task: TaskId("t2".into()), reason: "Insufficient: CPU".into() }]);
}

#[test]
fn table_of_pending_reasons() {
    let cases: [(&str, PendingTask, &str); 4] = [
        ("cpus:1;mem:100;disk:100", task("t", 2.0, 200, &[]), "Insufficient: CPU, RAM"),
        ("cpus:4;mem:100;disk:100", task("t", 1.0, 200, &[]), "Insufficient: RAM"),
        ("cpus:4;mem:100;disk:100;ports:[5000-5000]", task("t", 1.0, 10, &["http", "admin"]), "Insufficient: ports"),
        ("cpus:4;mem:100;disk:5", task("t", 1.0, 10, &[]), "Insufficient: disk"),
    ];
    for (resources, pending, reason) in cases {
        let snapshot = ClusterSnapshot { agents: vec![agent("a", resources)] };
        let plan = place(&snapshot, &[pending], &Policy::default(), 0);
        assert_eq!(plan.unplaced[0].reason, reason, "{resources}");
    }
    let plan = place(&ClusterSnapshot::default(), &[task("t", 1.0, 1, &[])], &Policy::default(), 0);
    assert_eq!(plan.unplaced[0].reason, "No agents available");
}

#[test]
fn the_nearest_fit_gives_the_reason() {
    let snapshot =
        ClusterSnapshot { agents: vec![agent("a", "cpus:1;mem:10;disk:100"), agent("b", "cpus:8;mem:10;disk:100")] };
    let plan = place(&snapshot, &[task("t", 2.0, 50, &[])], &Policy::default(), 0);
    assert_eq!(plan.unplaced[0].reason, "Insufficient: RAM");
}

#[test]
fn allocates_the_lowest_free_named_ports() {
    let mut a = agent("a", "cpus:4;mem:100;disk:100");
    a.resources.ports = vec![PortRange { begin: 31000, end: 31003 }];
    a.used_ports.insert(31000);
    let snapshot = ClusterSnapshot { agents: vec![a] };
    let plan = place(
        &snapshot,
        &[task("t1", 0.1, 1, &["http", "admin"]), task("t2", 0.1, 1, &["http"])],
        &Policy::default(),
        0,
    );
    assert_eq!(plan.placements[0].ports, BTreeMap::from([("admin".into(), 31001), ("http".into(), 31002)]));
    assert_eq!(plan.placements[1].ports, BTreeMap::from([("http".into(), 31003)]));
}

#[test]
fn spread_alternates_and_binpack_fills_one_agent() {
    let snapshot =
        ClusterSnapshot { agents: vec![agent("a", "cpus:4;mem:400;disk:100"), agent("b", "cpus:4;mem:400;disk:100")] };
    let pending = [task("t1", 1.0, 10, &[]), task("t2", 1.0, 10, &[]), task("t3", 1.0, 10, &[])];
    let spread = place(&snapshot, &pending, &Policy { strategy: Strategy::Spread }, 0);
    assert_eq!(placed(&spread), vec![pair("t1", "a"), pair("t2", "b"), pair("t3", "a")]);
    let binpack = place(&snapshot, &pending, &Policy { strategy: Strategy::Binpack }, 0);
    assert_eq!(placed(&binpack), vec![pair("t1", "a"), pair("t2", "a"), pair("t3", "a")]);
}

#[test]
fn higher_priority_goes_first_and_throttled_tasks_wait() {
    let snapshot = ClusterSnapshot { agents: vec![agent("a", "cpus:1;mem:100;disk:100")] };
    let mut low = task("low", 1.0, 10, &[]);
    low.priority = 1;
    let mut high = task("high", 1.0, 10, &[]);
    high.priority = 5;
    let mut later = task("later", 0.1, 1, &[]);
    later.not_before_ms = 1_000;
    let plan = place(&snapshot, &[low, high, later], &Policy::default(), 999);
    assert_eq!(placed(&plan), vec![pair("high", "a")]);
    assert_eq!(plan.unplaced.len(), 1);
    assert_eq!(plan.unplaced[0].task.0, "low");
}

#[test]
fn the_same_inputs_give_the_same_plan_whatever_their_order() {
    let agents: Vec<AgentSnapshot> = (0..5u32)
        .map(|i| agent(&format!("agent-{i}"), &format!("cpus:{};mem:{};disk:1000", 2 + i, 200 * (i + 1))))
        .collect();
    let pending: Vec<PendingTask> = (0..40u32)
        .map(|i| task(&format!("task-{i:02}"), 0.1 * f64::from(i % 7 + 1), 10 * u64::from(i % 5 + 1), &["http"]))
        .collect();
    let first = place(&ClusterSnapshot { agents: agents.clone() }, &pending, &Policy::default(), 0);
    let mut reversed_agents = agents;
    reversed_agents.reverse();
    let mut reversed_pending = pending;
    reversed_pending.reverse();
    let second = place(&ClusterSnapshot { agents: reversed_agents }, &reversed_pending, &Policy::default(), 0);
    assert_eq!(first, second);
    assert!(!first.placements.is_empty());
}

#[test]
fn never_overcommits_an_agent() {
    let snapshot = ClusterSnapshot {
        agents: vec![agent("a", "cpus:2;mem:100;disk:100;ports:[1-3]"), agent("b", "cpus:1;mem:300;disk:100")],
    };
    let pending: Vec<PendingTask> =
        (0..30).map(|i| task(&format!("t{i:02}"), 0.3, 20, if i % 2 == 0 { &["p"] } else { &[] })).collect();
    let plan = place(&snapshot, &pending, &Policy::default(), 0);
    for a in &snapshot.agents {
        let mine: Vec<&Placement> = plan.placements.iter().filter(|p| p.agent == a.id).collect();
        let cpu: u64 = mine.len() as u64 * 300;
        assert!(cpu <= (a.resources.cpus * 1000.0) as u64, "{}", a.id);
        assert!(mine.len() as u64 * 20 <= a.resources.mem_mb, "{}", a.id);
        let ports: BTreeSet<u16> = mine.iter().flat_map(|p| p.ports.values().copied()).collect();
        assert_eq!(ports.len(), mine.iter().map(|p| p.ports.len()).sum::<usize>(), "ports reused on {}", a.id);
    }
    assert_eq!(plan.placements.len() + plan.unplaced.len(), 30);
}

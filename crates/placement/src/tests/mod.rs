//! Placement tests through [`place`]: fit, ports, ordering and strategies here; constraint
//! vectors, pending reasons, preemption and generated properties in the submodules.

mod constraints;
mod preemption;
mod properties;
mod reasons;

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::{AgentId, Attributes, Constraint, ConstraintRule, JobKey, PortRange, Resources, TaskId};

use crate::*;

fn agent(id: &str, resources: &str) -> AgentSnapshot {
    AgentSnapshot {
        id: AgentId(id.to_owned()),
        resources: resources.parse().expect("test resources parse"),
        attributes: Attributes::default(),
        maintenance: MaintenanceMode::None,
        used: Usage::default(),
        used_ports: BTreeSet::new(),
    }
}

/// An agent with `attributes` given as `(name, value)` pairs and room for anything small.
fn host(id: &str, attributes: &[(&str, &str)]) -> AgentSnapshot {
    let mut a = agent(id, "cpus:8;mem:8192;disk:8192");
    a.attributes = Attributes(attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
    a
}

fn task(id: &str, cpu: f64, ram_mb: u64, ports: &[&str]) -> PendingTask {
    PendingTask {
        id: TaskId(id.to_owned()),
        instance: 0,
        reserved_agent: None,
        resources: Resources { cpu, ram_mb, disk_mb: 10, gpu: 0 },
        ports: ports.iter().map(|p| (*p).to_owned()).collect(),
        not_before_ms: 0,
    }
}

fn key(name: &str) -> JobKey {
    format!("devcluster/www-data/prod/{name}").parse().expect("test job key parses")
}

/// A service job with `tasks` (numbered as its instances, in order) and no constraints.
fn job(name: &str, tasks: Vec<PendingTask>) -> PendingJob {
    let tasks: Vec<PendingTask> =
        tasks.into_iter().enumerate().map(|(i, task)| PendingTask { instance: i as u32, ..task }).collect();
    PendingJob {
        key: key(name),
        tier: Tier::default(),
        priority: 0,
        service: true,
        instances: tasks.len() as u32,
        constraints: Vec::new(),
        tasks,
    }
}

fn constrained(mut pending: PendingJob, constraints: &[(&str, &str)]) -> PendingJob {
    pending.constraints =
        constraints.iter().map(|(a, r)| Constraint::parse(a, r).expect("test constraint parses")).collect();
    pending
}

fn cluster(agents: Vec<AgentSnapshot>) -> ClusterSnapshot {
    ClusterSnapshot { agents, placed: BTreeMap::new() }
}

fn placed(plan: &Plan) -> Vec<(String, String)> {
    plan.placements.iter().map(|p| (p.task.0.clone(), p.agent.0.clone())).collect()
}

fn pair(task: &str, agent: &str) -> (String, String) {
    (task.to_owned(), agent.to_owned())
}

fn summaries(plan: &Plan) -> Vec<(String, String)> {
    plan.unplaced.iter().map(|u| (u.task.0.clone(), u.reason.summary.clone())).collect()
}

#[test]
fn places_on_an_agent_with_room_and_uses_up_resources() {
    let snapshot = cluster(vec![agent("a", "cpus:1;mem:100;disk:100")]);
    let pending = [job("j", vec![task("t1", 0.6, 10, &[]), task("t2", 0.6, 10, &[])])];
    let plan = place(&snapshot, &pending, &Policy::default(), 0);
    assert_eq!(placed(&plan), vec![pair("t1", "a")]);
    assert_eq!(summaries(&plan), vec![pair("t2", "Insufficient: CPU")]);
}

#[test]
fn table_of_resource_reasons() {
    let mut gpu = task("t", 1.0, 10, &[]);
    gpu.resources.gpu = 1;
    let cases: [(&str, PendingTask, &str); 5] = [
        ("cpus:1;mem:100;disk:100", task("t", 2.0, 200, &[]), "Insufficient: CPU, RAM"),
        ("cpus:4;mem:100;disk:100", task("t", 1.0, 200, &[]), "Insufficient: RAM"),
        ("cpus:4;mem:100;disk:100;ports:[5000-5000]", task("t", 1.0, 10, &["http", "admin"]), "Insufficient: ports"),
        ("cpus:4;mem:100;disk:5", task("t", 1.0, 10, &[]), "Insufficient: disk"),
        ("cpus:4;mem:100;disk:100", gpu, "Insufficient: GPU"),
    ];
    for (resources, pending, reason) in cases {
        let plan = place(&cluster(vec![agent("a", resources)]), &[job("j", vec![pending])], &Policy::default(), 0);
        assert_eq!(plan.unplaced[0].reason.summary, reason, "{resources}");
    }
    let plan = place(&ClusterSnapshot::default(), &[job("j", vec![task("t", 1.0, 1, &[])])], &Policy::default(), 0);
    assert_eq!(*plan.unplaced[0].reason, PendingReason::no_agents());
    assert_eq!(plan.unplaced[0].reason.summary, "No agents available");
}

#[test]
fn the_nearest_fit_gives_the_summary() {
    let snapshot = cluster(vec![agent("a", "cpus:1;mem:10;disk:100"), agent("b", "cpus:8;mem:10;disk:100")]);
    let plan = place(&snapshot, &[job("j", vec![task("t", 2.0, 50, &[])])], &Policy::default(), 0);
    assert_eq!(plan.unplaced[0].reason.summary, "Insufficient: RAM");
}

#[test]
fn allocates_the_lowest_free_named_ports() {
    let mut a = agent("a", "cpus:4;mem:100;disk:100");
    a.resources.ports = vec![PortRange { begin: 31000, end: 31003 }];
    a.used_ports.insert(31000);
    let pending = [job("j", vec![task("t1", 0.1, 1, &["http", "admin"]), task("t2", 0.1, 1, &["http"])])];
    let plan = place(&cluster(vec![a]), &pending, &Policy::default(), 0);
    assert_eq!(plan.placements[0].ports, BTreeMap::from([("admin".into(), 31001), ("http".into(), 31002)]));
    assert_eq!(plan.placements[1].ports, BTreeMap::from([("http".into(), 31003)]));
}

#[test]
fn binpack_fills_one_agent_and_spread_alternates() {
    let snapshot = cluster(vec![agent("a", "cpus:4;mem:400;disk:100"), agent("b", "cpus:4;mem:400;disk:100")]);
    let pending = [job("j", vec![task("t1", 1.0, 10, &[]), task("t2", 1.0, 10, &[]), task("t3", 1.0, 10, &[])])];
    assert_eq!(Policy::default().strategy, Strategy::Binpack, "bin-packing is the default");
    let binpack = place(&snapshot, &pending, &Policy::default(), 0);
    assert_eq!(placed(&binpack), vec![pair("t1", "a"), pair("t2", "a"), pair("t3", "a")]);
    let spread = place(&snapshot, &pending, &Policy { strategy: Strategy::Spread }, 0);
    assert_eq!(placed(&spread), vec![pair("t1", "a"), pair("t2", "b"), pair("t3", "a")]);
}

#[test]
fn tier_then_priority_go_first_and_throttled_tasks_wait() {
    let snapshot = cluster(vec![agent("a", "cpus:1;mem:100;disk:100")]);
    let mut low = job("low", vec![task("low", 1.0, 10, &[])]);
    low.priority = 1;
    let mut high = job("high", vec![task("high", 1.0, 10, &[])]);
    high.priority = 5;
    let mut later = job("later", vec![task("later", 0.1, 1, &[])]);
    later.tasks[0].not_before_ms = 1_000;
    let plan = place(&snapshot, &[low.clone(), high.clone(), later], &Policy::default(), 999);
    assert_eq!(placed(&plan), vec![pair("high", "a")]);
    assert_eq!(summaries(&plan), vec![pair("low", "Insufficient: CPU")], "the later task is not in the plan");

    low.tier = Tier::Preferred;
    let plan = place(&snapshot, &[high, low], &Policy::default(), 0);
    assert_eq!(placed(&plan), vec![pair("low", "a")], "production before priority");
}

#[test]
fn maintenance_draining_hosts_take_nothing_and_scheduled_ones_come_last() {
    let mut draining = agent("a", "cpus:4;mem:400;disk:100");
    draining.maintenance = MaintenanceMode::Draining;
    let mut drained = agent("b", "cpus:4;mem:400;disk:100");
    drained.maintenance = MaintenanceMode::Drained;
    let plan =
        place(&cluster(vec![draining, drained]), &[job("j", vec![task("t", 1.0, 1, &[])])], &Policy::default(), 0);
    assert_eq!(plan.unplaced[0].reason.summary, "Host is draining for maintenance");
    let reasons: Vec<(&str, u32)> =
        plan.unplaced[0].reason.vetoes.iter().map(|v| (v.reason.as_str(), v.hosts)).collect();
    assert_eq!(reasons, vec![("Host is draining for maintenance", 1), ("Host is drained for maintenance", 1)]);

    // "a" is the better bin-packing fit, but it is scheduled for maintenance.
    let mut scheduled = agent("a", "cpus:4;mem:400;disk:100");
    scheduled.maintenance = MaintenanceMode::Scheduled;
    scheduled.used = Usage { cpu_millis: 2000, ram_mb: 200, disk_mb: 0, gpu: 0 };
    let snapshot = cluster(vec![scheduled, agent("b", "cpus:4;mem:400;disk:100")]);
    let plan = place(&snapshot, &[job("j", vec![task("t", 1.0, 1, &[])])], &Policy::default(), 0);
    assert_eq!(placed(&plan), vec![pair("t", "b")]);
}

#[test]
fn a_reserved_task_goes_first_and_back_to_its_agent_when_it_still_fits() {
    let snapshot = cluster(vec![agent("a", "cpus:1;mem:100;disk:100"), agent("b", "cpus:4;mem:400;disk:100")]);
    let mut preferred = job("other", vec![task("other", 1.0, 10, &[])]);
    preferred.tier = Tier::Preferred;
    let mut replacement = task("replacement", 1.0, 10, &[]);
    replacement.reserved_agent = Some(AgentId("a".into()));
    let plan = place(&snapshot, &[preferred.clone(), job("updated", vec![replacement.clone()])], &Policy::default(), 0);
    assert_eq!(
        placed(&plan),
        vec![pair("replacement", "a"), pair("other", "b")],
        "the slot on a is the replacement's, though the other task's tier comes first"
    );

    // The reserved agent cannot take it any more: placed as any other task.
    let mut full = agent("a", "cpus:1;mem:100;disk:100");
    full.used = Usage { cpu_millis: 500, ram_mb: 0, disk_mb: 0, gpu: 0 };
    let snapshot = cluster(vec![full, agent("b", "cpus:4;mem:400;disk:100")]);
    let plan = place(&snapshot, &[job("updated", vec![replacement.clone()])], &Policy::default(), 0);
    assert_eq!(placed(&plan), vec![pair("replacement", "b")]);

    // A reserved agent that is gone is passed over too.
    replacement.reserved_agent = Some(AgentId("gone".into()));
    let plan = place(
        &cluster(vec![agent("b", "cpus:4;mem:400;disk:100")]),
        &[job("u", vec![replacement])],
        &Policy::default(),
        0,
    );
    assert_eq!(placed(&plan), vec![pair("replacement", "b")]);
}

#[test]
fn two_configs_of_one_job_share_its_count_rules() {
    let snapshot = cluster(vec![host("h1", &[("host", "h1")]), host("h2", &[("host", "h2")])]);
    let old = constrained(job("web", vec![task("old", 0.1, 1, &[])]), &[("host", "limit:1")]);
    let mut new =
        constrained(job("web", vec![task("new1", 0.1, 1, &[]), task("new2", 0.1, 1, &[])]), &[("host", "limit:1")]);
    new.tasks[0].instance = 1;
    new.tasks[1].instance = 2;
    for pending in [vec![old.clone(), new.clone()], vec![new, old]] {
        let plan = place(&snapshot, &pending, &Policy::default(), 0);
        assert_eq!(plan.placements.len(), 2, "one instance per host over both configs: {plan:?}");
        assert_eq!(plan.unplaced.len(), 1);
        assert_eq!(plan.unplaced[0].reason.summary, "Limit not satisfied: host");
    }
}

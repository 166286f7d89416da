//! Properties over generated clusters: no agent is overcommitted, count rules hold, every task
//! is accounted for, input order does not matter, and the sampling limit bounds the work.

use std::collections::BTreeMap;

use super::*;

/// A tiny deterministic generator (Knuth's MMIX LCG), so failures are reproducible by seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

const RULES: [(&str, &str); 8] = [
    ("host", "limit:1"),
    ("rack", "limit:2"),
    ("host", "unique"),
    ("rack", "max_per:3"),
    ("rack", "group_by"),
    ("rack", "r0,r1"),
    ("rack", "!r2"),
    ("host", "like:h1.*"),
];

fn generate(seed: u64) -> (ClusterSnapshot, Vec<PendingJob>) {
    let mut rng = Lcg(seed);
    let agents: Vec<AgentSnapshot> = (0..1 + rng.below(20))
        .map(|i| {
            let begin = 31000 + rng.below(5) as u16;
            let mut a = agent(
                &format!("h{i}"),
                &format!(
                    "cpus:{};mem:{};disk:{};ports:[{begin}-{}]",
                    1 + rng.below(4),
                    64 + rng.below(512),
                    1000,
                    begin + rng.below(3) as u16
                ),
            );
            a.attributes.0.insert("host".into(), format!("h{i}"));
            if rng.below(5) > 0 {
                a.attributes.0.insert("rack".into(), format!("r{}", rng.below(4)));
            }
            a.maintenance =
                [MaintenanceMode::None, MaintenanceMode::Scheduled, MaintenanceMode::Draining][rng.below(3) as usize];
            if rng.below(4) == 0 {
                a.used = Usage { cpu_millis: 500, ram_mb: 32, disk_mb: 0, gpu: 0 };
                a.used_ports.insert(begin);
            }
            a
        })
        .collect();
    let jobs: Vec<PendingJob> = (0..1 + rng.below(6))
        .map(|j| {
            let tasks: Vec<PendingTask> = (0..1 + rng.below(12))
                .map(|t| {
                    let ports: &[&str] = [&[][..], &["http"], &["http", "admin"]][rng.below(3) as usize];
                    task(&format!("job{j}-{t}"), 0.1 * (1 + rng.below(10)) as f64, 8 + rng.below(100), ports)
                })
                .collect();
            let rules: Vec<(&str, &str)> =
                (0..rng.below(3)).map(|_| RULES[rng.below(RULES.len() as u64) as usize]).collect();
            let mut pending = constrained(job(&format!("job{j}"), tasks), &rules);
            pending.service = rng.below(2) == 0;
            pending.priority = rng.below(3) as i32;
            pending
        })
        .collect();
    let mut snapshot = cluster(agents);
    for pending in &jobs {
        let running: Vec<AgentId> =
            (0..rng.below(3)).map(|_| AgentId(format!("h{}", rng.below(snapshot.agents.len() as u64)))).collect();
        snapshot.placed.insert(pending.key.clone(), running);
    }
    (snapshot, jobs)
}

#[test]
fn no_agent_is_overcommitted_and_count_rules_hold_over_generated_clusters() {
    for seed in 0..300 {
        let (snapshot, jobs) = generate(seed);
        let plan = place(&snapshot, &jobs, &Policy::default(), 0);
        let tasks: BTreeMap<&TaskId, (&PendingJob, &PendingTask)> =
            jobs.iter().flat_map(|j| j.tasks.iter().map(move |t| (&t.id, (j, t)))).collect();
        assert_eq!(plan.placements.len() + plan.unplaced.len(), tasks.len(), "seed {seed}: every task accounted for");
        for a in &snapshot.agents {
            let mine: Vec<&Placement> = plan.placements.iter().filter(|p| p.agent == a.id).collect();
            if !mine.is_empty() {
                assert!(a.maintenance.accepts_tasks(), "seed {seed}: {} is draining", a.id);
            }
            let cpu: u64 =
                a.used.cpu_millis + mine.iter().map(|p| tasks[&p.task].1.resources.cpu_millis()).sum::<u64>();
            let ram: u64 = a.used.ram_mb + mine.iter().map(|p| tasks[&p.task].1.resources.ram_mb).sum::<u64>();
            assert!(cpu <= (a.resources.cpus * 1000.0) as u64 && ram <= a.resources.mem_mb, "seed {seed}: {}", a.id);
            let ports: Vec<u16> = mine.iter().flat_map(|p| p.ports.values().copied()).collect();
            let distinct: BTreeSet<u16> = ports.iter().copied().collect();
            assert_eq!(distinct.len(), ports.len(), "seed {seed}: ports reused on {}", a.id);
            assert!(distinct.iter().all(|p| !a.used_ports.contains(p)), "seed {seed}: a used port handed out");
            for p in &mine {
                assert_eq!(p.ports.len(), tasks[&p.task].1.ports.len(), "seed {seed}: every named port assigned");
            }
        }
        for pending in &jobs {
            let on: Vec<&AgentId> = snapshot.placed[&pending.key]
                .iter()
                .chain(plan.placements.iter().filter(|p| tasks[&p.task].0.key == pending.key).map(|p| &p.agent))
                .collect();
            for constraint in &pending.constraints {
                let limit = match constraint.rule {
                    ConstraintRule::Limit(n) | ConstraintRule::MaxPer(n) => n as usize,
                    ConstraintRule::Unique => 1,
                    _ => continue,
                };
                let mut per_value: BTreeMap<&str, usize> = BTreeMap::new();
                for id in &on {
                    let agent = snapshot.agents.iter().find(|a| a.id == **id).expect("placed on a known agent");
                    if let Some(value) = agent.attributes.0.get(&constraint.attribute) {
                        *per_value.entry(value).or_default() += 1;
                    }
                }
                let before: BTreeMap<&str, usize> =
                    snapshot.placed[&pending.key].iter().fold(BTreeMap::new(), |mut m, id| {
                        let agent = snapshot.agents.iter().find(|a| a.id == *id).expect("known agent");
                        if let Some(value) = agent.attributes.0.get(&constraint.attribute) {
                            *m.entry(value.as_str()).or_default() += 1;
                        }
                        m
                    });
                for (value, count) in per_value {
                    let allowed = limit.max(before.get(value).copied().unwrap_or(0));
                    assert!(count <= allowed, "seed {seed}: {constraint} has {count} on {value}");
                }
            }
        }
    }
}

#[test]
fn the_same_inputs_in_any_order_give_the_same_plan() {
    for seed in 0..100 {
        let (snapshot, jobs) = generate(seed);
        let first = place(&snapshot, &jobs, &Policy::default(), 0);
        let mut rng = Lcg(seed ^ 0x5eed);
        let mut shuffled = snapshot.clone();
        rng.shuffle(&mut shuffled.agents);
        shuffled.placed.values_mut().for_each(|ids| rng.shuffle(ids));
        let mut reordered = jobs.clone();
        rng.shuffle(&mut reordered);
        reordered.iter_mut().for_each(|j| rng.shuffle(&mut j.tasks));
        assert_eq!(place(&shuffled, &reordered, &Policy::default(), 0), first, "seed {seed}");
        let spread = Policy { strategy: Strategy::Spread };
        assert_eq!(place(&shuffled, &reordered, &spread, 0), place(&snapshot, &jobs, &spread, 0), "seed {seed}");
    }
}

#[test]
fn each_task_scores_at_most_log2_n_candidates() {
    let agents: Vec<AgentSnapshot> =
        (0..1024).map(|i| agent(&format!("h{i:04}"), "cpus:64;mem:65536;disk:65536")).collect();
    let tasks = |prefix: &str| (0..200).map(|i| task(&format!("{prefix}-{i}"), 0.5, 64, &[])).collect::<Vec<_>>();
    let service = job("svc", tasks("svc"));
    let mut batch = job("batch", tasks("batch"));
    batch.service = false;
    let plan = place(&cluster(agents.clone()), &[service], &Policy::default(), 0);
    assert_eq!(plan.placements.len(), 200);
    assert_eq!(
        (plan.stats.agents_examined, plan.stats.candidates_scored),
        (200 * 10, 200 * 10),
        "log2(1024) = 10 each"
    );
    let plan = place(&cluster(agents.clone()), &[batch], &Policy::default(), 0);
    assert_eq!((plan.stats.agents_examined, plan.stats.candidates_scored), (200 * 2, 200 * 2), "two for batch");

    // With most agents full, a task walks past them but still scores at most ten.
    let mut crowded = agents;
    crowded.iter_mut().filter(|a| a.id.0.as_str() >= "h0100").for_each(|a| a.used.cpu_millis = 64_000);
    let plan = place(&cluster(crowded), &[job("svc", tasks("svc"))], &Policy::default(), 0);
    assert!(plan.stats.candidates_scored <= 200 * 10);
    assert!(plan.stats.agents_examined < 200 * 1024 / 4, "examined {}", plan.stats.agents_examined);
    assert_eq!(plan.stats.eligibility_checks, 1024, "static filters once per class, not per task");
}

//! Benchmark: one placement round of 100,000 pending instances in 1,000 constrained jobs on
//! 10,000 agents with mixed attributes, on one core. Run
//! `cargo bench -p atoll-placement --bench place`; prints placements per second (best and median
//! of 3 rounds) and the memory per task (peak resident set growth while building the inputs and
//! placing, over the number of tasks; Linux only).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use atoll_model::{AgentId, Constraint, JobKey, Resources, TaskId};
use atoll_placement::{
    AgentSnapshot, ClusterSnapshot, MaintenanceMode, PendingJob, PendingTask, Plan, Policy, Tier, Usage, place,
};

const AGENTS: usize = 10_000;
const JOBS: usize = 1_000;
const INSTANCES: usize = 100;
const ROUNDS: usize = 3;

fn agents() -> Vec<AgentSnapshot> {
    (0..AGENTS)
        .map(|i| {
            let gpus = if i % 10 == 0 { 2 } else { 0 };
            let mut attributes = format!("host:host-{i:05};rack:rack-{:03};zone:zone-{}", i / 40, i % 5)
                .parse::<atoll_model::Attributes>();
            if let Ok(a) = attributes.as_mut()
                && i % 50 == 0
            {
                a.0.insert("dedicated".into(), "db/cassandra".into());
            }
            AgentSnapshot {
                id: AgentId(format!("host-{i:05}")),
                resources: format!("cpus:32;mem:131072;disk:1000000;gpus:{gpus};ports:[31000-32000]")
                    .parse()
                    .expect("agent resources parse"),
                attributes: attributes.expect("agent attributes parse"),
                maintenance: match i {
                    i if i % 211 == 0 => MaintenanceMode::Draining,
                    i if i % 97 == 0 => MaintenanceMode::Scheduled,
                    _ => MaintenanceMode::None,
                },
                used: Usage::default(),
                used_ports: Default::default(),
            }
        })
        .collect()
}

/// A mix of Aurora's and Marathon's constraints, one pattern per job.
fn constraints(j: usize) -> Vec<Constraint> {
    let rules: &[(&str, &str)] = match j % 10 {
        0 => &[],
        1 => &[("host", "limit:1")],
        2 => &[("host", "unique")],
        3 => &[("zone", "zone-1,zone-2")],
        4 => &[("rack", "group_by")],
        5 => &[("rack", "max_per:2"), ("zone", "!zone-0")],
        6 if j % 50 == 6 => &[("dedicated", "db/cassandra"), ("host", "limit:1")],
        6 => &[("zone", "is:zone-4"), ("host", "limit:2")],
        7 => &[("host", "like:host-[0-4].*"), ("rack", "limit:5")],
        8 => &[("rack", "limit:4")],
        _ => &[("zone", "cluster:zone-3")],
    };
    rules.iter().map(|(a, r)| Constraint::parse(a, r).expect("bench constraint parses")).collect()
}

fn jobs() -> Vec<PendingJob> {
    (0..JOBS)
        .map(|j| {
            let role = if j % 50 == 6 { "db" } else { "www-data" };
            let key: JobKey = format!("cluster/{role}/prod/job-{j:04}").parse().expect("bench key parses");
            // One job in a hundred asks for more GPUs than any agent has: its instances stay pending.
            let gpu = if j % 100 == 99 { 4 } else { 0 };
            let resources =
                Resources { cpu: 0.5 * (1 + j % 4) as f64, ram_mb: 512 * (1 + j % 8) as u64, disk_mb: 1024, gpu };
            let ports: BTreeSet<String> = ["http", "admin"].iter().take(j % 3).map(|p| (*p).to_owned()).collect();
            let tasks = (0..INSTANCES)
                .map(|i| PendingTask {
                    id: TaskId::new(&key, i as u32, &format!("19a2b3c4d5e-{}", j * INSTANCES + i)),
                    instance: i as u32,
                    reserved_agent: None,
                    resources: resources.clone(),
                    ports: ports.clone(),
                    not_before_ms: 0,
                })
                .collect();
            PendingJob {
                key,
                tier: if j % 7 == 0 { Tier::Preferred } else { Tier::Preemptible },
                priority: (j % 3) as i32,
                service: j % 3 != 0,
                instances: INSTANCES as u32,
                constraints: constraints(j),
                tasks,
            }
        })
        .collect()
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`), where there is one.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn main() {
    let baseline = proc_status_bytes("VmRSS:");
    let snapshot = ClusterSnapshot { agents: agents(), placed: BTreeMap::new() };
    let pending = jobs();
    let tasks = pending.iter().map(|j| j.tasks.len()).sum::<usize>();
    let inputs = proc_status_bytes("VmRSS:");

    let mut samples: Vec<Duration> = Vec::new();
    let mut last: Option<Plan> = None;
    for _ in 0..ROUNDS {
        // One plan alive at a time, so the peak is one round's.
        drop(last.take());
        let started = Instant::now();
        let plan = place(&snapshot, &pending, &Policy::default(), 0);
        samples.push(started.elapsed());
        last = Some(plan);
    }
    let plan = last.expect("at least one round");
    samples.sort();
    let rate = |d: Duration| plan.placements.len() as f64 / d.as_secs_f64();
    println!("agents {AGENTS}, jobs {JOBS}, pending instances {tasks}");
    println!("placed {}, unplaced {}", plan.placements.len(), plan.unplaced.len());
    if let Some(u) = plan.unplaced.first() {
        println!("  e.g. {}: {}", u.task, u.reason.summary);
    }
    println!(
        "round: best {:.1} ms, median {:.1} ms",
        samples[0].as_secs_f64() * 1e3,
        samples[ROUNDS / 2].as_secs_f64() * 1e3
    );
    println!("placements/s: best {:.0}, median {:.0}", rate(samples[0]), rate(samples[ROUNDS / 2]));
    let stats = plan.stats;
    println!(
        "per task: {:.1} agents examined, {:.1} candidates scored; {} static eligibility checks",
        stats.agents_examined as f64 / tasks as f64,
        stats.candidates_scored as f64 / tasks as f64,
        stats.eligibility_checks
    );
    match (baseline, inputs, proc_status_bytes("VmHWM:")) {
        (Some(baseline), Some(inputs), Some(peak)) => println!(
            "memory per task: inputs {:.0} B, peak (inputs + round + plan) {:.0} B",
            inputs.saturating_sub(baseline) as f64 / tasks as f64,
            peak.saturating_sub(baseline) as f64 / tasks as f64
        ),
        _ => println!("memory per task: /proc/self/status is not available here"),
    }
    println!(
        "sizes: PendingTask {} B, Placement {} B, Unplaced {} B (+ heap: ids, port names)",
        size_of::<PendingTask>(),
        size_of::<atoll_placement::Placement>(),
        size_of::<atoll_placement::Unplaced>()
    );
}

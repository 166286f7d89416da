//! The clusters and workloads the tests run: hosts in racks and zones, services spread by
//! `limit` constraints, batch jobs, and a preset fault plan per kind of fault.

use atoll_model::{AgentId, Constraint, JobKey, JobSpec, ProcessSpec, Resources, TaskSpec};

use crate::{AgentSpec, Behaviour, FaultPlan, Sim, SimConfig, Strategy};

/// The cluster every scenario runs.
pub const CLUSTER: &str = "sim";

/// `agents` hosts `host-NNNN` in `racks` racks (`rack:rNN`) and three zones (`zone:zN`), each
/// with 4 cores, 8 GiB of RAM, 64 GiB of disk and 16 ports.
pub fn hosts(agents: usize, racks: usize) -> Vec<AgentSpec> {
    (0..agents)
        .map(|n| {
            let rack = n % racks.max(1);
            AgentSpec {
                id: AgentId(format!("host-{n:04}")),
                resources: "cpus:4;mem:8192;disk:65536;ports:[31000-31015]".parse().expect("valid resources"),
                attributes: format!("host:host-{n:04};rack:r{rack:02};zone:z{}", rack % 3)
                    .parse()
                    .expect("valid attributes"),
            }
        })
        .collect()
}

/// The key of job `name` in the scenario cluster.
pub fn key(name: &str) -> JobKey {
    JobKey::new(CLUSTER, "www-data", "prod", name).expect("valid job key")
}

/// A job of `instances` small tasks (a quarter core, 256 MiB, one named port), under the given
/// `(attribute, rule)` constraints.
pub fn job(name: &str, instances: u32, service: bool, constraints: &[(&str, &str)]) -> JobSpec {
    let process = ProcessSpec::new("main", "serve --port {{thermos.ports[http]}}");
    let task = TaskSpec::new(vec![process], Resources { cpu: 0.25, ram_mb: 256, disk_mb: 512, gpu: 0 });
    let mut job = JobSpec::new(key(name), task);
    job.instances = instances;
    job.config.service = service;
    job.config.constraints = constraints
        .iter()
        .map(|(attribute, rule)| Constraint::parse(attribute, rule).expect("valid constraint"))
        .collect();
    job
}

/// The jobs [`mixed_workload`] submits and the ones it kills.
pub struct Workload {
    pub services: Vec<JobKey>,
    pub batches: Vec<JobKey>,
    pub killed: Vec<JobKey>,
}

/// 50 jobs of 20 instances, submitted over the first ten seconds: 30 services at most one per
/// host (`host: limit:1`), 10 services at most two per rack (`rack: limit:2`, so exactly two
/// in each of ten racks), 5 services kept out of zone z2 (`zone: !z2`), and 5 batch jobs that
/// finish after 10 to 40 s. Five of the host-limited services are killed at `kill_at_ms`.
pub fn mixed_workload(sim: &mut Sim, kill_at_ms: u64) -> Workload {
    let mut workload = Workload { services: Vec::new(), batches: Vec::new(), killed: Vec::new() };
    for n in 0..50u32 {
        let at_ms = 200 * u64::from(n);
        let (spec, behaviour) = match n {
            0..30 => (job(&format!("web-{n}"), 20, true, &[("host", "limit:1")]), Behaviour::Serve),
            30..40 => (job(&format!("spread-{n}"), 20, true, &[("rack", "limit:2")]), Behaviour::Serve),
            40..45 => (job(&format!("zoned-{n}"), 20, true, &[("zone", "!z2")]), Behaviour::Serve),
            _ => (job(&format!("batch-{n}"), 20, false, &[]), Behaviour::Finish { after_ms: (10_000, 40_000) }),
        };
        let key = spec.key.clone();
        sim.submit(at_ms, spec, behaviour);
        if (25..30).contains(&n) {
            sim.kill_job(kill_at_ms, key.clone());
            workload.killed.push(key);
        } else if behaviour == Behaviour::Serve {
            workload.services.push(key);
        } else {
            workload.batches.push(key);
        }
    }
    workload
}

/// The window every preset fault plan draws its faults in.
pub const FAULT_WINDOW_MS: (u64, u64) = (15_000, 60_000);

/// Fifteen hosts crash, half of them coming back empty after 5 to 40 s.
pub fn crashes() -> FaultPlan {
    FaultPlan {
        window_ms: FAULT_WINDOW_MS,
        crashes: 15,
        crash_return_per_mille: 500,
        crash_down_ms: (5_000, 40_000),
        ..FaultPlan::none()
    }
}

/// Twenty agent restarts of 0.5 to 5 s, half keeping their tasks.
pub fn restarts() -> FaultPlan {
    FaultPlan {
        window_ms: FAULT_WINDOW_MS,
        restarts: 20,
        restart_keep_per_mille: 500,
        restart_down_ms: (500, 5_000),
        ..FaultPlan::none()
    }
}

/// Sixty lost messages, either way.
pub fn losses() -> FaultPlan {
    FaultPlan { window_ms: FAULT_WINDOW_MS, losses: 60, ..FaultPlan::none() }
}

/// Ten partitions of 5 to 30 s: most outlast the 10 s agent timeout.
pub fn partitions() -> FaultPlan {
    FaultPlan { window_ms: FAULT_WINDOW_MS, partitions: 10, partition_ms: (5_000, 30_000), ..FaultPlan::none() }
}

/// Every kind of fault at once, a third as many of each as the presets.
pub fn chaos() -> FaultPlan {
    FaultPlan {
        window_ms: FAULT_WINDOW_MS,
        crashes: 5,
        crash_return_per_mille: 500,
        crash_down_ms: (5_000, 40_000),
        restarts: 7,
        restart_keep_per_mille: 500,
        restart_down_ms: (500, 5_000),
        losses: 20,
        partitions: 4,
        partition_ms: (5_000, 30_000),
    }
}

/// A simulation of [`hosts`]`(agents, 10)` placing by `strategy`, under `faults`, with seed
/// `seed`.
pub fn cluster(seed: u64, agents: usize, strategy: Strategy, faults: FaultPlan) -> Sim {
    let mut config = SimConfig::new(seed);
    config.state.policy.strategy = strategy;
    config.faults = faults;
    Sim::new(config, hosts(agents, 10))
}

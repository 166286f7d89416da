//! Benchmark: the scheduler's heap memory per task. Builds a `ClusterState` with 100 registered
//! agents and 50 production services of 200 instances each (10,000 tasks, each job shaped like a
//! real web service: two ordered processes with rotating loggers, constraints, an HTTP health
//! check, lifecycle, an announcer, metadata), places them all, and then has every agent report
//! its tasks STARTING and RUNNING, as agents do. Run `cargo bench -p atoll-state --bench memory`.
//!
//! Memory is counted by a global allocator that wraps the system allocator (`stats_alloc`) and
//! counts the bytes (and allocations) live at any moment. Per task is the live heap after a stage, less
//! the live heap of the state with only its agents, over the number of tasks; it counts what was
//! asked of the allocator, not the allocator's own overhead. Every `Changes` and `Effect` the
//! state hands out is dropped before measuring, as the server drops them once committed and sent.

use std::alloc::System;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use atoll_model::config::{
    Announcer, HealthCheckConfig, HealthChecker, HttpHealthChecker, HttpLifecycleConfig, LifecycleConfig,
    LogDestination, LogMode, Logger, Metadata, PortTarget, RotatePolicy,
};
use atoll_model::{AgentId, Constraint, JobSpec, ProcessSpec, Resources, TaskId, TaskSpec, TaskState};
use atoll_state::{ClusterState, Registration, StateConfig, StatusReport};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

const AGENTS: usize = 100;
const JOBS: usize = 50;
const INSTANCES: u32 = 200;

/// The system allocator, counting what is allocated and freed.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live bytes and allocations.
fn live() -> (usize, usize) {
    let stats = ALLOCATOR.stats();
    // A reallocation's growth or shrinkage is already in bytes_allocated or bytes_deallocated.
    (stats.bytes_allocated - stats.bytes_deallocated, stats.allocations - stats.deallocations)
}

fn logger() -> Logger {
    Logger {
        destination: LogDestination::Both,
        mode: LogMode::Rotate,
        rotate: RotatePolicy { log_size: 50 * 1024 * 1024, backups: 3 },
    }
}

/// Web service number `n`: two ordered processes, host and rack constraints (two instances per
/// host, so 200 instances fit on 100 agents), HTTP health check, lifecycle, announcer, metadata.
fn web_job(n: usize) -> JobSpec {
    let mut fetch = ProcessSpec::new("fetch_assets", "curl -sf https://assets.example.com/web-1.4.2.tgz | tar xz");
    fetch.max_failures = 3;
    fetch.min_duration = 2;
    fetch.logger = logger();
    let mut server = ProcessSpec::new(
        "web_server",
        "./bin/web --port={{thermos.ports[http]}} --admin-port={{thermos.ports[health]}} --shard={{mesos.instance}}",
    );
    server.daemon = true;
    server.max_failures = 0;
    server.logger = logger();
    let mut task = TaskSpec::new(vec![fetch, server], Resources { cpu: 0.5, ram_mb: 256, disk_mb: 512, gpu: 0 });
    task.name = "web".into();
    task.order = vec![vec!["fetch_assets".into(), "web_server".into()]];
    task.max_concurrency = 2;
    task.finalization_wait = 45;
    task.user = Some("www-data".into());

    let mut job = JobSpec::new(format!("devcluster/www-data/prod/web-{n:02}").parse().expect("job key"), task);
    job.instances = INSTANCES;
    job.config.service = true;
    job.config.contact = Some("web-team@example.com".into());
    job.config.tier = Some("preferred".into());
    job.config.priority = 5;
    job.config.production = true;
    job.config.constraints = vec![
        Constraint::parse("host", "limit:2").expect("constraint"),
        Constraint::parse("rack", "r1,r2").expect("constraint"),
    ];
    job.config.metadata = vec![
        Metadata { key: "owner".into(), value: "web-team".into() },
        Metadata { key: "git_sha".into(), value: "3f9c2e1".into() },
    ];
    job.config.health_check_config = HealthCheckConfig {
        health_checker: HealthChecker::Http(HttpHealthChecker {
            endpoint: "/healthz".into(),
            expected_response: "ok".into(),
            expected_response_code: 200,
        }),
        initial_interval_secs: 20.0,
        interval_secs: 5.0,
        max_consecutive_failures: 3,
        min_consecutive_successes: 2,
        timeout_secs: 1.5,
    };
    job.config.lifecycle = LifecycleConfig {
        http: Some(HttpLifecycleConfig {
            port: "health".into(),
            graceful_shutdown_wait_secs: 10,
            ..HttpLifecycleConfig::default()
        }),
    };
    job.config.announce = Some(Announcer {
        primary_port: "http".into(),
        portmap: BTreeMap::from([
            ("aurora".to_owned(), PortTarget::Named("http".to_owned())),
            ("admin".to_owned(), PortTarget::Named("health".to_owned())),
        ]),
        zk_path: Some(format!("/aurora/www-data/prod/web-{n:02}")),
    });
    job
}

fn registration(i: usize) -> Registration {
    let hostname = format!("agent-{i:03}.example.com");
    Registration {
        incarnation: None,
        id: AgentId(format!("agent-{i:03}")),
        resources: "cpus:64;mem:131072;disk:1048576;ports:[31000-31999]".parse().expect("resources"),
        attributes: format!("host:{hostname};rack:r{};zone:us-east-1a", 1 + i % 2).parse().expect("attributes"),
        hostname,
        tasks: Vec::new(),
    }
}

/// Reports `state` for every task, from the agent it is on, with the sandbox agents report.
fn report_all(state: &mut ClusterState, to: TaskState, message: &str, now_ms: u64) {
    let tasks: Vec<(AgentId, TaskId)> = (0..JOBS)
        .flat_map(|n| {
            state
                .job_tasks(&web_job(n).key, false)
                .iter()
                .map(|t| (t.assignment.as_ref().expect("assigned").agent.clone(), t.id.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (agent, task) in tasks {
        let sandbox = Some(format!("/var/lib/atoll/agent/sandboxes/{}", task.0));
        let report = StatusReport { state: to, message: message.to_owned(), exit_code: None, sandbox };
        drop(state.update_status(&agent, &task, report, now_ms));
    }
}

/// How many tasks are in `wanted`.
fn count(state: &ClusterState, wanted: TaskState) -> usize {
    (0..JOBS).map(|n| state.job_tasks(&web_job(n).key, false).iter().filter(|t| t.state == wanted).count()).sum()
}

fn main() {
    let tasks = JOBS * INSTANCES as usize;
    let t0 = 1_700_000_000_000;
    let mut state = ClusterState::new(StateConfig::new("devcluster"));
    for i in 0..AGENTS {
        drop(state.register_agent(registration(i), t0));
    }
    let (base, base_allocs) = live();
    println!("state with {AGENTS} agents and no jobs: {base} bytes live in {base_allocs} allocations");

    let stage = |name: &str, state: &ClusterState| {
        let (bytes, allocations) = live();
        let per_task = (bytes - base) as f64 / tasks as f64;
        let allocs_per_task = (allocations - base_allocs) as f64 / tasks as f64;
        println!(
            "{name:<9} {:>6} tasks: {:>11} bytes live, {per_task:>7.0} bytes/task, {allocs_per_task:>5.1} allocations/task",
            count(state, TaskState::Pending) + count(state, TaskState::Assigned) + count(state, TaskState::Running),
            bytes - base,
        );
        black_box(state);
    };

    for n in 0..JOBS {
        drop(state.create_job(web_job(n), t0 + 1_000).expect("create job"));
    }
    stage("PENDING", &state);

    let started = Instant::now();
    let outcome = state.placement_round(t0 + 2_000);
    let placing = started.elapsed();
    drop(outcome);
    assert_eq!(count(&state, TaskState::Assigned), tasks, "every task is placed");
    stage("ASSIGNED", &state);

    report_all(&mut state, TaskState::Starting, "Executor started", t0 + 3_000);
    report_all(&mut state, TaskState::Running, "running", t0 + 30_000);
    assert_eq!(count(&state, TaskState::Running), tasks, "every task runs");
    assert_eq!(state.illegal_transitions(), 0);
    stage("RUNNING", &state);

    println!("placement round for {tasks} tasks on {AGENTS} agents: {placing:.2?}");
}

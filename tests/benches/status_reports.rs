//! Benchmark: status-report throughput, the scheduler's busiest path (issue 17's group commit
//! is measured with it). Starts a release scheduler on a data directory on disk and 20 agents
//! that speak the agent API themselves (register, follow their command stream, heartbeat, and
//! report; they run nothing), creates one batch job of 2,000 instances, and has each agent
//! report every task it is given STARTING, RUNNING and FINISHED, one report at a time as a real
//! agent does, so up to 20 reports are in flight. Every report changes a task, so each is a
//! durable commit before it is answered. Prints reports per second from the first to the last,
//! the median and 99th percentile of a report's round trip, and how many changes each of the
//! scheduler's flushes made durable (its metrics).
//!
//! Run: `cargo bench -p atoll-tests --bench status_reports` (ATOLL_BENCH_INSTANCES changes the
//! 2,000, ATOLL_BENCH_AGENTS the 20).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atoll_model::{JobSpec, ProcessSpec, Resources, TaskSpec};
use atoll_proto::v1::{
    self, agent_service_client::AgentServiceClient, scheduler_service_client::SchedulerServiceClient,
};
use atoll_tests::{build_atoll, free_port, http_get, start_scheduler_on, workspace_root};
use tonic::transport::Channel;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// One agent: registers, then reports each launched task STARTING, RUNNING and FINISHED,
/// counting finished tasks in `finished`, until the job's last task has finished; returns each
/// report's round trip.
async fn agent(url: String, index: usize, finished: Arc<AtomicUsize>, instances: usize) -> Vec<Duration> {
    let channel = Channel::from_shared(url).unwrap().connect().await.expect("connect");
    let mut client = AgentServiceClient::new(channel);
    let agent_id = format!("bench-agent-{index}");
    let register = v1::RegisterRequest {
        agent_id: agent_id.clone(),
        hostname: agent_id.clone(),
        resources: Some(v1::AgentResources {
            cpus: 64.0,
            mem_mb: 1 << 20,
            disk_mb: 1 << 20,
            gpus: 0,
            ports: Vec::new(),
        }),
        incarnation: format!("bench-{index}"),
        ..Default::default()
    };
    client.register(register).await.expect("register");
    let mut commands =
        client.commands(v1::CommandsRequest { agent_id: agent_id.clone() }).await.expect("commands").into_inner();
    let mut beating = client.clone();
    let beat_id = agent_id.clone();
    let heartbeats = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = beating.heartbeat(v1::HeartbeatRequest { agent_id: beat_id.clone() }).await;
        }
    });
    let mut round_trips = Vec::new();
    while finished.load(Ordering::SeqCst) < instances {
        let next = tokio::time::timeout(Duration::from_millis(100), commands.message()).await;
        let Ok(Ok(Some(command))) = next else { continue };
        let Some(v1::agent_command::Command::Launch(launch)) = command.command else { continue };
        for (state, exit_code) in
            [(v1::TaskState::Starting, None), (v1::TaskState::Running, None), (v1::TaskState::Finished, Some(0))]
        {
            let report = v1::UpdateTaskStatusRequest {
                agent_id: agent_id.clone(),
                task_id: launch.task_id.clone(),
                state: state as i32,
                message: String::new(),
                exit_code,
                sandbox: String::new(),
            };
            let sent = Instant::now();
            client.update_task_status(report).await.expect("report");
            round_trips.push(sent.elapsed());
        }
        finished.fetch_add(1, Ordering::SeqCst);
    }
    heartbeats.abort();
    round_trips
}

fn main() {
    let instances = env_number("ATOLL_BENCH_INSTANCES", 2_000);
    let agents = env_number("ATOLL_BENCH_AGENTS", 20);
    let atoll = build_atoll(true);
    // On disk, where an fsync costs what it costs (not tmpfs).
    let parent = workspace_root().join("target/bench-data");
    std::fs::create_dir_all(&parent).unwrap();
    let dir = tempfile::tempdir_in(&parent).unwrap();
    let port = free_port();
    let http = free_port();
    let data = dir.path().join("data");
    let http_address = format!("127.0.0.1:{http}");
    let extra = ["--agent-timeout-secs", "30", "--http", &http_address];
    let _scheduler = start_scheduler_on(&atoll, "scheduler", dir.path(), &data, port, false, &extra);
    let url = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let finished = Arc::new(AtomicUsize::new(0));
        let round_trips = Arc::new(Mutex::new(Vec::new()));
        let mut running = Vec::new();
        for index in 0..agents {
            let (url, kept, finished) = (url.clone(), round_trips.clone(), finished.clone());
            running.push(tokio::spawn(async move {
                let mine = agent(url, index, finished, instances).await;
                kept.lock().unwrap().extend(mine);
            }));
        }
        // Every agent registered before the job, so the tasks spread over all of them.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let task = TaskSpec::new(vec![ProcessSpec::new("p", "true")], Resources { cpu: 0.01, ram_mb: 1, disk_mb: 1, gpu: 0 });
        let mut spec = JobSpec::new("devcluster/bench/devel/reports".parse().unwrap(), task);
        spec.instances = instances as u32;
        let mut scheduler = SchedulerServiceClient::connect(url.clone()).await.expect("connect");
        let started = Instant::now();
        scheduler.create_job(v1::CreateJobRequest { job: Some(v1::JobConfig::from(&spec)) }).await.expect("create");
        for agent in running {
            agent.await.expect("an agent");
        }
        let elapsed = started.elapsed();
        let mut round_trips = round_trips.lock().unwrap().clone();
        round_trips.sort();
        let percentile = |p: f64| round_trips[((round_trips.len() as f64 * p) as usize).min(round_trips.len() - 1)];
        println!(
            "status_reports: {} reports from {agents} agents ({instances} tasks × STARTING, RUNNING, FINISHED) in {:.2} s: {:.0} reports/s; round trip median {:.2} ms, p99 {:.2} ms",
            round_trips.len(),
            elapsed.as_secs_f64(),
            round_trips.len() as f64 / elapsed.as_secs_f64(),
            percentile(0.5).as_secs_f64() * 1000.0,
            percentile(0.99).as_secs_f64() * 1000.0,
        );
    });
    // How many changes each flush made durable, from the scheduler's own metrics.
    let (_, _, metrics) = http_get(http, "/metrics");
    let count = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in the metrics"))
    };
    let (commits, flushes) =
        (count("atoll_store_commit_duration_seconds_count"), count("atoll_store_flush_duration_seconds_count"));
    println!("status_reports: {commits} commits in {flushes} flushes, {:.1} changes a flush", commits / flushes);
}

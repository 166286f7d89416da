//! Benchmark: what each event stream consumer costs the scheduler. Starts a release scheduler
//! (no agents, so tasks stay PENDING and every change is the scheduler's own work), subscribes
//! 0, 10 and 100 consumers that follow every event, and has 4 clients create and kill one-
//! instance jobs (5 events each: job CREATED, task PENDING, KILLING, KILLED, job KILLED); prints
//! the rate of create+kill pairs, the events each consumer received, and the cost per consumer.
//!
//! Run: `cargo bench -p atoll-tests --bench event_consumers` (ATOLL_BENCH_PAIRS changes the
//! 2,000 pairs per run).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use atoll_model::{JobSpec, ProcessSpec, Resources, TaskSpec};
use atoll_proto::v1::{
    self, event_service_client::EventServiceClient, scheduler_service_client::SchedulerServiceClient,
};
use atoll_tests::{build_atoll, free_port, start_scheduler_on};

const CLIENTS: usize = 4;
const EVENTS_PER_PAIR: u64 = 5;

fn job(n: usize) -> v1::JobConfig {
    let task =
        TaskSpec::new(vec![ProcessSpec::new("p", "sleep 1")], Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 });
    let key = format!("devcluster/www-data/devel/bench-{n}").parse().expect("a job key");
    v1::JobConfig::from(&JobSpec::new(key, task))
}

/// `pairs` create+kill pairs over [`CLIENTS`] clients; pairs per second.
async fn churn(url: &str, first: usize, pairs: usize) -> f64 {
    let started = Instant::now();
    let mut clients = Vec::new();
    for client_index in 0..CLIENTS {
        let mut client = SchedulerServiceClient::connect(url.to_owned()).await.expect("connect");
        clients.push(tokio::spawn(async move {
            for n in (0..pairs / CLIENTS).map(|i| first + client_index * pairs + i) {
                let config = job(n);
                let key = config.key.clone();
                client.create_job(v1::CreateJobRequest { job: Some(config) }).await.expect("create");
                let kill = v1::KillTasksRequest { job: key, instances: Vec::new(), kill_all: true };
                client.kill_tasks(kill).await.expect("kill");
            }
        }));
    }
    for client in clients {
        client.await.expect("a client");
    }
    (pairs / CLIENTS * CLIENTS) as f64 / started.elapsed().as_secs_f64()
}

/// `count` consumers following every event from now, each counting what it receives.
async fn consumers(url: &str, count: usize) -> Vec<Arc<AtomicU64>> {
    let mut received = Vec::new();
    for _ in 0..count {
        let mut client = EventServiceClient::connect(url.to_owned()).await.expect("connect");
        let request = v1::SubscribeRequest { cluster: "devcluster".into(), follow: true, ..Default::default() };
        let mut stream = client.subscribe(request).await.expect("subscribe").into_inner();
        let counter = Arc::new(AtomicU64::new(0));
        let counting = counter.clone();
        tokio::spawn(async move {
            while let Ok(Some(_)) = stream.message().await {
                counting.fetch_add(1, Ordering::Relaxed);
            }
        });
        received.push(counter);
    }
    received
}

fn main() {
    let pairs: usize = std::env::var("ATOLL_BENCH_PAIRS").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let atoll = build_atoll(true);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = dir.path().join("data");
    let _scheduler = start_scheduler_on(&atoll, "scheduler", dir.path(), &data, port, false, &[]);
    let url = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        churn(&url, 0, 200).await;
        let mut first = 1_000_000;
        let mut baseline = None;
        for count in [0, 10, 100] {
            let received = consumers(&url, count).await;
            let rate = churn(&url, first, pairs).await;
            first += 1_000_000;
            let expected = (pairs / CLIENTS * CLIENTS) as u64 * EVENTS_PER_PAIR;
            let deadline = Instant::now() + Duration::from_secs(60);
            while received.iter().any(|r| r.load(Ordering::Relaxed) < expected) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let got: Vec<u64> = received.iter().map(|r| r.load(Ordering::Relaxed)).collect();
            assert!(got.iter().all(|g| *g == expected), "each consumer gets every event once: {expected} expected, got {got:?}");
            let base = *baseline.get_or_insert(rate);
            let per_consumer = if count == 0 { 0.0 } else { (1.0 - rate / base) * 100.0 / count as f64 };
            println!(
                "event_consumers: {count} consumers, {pairs} create+kill pairs ({expected} events each consumer got): {rate:.0} pairs/s ({:+.1} % against none; {per_consumer:.2} % per consumer)",
                (rate / base - 1.0) * 100.0
            );
        }
    });
}

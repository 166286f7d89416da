//! Benchmark: the cost of cron in the scheduler's housekeeping tick. Schedules 10,000 cron jobs
//! of one instance each, all firing every minute (`* * * * *`, half of them in Europe/Paris),
//! and times `tick`: the first one (which looks at every job once, as after a restart), between fires (every job looked at, none due), at the minute when every
//! job fires (10,000 runs started, 10,000 PENDING tasks created), and the next minute, when
//! every run is still active and CANCEL_NEW skips all 10,000 fires. No agents: the runs'
//! tasks stay PENDING, so the figures are cron's own. Run
//! `cargo bench -p atoll-state --bench cron_tick` (ATOLL_BENCH_JOBS changes the 10,000).

use std::time::{Duration, Instant};

use atoll_model::config::CronCollisionPolicy;
use atoll_model::{JobSpec, ProcessSpec, Resources, TaskSpec};
use atoll_state::{ClusterState, StateConfig};

const MINUTE: u64 = 60_000;
/// 2026-01-01T00:00:00Z.
const START: u64 = 1_767_225_600_000;

fn timed(state: &mut ClusterState, now: u64) -> (Duration, usize) {
    let started = Instant::now();
    let outcome = state.tick(now);
    (started.elapsed(), outcome.changes.tasks_put.len())
}

fn main() {
    let jobs: usize = std::env::var("ATOLL_BENCH_JOBS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let mut state = ClusterState::new(StateConfig::new("devcluster"));
    let started = Instant::now();
    for n in 0..jobs {
        let task = TaskSpec::new(
            vec![ProcessSpec::new("report", "./report")],
            Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
        );
        let mut spec = JobSpec::new(format!("devcluster/www-data/prod/report-{n}").parse().expect("a key"), task);
        spec.cron_schedule = Some("* * * * *".into());
        spec.cron_collision_policy = CronCollisionPolicy::CancelNew;
        if n % 2 == 1 {
            spec.cron_timezone = Some("Europe/Paris".into());
        }
        let _ = state.schedule_cron(spec, START).expect("a valid cron job");
    }
    println!("cron_tick: {jobs} jobs scheduled in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    // The first tick looks at every job once (as after a restart); the others only at what is due.
    let (first, _) = timed(&mut state, START + 500);
    let mut idle = Vec::new();
    for i in 1..=20 {
        idle.push(timed(&mut state, START + i * 1000).0);
    }
    idle.sort();
    let (fire, created) = timed(&mut state, START + MINUTE);
    let mut between = Vec::new();
    for i in 1..=20 {
        between.push(timed(&mut state, START + MINUTE + i * 1000).0);
    }
    between.sort();
    let (skip, _) = timed(&mut state, START + 2 * MINUTE);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("cron_tick: the first tick, every job looked at once: {:.1} ms", ms(first));
    println!(
        "cron_tick: idle tick (nothing due) median {:.2} ms, max {:.2} ms",
        ms(idle[idle.len() / 2]),
        ms(idle[idle.len() - 1])
    );
    println!("cron_tick: the minute every job fires: {:.1} ms, {created} tasks created", ms(fire));
    println!(
        "cron_tick: ticks with every run active, nothing due: median {:.2} ms, max {:.2} ms",
        ms(between[between.len() / 2]),
        ms(between[between.len() - 1])
    );
    println!("cron_tick: the next minute, every fire skipped (CANCEL_NEW): {:.1} ms", ms(skip));
}

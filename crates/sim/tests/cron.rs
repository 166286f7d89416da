//! Cron under faults: a job fired every minute for virtual hours while hosts crash, restart and
//! are cut off, and messages are lost, fires each minute exactly once (run, or skipped by
//! CANCEL_NEW while the previous run is still going), never twice, and the cluster converges
//! with the store holding the state. `ATOLL_SIM_SEED=N` reruns one seed.

use atoll_model::config::CronCollisionPolicy;
use atoll_sim::scenario::{self, job, key};
use atoll_sim::{Behaviour, FaultPlan, Sim, SimConfig};
use atoll_state::CronRunState;

const MINUTE: u64 = 60_000;
const HOURS: u64 = 3;

fn seeds() -> Vec<u64> {
    match std::env::var("ATOLL_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("ATOLL_SIM_SEED is a number")],
        Err(_) => vec![1, 2, 3],
    }
}

#[test]
fn an_every_minute_job_fires_each_minute_once_under_faults() {
    for seed in seeds() {
        let mut config = SimConfig::new(seed);
        config.state.cron_runs_kept = 1000;
        config.faults = FaultPlan {
            window_ms: (5 * MINUTE, HOURS * 60 * MINUTE),
            crashes: 4,
            crash_return_per_mille: 750,
            crash_down_ms: (5_000, 120_000),
            partitions: 4,
            partition_ms: (5_000, 60_000),
            losses: 40,
            ..FaultPlan::none()
        };
        let mut sim = Sim::new(config, scenario::hosts(6, 2));
        let mut report = job("report", 3, false, &[]);
        report.cron_schedule = Some("* * * * *".into());
        report.cron_collision_policy = CronCollisionPolicy::CancelNew;
        // Runs take 20 to 90 s, so some overlap the next minute and are skipped.
        sim.submit(1_000, report, Behaviour::Finish { after_ms: (20_000, 90_000) });
        sim.run_to_convergence(10 * MINUTE).unwrap_or_else(|violation| panic!("{violation}"));

        let view = sim.state().cron_job(&key("report"), sim.now_ms()).expect("the cron job");
        let due: Vec<u64> = view.record.runs.iter().filter_map(|run| run.due_ms).collect();
        let minutes = sim.now_ms() / MINUTE;
        let expected: Vec<u64> = (1..=minutes).map(|m| m * MINUTE).collect();
        assert_eq!(due, expected, "seed {seed}: every minute fired once, in order");
        let ran = view.record.runs.iter().filter(|r| r.state != CronRunState::Skipped).count();
        let skipped = view.record.runs.len() - ran;
        assert!(ran > 0 && skipped > 0, "seed {seed}: runs {ran}, skipped {skipped}");
        assert!(
            view.record.runs.iter().all(|r| r.state != CronRunState::Missed),
            "seed {seed}: the scheduler never went down, so nothing is missed"
        );
    }
}

//! Cron under faults: a job fired every minute for virtual hours while hosts crash, restart and
//! are cut off, and messages are lost, fires each minute exactly once (run, or skipped by
//! CANCEL_NEW while the previous run is still going), never twice, and the cluster converges
//! with the store holding the state; and over a day and a half of virtual time across Paris'
//! spring change, under faults, jobs fire at exactly the times docs/cron.md promises.
//! `ATOLL_SIM_SEED=N` reruns one seed.

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

/// 2026-03-28T12:00:00Z: Paris puts its clocks forward at 02:00 the next night.
const BEFORE_PARIS_SPRING: u64 = 1_774_699_200_000;

#[test]
fn cron_over_virtual_days_follows_paris_across_its_spring_change() {
    for seed in seeds() {
        let mut config = SimConfig::new(seed);
        config.start_ms = BEFORE_PARIS_SPRING;
        // Slower heartbeats and ticks keep a day and a half of virtual time quick to run.
        config.heartbeat_ms = 5_000;
        config.housekeeping_ms = 1_000;
        config.state.agent_timeout_ms = 30_000;
        config.state.cron_default_zone = "Europe/Paris".into();
        config.state.cron_runs_kept = 1000;
        config.faults = FaultPlan {
            window_ms: (60 * MINUTE, 30 * 60 * MINUTE),
            crashes: 2,
            crash_return_per_mille: 1000,
            crash_down_ms: (60_000, 600_000),
            partitions: 3,
            partition_ms: (10_000, 120_000),
            losses: 20,
            ..FaultPlan::none()
        };
        let mut sim = Sim::new(config, scenario::hosts(3, 1));
        let mut nightly = job("nightly", 2, false, &[]);
        nightly.cron_schedule = Some("30 2 * * *".into());
        let mut hourly = job("hourly", 1, false, &[]);
        hourly.cron_schedule = Some("0 * * * *".into());
        let start = BEFORE_PARIS_SPRING;
        sim.submit(start + 1_000, nightly, Behaviour::Finish { after_ms: (60_000, 300_000) });
        sim.submit(start + 1_000, hourly, Behaviour::Finish { after_ms: (10_000, 120_000) });
        sim.run_until(start + 38 * 60 * MINUTE + 30 * MINUTE).unwrap_or_else(|violation| panic!("{violation}"));
        sim.run_to_convergence(30 * MINUTE).unwrap_or_else(|violation| panic!("{violation}"));

        let paris = atoll_cron::parse_zone("Europe/Paris").unwrap();
        let fired = |name: &str| -> Vec<(String, CronRunState)> {
            let view = sim.state().cron_job(&key(name), sim.now_ms()).expect("a cron job");
            view.record.runs.iter().map(|r| (atoll_cron::format_in(r.due_ms.unwrap(), paris), r.state)).collect()
        };
        // The night without 02:30 runs at 03:00, just after the gap; each run finished.
        assert_eq!(
            fired("nightly"),
            [
                ("2026-03-29T03:00:00+02:00".to_owned(), CronRunState::Finished),
                ("2026-03-30T02:30:00+02:00".to_owned(), CronRunState::Finished),
            ],
            "seed {seed}"
        );
        // Hourly: one fire each real hour, none at the 02:00 that does not exist.
        let hours = fired("hourly");
        let until = sim.now_ms();
        assert_eq!(hours.len() as u64, (until - start) / (60 * MINUTE), "seed {seed}: {hours:?}");
        assert!(hours.iter().all(|(at, _)| !at.starts_with("2026-03-29T02:")), "seed {seed}: {hours:?}");
        assert!(
            hours.iter().any(|(at, _)| at == "2026-03-29T01:00:00+01:00")
                && hours.iter().any(|(at, _)| at == "2026-03-29T03:00:00+02:00")
        );
    }
}

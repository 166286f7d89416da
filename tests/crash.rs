//! Crash loops, the short version CI runs (`benches/crash_loops.rs` runs 100 of each): a
//! scheduler killed with SIGKILL five times while four clients write, every acknowledged write
//! found after each restart and no job half there; two agents killed with SIGKILL five times
//! under running and finishing tasks, no task restarted and every task's states recorded once
//! each, in order. ATOLL_CRASH_SEED replays a seed.

use atoll_tests::atoll_binary;
use atoll_tests::crash_loops::{agent_crash_loops, scheduler_crash_loops};

fn seed() -> u64 {
    let seed = std::env::var("ATOLL_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("crash loops with ATOLL_CRASH_SEED={seed}");
    seed
}

#[test]
fn a_scheduler_killed_mid_write_keeps_every_acknowledged_write_and_nothing_half_written() {
    let report = scheduler_crash_loops(atoll_binary(), 5, seed());
    assert!(report.acknowledged_creates > 0 && report.checked > 0, "{report:?}");
}

#[test]
fn agents_killed_again_and_again_restart_no_task_and_report_each_state_once() {
    let report = agent_crash_loops(5, seed());
    assert_eq!((report.services_kept, report.batch_finished), (3, 6), "{report:?}");
}

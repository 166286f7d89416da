//! Benchmark (a long fault run): 100 scheduler crash loops (SIGKILL at a random point while
//! four clients write; every acknowledged write checked after each restart) and 100 agent
//! crash loops (both agents killed with SIGKILL under running and finishing tasks; no task
//! restarted, each state recorded once). Prints what was written, checked and found. The short
//! version runs in CI (`tests/crash.rs`).
//!
//! Run: `cargo bench -p atoll-tests --bench crash_loops` (ATOLL_CRASH_LOOPS changes the 100,
//! ATOLL_CRASH_SEED replays a seed).

use std::time::Instant;

use atoll_tests::crash_loops::{agent_crash_loops, scheduler_crash_loops};
use atoll_tests::{atoll_binary, use_release_binary};

fn main() {
    let loops: usize = std::env::var("ATOLL_CRASH_LOOPS").ok().and_then(|n| n.parse().ok()).unwrap_or(100);
    let seed: u64 = std::env::var("ATOLL_CRASH_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(20261201);
    use_release_binary();
    let atoll = atoll_binary();
    let started = Instant::now();
    let scheduler = scheduler_crash_loops(atoll, loops, seed);
    println!(
        "crash_loops: scheduler, {} loops in {:.0} s, seed {seed}: {} creates and {} kills acknowledged and found as acknowledged after each restart, {} writes unanswered at a crash (either outcome, never half), {} job checks",
        scheduler.loops,
        started.elapsed().as_secs_f64(),
        scheduler.acknowledged_creates,
        scheduler.acknowledged_kills,
        scheduler.unanswered,
        scheduler.checked
    );
    let started = Instant::now();
    let agents = agent_crash_loops(loops, seed);
    println!(
        "crash_loops: agents, {} loops in {:.0} s, seed {seed}: {} service tasks never restarted, {} batch tasks finished once each, {} ends found by a restarted agent ({} found again by a later start), each recorded once",
        agents.loops,
        started.elapsed().as_secs_f64(),
        agents.services_kept,
        agents.batch_finished,
        agents.ends_found_after_restart,
        agents.ends_found_again
    );
}

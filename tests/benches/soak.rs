//! Benchmark (a long run): `atoll dev --agents 2` under a churn of jobs (created, updated when
//! they exist, killed; half of them failing a few seconds after each start) for 30 minutes,
//! sampled every 30 s: the dev process's resident memory, file descriptors and threads, the
//! agents' sandboxes and the scheduler's data directory. Prints the curves as a table.
//!
//! Run: `cargo bench -p atoll-tests --bench soak` (ATOLL_SOAK_SECS changes the 1,800 s,
//! ATOLL_SOAK_EVERY_SECS the 30 s between samples).

use std::time::Duration;

use atoll_tests::soak::soak;
use atoll_tests::{atoll_binary, use_release_binary};

fn main() {
    let secs: u64 = std::env::var("ATOLL_SOAK_SECS").ok().and_then(|n| n.parse().ok()).unwrap_or(1800);
    let every: u64 = std::env::var("ATOLL_SOAK_EVERY_SECS").ok().and_then(|n| n.parse().ok()).unwrap_or(30);
    use_release_binary();
    let run = soak(atoll_binary(), Duration::from_secs(secs), Duration::from_secs(every), 20261201);
    println!(
        "soak: {secs} s of churn, {} creates, {} updates, {} kills; every {every} s:",
        run.creates, run.updates, run.kills
    );
    print!("{}", run.table());
}

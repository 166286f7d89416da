//! The soak's short version (`benches/soak.rs` runs 30 minutes): `atoll dev` under a churn of
//! creates, updates and kills for 60 s. Past the warm-up, file descriptors and threads stay
//! within a few of where they were, memory within a bound, and sandboxes within the agents'
//! retention count.

use std::time::Duration;

use atoll_tests::atoll_binary;
use atoll_tests::soak::soak;

#[test]
fn atoll_dev_under_churn_keeps_its_descriptors_threads_and_memory_flat() {
    let run = soak(atoll_binary(), Duration::from_secs(60), Duration::from_secs(5), 17);
    eprintln!("{}", run.table());
    assert!(run.creates > 10 && run.updates > 5 && run.kills > 5, "{run:?}");
    let warm = run.samples[2];
    let last = *run.samples.last().expect("samples");
    assert!(last.fds <= warm.fds + 16, "descriptors grew: {}", run.table());
    assert!(last.threads <= warm.threads + 8, "threads grew: {}", run.table());
    assert!(last.rss_kb <= warm.rss_kb + 64 * 1024, "memory grew by more than 64 MB: {}", run.table());
    // Two agents keep at most 100 finished sandboxes each, beside the live ones.
    assert!(last.sandboxes <= 2 * 100 + 32, "sandboxes: {}", run.table());
}

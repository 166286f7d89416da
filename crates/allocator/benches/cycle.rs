//! Benchmark: allocation cycle times on Mesos' own setups (its
//! `hierarchical_allocator_benchmarks.cpp` grid): agents × frameworks, one role per framework,
//! every agent free. The first cycle offers every agent; then every framework declines what it
//! was offered (with an hour's filter) and a second cycle offers each agent again, to a
//! framework that has not declined it: the filters are checked for every candidate. Mesos'
//! `DeclineOffers/21` (10,000 agents × 1,000 frameworks) took 1.06 s a cycle after its 2018
//! optimisations.
//!
//! Run: `cargo bench -p atoll-allocator --bench cycle`.

use std::time::Instant;

use atoll_allocator::{Allocator, Quantities};

fn main() {
    for (agents, frameworks) in [(1_000, 10), (1_000, 100), (10_000, 10), (10_000, 100), (10_000, 1_000)] {
        let mut allocator = Allocator::new();
        for n in 0..agents {
            allocator.add_agent(&format!("agent-{n}"), Quantities::cpus_mem(16.0, 65536.0));
        }
        for n in 0..frameworks {
            allocator.add_framework(&format!("framework-{n}"), &format!("role-{n}"), 1.0);
        }
        let started = Instant::now();
        let offers = allocator.allocate(0, 1);
        let first = started.elapsed();
        assert_eq!(offers.len(), agents, "every agent offered");
        for offer in &offers {
            allocator.decline(&offer.framework, offer.id, 3600.0, 1).expect("decline");
        }
        let started = Instant::now();
        let second = allocator.allocate(2, 2);
        let filtered = started.elapsed();
        println!(
            "cycle: {agents} agents × {frameworks} frameworks: {:.1} ms to offer every agent; after every decline, {:.1} ms to offer {} again",
            first.as_secs_f64() * 1000.0,
            filtered.as_secs_f64() * 1000.0,
            second.len()
        );
    }
}

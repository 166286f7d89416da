//! Scenarios at scale: 300 hosts in ten racks, 50 jobs of 20 instances (host and rack limits,
//! a zone exclusion, batch jobs, five jobs killed mid-run) under each kind of fault, several
//! seeds each, and a replay of one seed. Every run checks the invariants after every step and
//! must converge; a failure prints the seed (`ATOLL_SIM_SEED=N` reruns just that seed).

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::TaskState;
use atoll_sim::scenario::{self, Workload};
use atoll_sim::{FaultPlan, Sim, Stats, Strategy};

const HOSTS: usize = 300;
const KILL_AT_MS: u64 = 30_000;
/// How long after the last fault the cluster has to converge: an agent timeout (10 s), then a
/// rescheduled batch task's whole run (up to 40 s), with room for placement and starts.
const SETTLE_MS: u64 = 60_000;

/// The seeds to run: `ATOLL_SIM_SEED` alone when set, else `defaults`.
fn seeds(defaults: &[u64]) -> Vec<u64> {
    match std::env::var("ATOLL_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("ATOLL_SIM_SEED is a number")],
        Err(_) => defaults.to_vec(),
    }
}

/// Runs the mixed workload under `faults` until it converges, and checks the constraints.
fn converge(seed: u64, strategy: Strategy, faults: FaultPlan) -> (Sim, Stats) {
    let mut sim = scenario::cluster(seed, HOSTS, strategy, faults);
    let workload = scenario::mixed_workload(&mut sim, KILL_AT_MS);
    sim.run_to_convergence(SETTLE_MS).unwrap_or_else(|violation| panic!("{violation}"));
    assert_constraints_hold(&sim, &workload, seed);
    let stats = sim.stats();
    let settled_ms = sim.now_ms() - sim.quiet_ms();
    println!("seed {seed}: settled {settled_ms} ms after the last fault; {stats:?}");
    assert_eq!(stats.illegal_reports, 0, "seed {seed}: agents only ever report legal transitions");
    (sim, stats)
}

/// Every running instance sits where its job's constraints allow.
fn assert_constraints_hold(sim: &Sim, workload: &Workload, seed: u64) {
    for key in &workload.services {
        let mut hosts = BTreeSet::new();
        let mut racks: BTreeMap<String, u32> = BTreeMap::new();
        for task in sim.state().job_tasks(key, false) {
            assert_eq!(task.state, TaskState::Running, "seed {seed}: {}", task.id);
            let agent = task.assignment.as_ref().map(|a| &a.agent).expect("running tasks are placed");
            let attributes = &sim.agent(sim.agent_number(agent).expect("a simulated host")).spec.attributes.0;
            hosts.insert(agent.clone());
            *racks.entry(attributes["rack"].clone()).or_default() += 1;
            if key.name.starts_with("zoned") {
                assert_ne!(attributes["zone"], "z2", "seed {seed}: {} runs in the excluded zone", task.id);
            }
        }
        if key.name.starts_with("web") {
            assert_eq!(hosts.len(), 20, "seed {seed}: {key} has one instance per host");
        }
        if key.name.starts_with("spread") {
            assert_eq!(racks.values().copied().collect::<Vec<_>>(), vec![2; 10], "seed {seed}: {key} has two per rack");
        }
    }
}

#[test]
fn without_faults_everything_runs_once_where_it_may() {
    for seed in seeds(&[11]) {
        let (sim, stats) = converge(seed, Strategy::Binpack, FaultPlan::none());
        assert_eq!(
            (stats.registrations, stats.launches),
            (300, 1000),
            "seed {seed}: one registration per host, one launch per instance"
        );
        assert_eq!(
            (stats.lost_tasks, stats.rescheduled, stats.max_orphans, stats.messages_lost),
            (0, 0, 0, 0),
            "seed {seed}"
        );
        assert_eq!(stats.overcommitted_samples, 0, "seed {seed}");
        // Batch jobs end within 40 s of their start; nothing waits for a timeout.
        assert!(sim.now_ms() <= 60_000, "seed {seed}: converged only at {} ms", sim.now_ms());
    }
}

#[test]
fn crashed_hosts_lose_their_tasks_and_services_come_back_elsewhere() {
    for seed in seeds(&[21, 22, 23]) {
        let (_, stats) = converge(seed, Strategy::Spread, scenario::crashes());
        assert_eq!(stats.crashes, 15, "seed {seed}");
        assert!(stats.lost_tasks > 0 && stats.rescheduled > 0, "seed {seed}: {stats:?}");
        assert_eq!(
            (stats.max_orphans, stats.overcommitted_samples),
            (0, 0),
            "seed {seed}: a crash takes its tasks with it"
        );
    }
}

#[test]
fn restarted_agents_reconcile_with_or_without_their_tasks() {
    for seed in seeds(&[31, 32, 33]) {
        let (_, stats) = converge(seed, Strategy::Spread, scenario::restarts());
        assert!(stats.restarts >= 15, "seed {seed}: {stats:?}");
        assert!(stats.registrations >= HOSTS as u64 + stats.restarts, "seed {seed}: every restart registers again");
        assert_eq!(
            (stats.max_orphans, stats.overcommitted_samples),
            (0, 0),
            "seed {seed}: restarts are shorter than the agent timeout"
        );
    }
}

#[test]
fn lost_messages_break_sessions_but_never_lose_a_task() {
    for seed in seeds(&[41, 42, 43]) {
        let (_, stats) = converge(seed, Strategy::Spread, scenario::losses());
        assert!(stats.messages_lost >= 50, "seed {seed}: {stats:?}");
        assert!(stats.registrations > HOSTS as u64, "seed {seed}: broken sessions register again");
        assert_eq!(
            (stats.lost_tasks, stats.max_orphans),
            (0, 0),
            "seed {seed}: reconnecting takes far less than the agent timeout"
        );
    }
}

#[test]
fn partitions_past_the_timeout_reschedule_and_the_orphans_are_killed_after() {
    for seed in seeds(&[51, 52, 53]) {
        let (_, stats) = converge(seed, Strategy::Spread, scenario::partitions());
        assert_eq!(stats.partitions, 10, "seed {seed}");
        assert!(stats.lost_tasks > 0 && stats.rescheduled > 0, "seed {seed}: {stats:?}");
        // The old copies run on until their agent is back; none survives convergence.
        assert!(
            stats.max_duplicated_instances > 0 && stats.max_orphans >= stats.max_duplicated_instances,
            "seed {seed}: {stats:?}"
        );
        assert_eq!(stats.overcommitted_samples, 0, "seed {seed}: orphans hold their room until they end");
    }
}

#[test]
fn one_seed_replays_the_identical_trace() {
    let seed = seeds(&[61])[0];
    let run = |seed: u64, until_ms: Option<u64>| {
        let mut sim = scenario::cluster(seed, HOSTS, Strategy::Binpack, scenario::chaos());
        scenario::mixed_workload(&mut sim, KILL_AT_MS);
        match until_ms {
            Some(until_ms) => sim.run_until(until_ms).map(|()| until_ms),
            None => sim.run_to_convergence(SETTLE_MS),
        }
        .unwrap_or_else(|violation| panic!("{violation}"));
        (sim.trace_hash(), sim.stats())
    };
    let (first, second) = (run(seed, None), run(seed, None));
    assert_eq!(first, second, "seed {seed}: the same seed gives the same trace and counts");
    assert!(first.1.steps > 50_000 && first.1.crashes > 0 && first.1.partitions > 0, "{:?}", first.1);
    let other = run(seed + 1, Some(20_000));
    assert_ne!(run(seed, Some(20_000)).0, other.0, "another seed, another trace");
}

//! Rolling updates under faults: a service updated while hosts crash or are cut off and
//! messages are lost, one host is drained and a
//! preferred job preempts its way in ends ROLLED_FORWARD or ROLLED_BACK, never stuck, and the
//! cluster converges with every instance on the update's outcome; a new config that fails is
//! rolled back. Each run checks the simulator's invariants after every step, over several seeds
//! (`ATOLL_SIM_SEED=N` reruns one).

use atoll_model::{ConfigId, JobSpec, TaskState, UpdateState};
use atoll_sim::scenario::{self, job, key};
use atoll_sim::{Behaviour, FaultPlan, Sim, SimConfig, Strategy};

const HOSTS: usize = 24;
const UPDATE_AT_MS: u64 = 20_000;

fn seeds(defaults: &[u64]) -> Vec<u64> {
    match std::env::var("ATOLL_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("ATOLL_SIM_SEED is a number")],
        Err(_) => defaults.to_vec(),
    }
}

/// A full cluster: a big preemptible batch task on every host (each finishing after 40 to
/// 80 s), beside one instance of `web` each on 16 of the 24 hosts, with crashes drawn from the
/// seed during the update.
fn busy_cluster(seed: u64, crashes: FaultPlan) -> Sim {
    let mut config = SimConfig::new(seed);
    config.state.policy.strategy = Strategy::Spread;
    config.state.preemption_delay_ms = 5_000;
    config.state.update_stuck_timeout_ms = 60_000;
    // The preferred job's role has no quota; quota is not what these runs are about.
    config.state.production_needs_quota = false;
    config.faults = crashes;
    let mut sim = Sim::new(config, scenario::hosts(HOSTS, 6));
    let mut filler = job("filler", HOSTS as u32, false, &[("host", "limit:1")]);
    filler.config.task.resources.cpu = 3.25;
    sim.submit(0, filler, Behaviour::Finish { after_ms: (40_000, 80_000) });
    sim.submit(500, web("v1"), Behaviour::Serve);
    sim
}

/// The service being updated: 16 instances, one per host, in batches of 4 watched for 5 s.
fn web(version: &str) -> JobSpec {
    let mut spec = job("web", 16, true, &[("host", "limit:1")]);
    spec.config.task.processes[0].cmdline = format!("serve {version} --port {{{{thermos.ports[http]}}}}");
    spec.update_config.batch_size = 4;
    spec.update_config.watch_secs = 5;
    spec.update_config.max_per_shard_failures = 1;
    spec.update_config.max_total_failures = 3;
    spec
}

/// Crashes, partitions and lost messages while the update runs.
fn crashes() -> FaultPlan {
    FaultPlan {
        window_ms: (UPDATE_AT_MS, UPDATE_AT_MS + 40_000),
        crashes: 3,
        crash_return_per_mille: 500,
        crash_down_ms: (5_000, 20_000),
        partitions: 2,
        partition_ms: (5_000, 20_000),
        losses: 10,
        ..FaultPlan::none()
    }
}

/// Runs to convergence; returns how the update ended.
fn settle(sim: &mut Sim) -> UpdateState {
    sim.run_to_convergence(180_000).unwrap_or_else(|violation| panic!("{violation}"));
    let update = sim.state().latest_update(&key("web")).expect("the update");
    assert!(update.state.is_terminal(), "{:?}", update.state);
    update.state
}

/// The config id every instance of `web` runs, if they all run one.
fn web_config(sim: &Sim) -> Option<ConfigId> {
    let tasks = sim.state().job_tasks(&key("web"), false);
    assert!(tasks.iter().all(|t| t.state == TaskState::Running), "every instance runs");
    let first = tasks.first()?.config.id();
    tasks.iter().all(|t| t.config.id() == first).then_some(first)
}

#[test]
fn an_update_under_crashes_a_drain_and_preemption_ends_rolled_forward_or_back() {
    for seed in seeds(&[71, 72, 73, 74]) {
        let mut sim = busy_cluster(seed, crashes());
        sim.update(UPDATE_AT_MS, web("v2"), Behaviour::Serve);
        sim.drain(UPDATE_AT_MS + 8_000, 5);
        // A preferred job with no room: it preempts fillers (and perhaps update replacements).
        let mut vip = job("vip", 3, true, &[]);
        vip.config.tier = Some("preferred".into());
        vip.config.task.resources.cpu = 1.0;
        sim.submit(UPDATE_AT_MS + 2_000, vip, Behaviour::Serve);
        let outcome = settle(&mut sim);
        let stats = sim.stats();
        println!("seed {seed}: {outcome}; {stats:?}");
        assert!(matches!(outcome, UpdateState::RolledForward | UpdateState::RolledBack), "seed {seed}: {outcome}");
        let expected = if outcome == UpdateState::RolledForward { web("v2") } else { web("v1") };
        assert_eq!(web_config(&sim), Some(ConfigId::of(&expected.config)), "seed {seed}: one config, the outcome's");
        assert!(stats.crashes > 0, "seed {seed}: {stats:?}");
        let preempted = sim
            .state()
            .job_tasks(&key("filler"), true)
            .iter()
            .any(|t| t.events.iter().any(|e| e.state == TaskState::Preempting));
        assert!(preempted, "seed {seed}: the preferred job preempted its way in");
        let on_drained = sim
            .state()
            .job_tasks(&key("web"), false)
            .into_iter()
            .filter(|t| t.assignment.as_ref().is_some_and(|a| a.agent.0 == sim.agent(5).spec.id.0));
        assert_eq!(on_drained.count(), 0, "seed {seed}: nothing of web on the drained host");
    }
}

#[test]
fn a_new_config_that_fails_is_rolled_back_under_crashes() {
    for seed in seeds(&[81, 82, 83]) {
        let mut sim = busy_cluster(seed, crashes());
        sim.update(UPDATE_AT_MS, web("v2"), Behaviour::Fail { after_ms: (1_000, 3_000) });
        let outcome = settle(&mut sim);
        assert_eq!(outcome, UpdateState::RolledBack, "seed {seed}");
        assert_eq!(web_config(&sim), Some(ConfigId::of(&web("v1").config)), "seed {seed}: back on v1 everywhere");
    }
}

//! A deterministic simulator of an Atoll cluster, after neon's `desim`: the real state machine
//! (`atoll-state`, and through it the placement core) driven by fake agents over a virtual
//! network on a virtual clock, with faults drawn from a seed.
//!
//! Nothing here reads a clock, does I/O, spawns a thread or draws real randomness: a run is a
//! function of its [`SimConfig`] (seed included), its agents and the jobs submitted, and the
//! hash of its event trace ([`Sim::trace_hash`]) proves it. A broken invariant comes back as a
//! [`Violation`] naming the seed, so the failing run replays exactly.
//!
//! - [`agent`]: fake agents speaking the real agent's protocol, with scripted task behaviour;
//! - [`net`]: ordered links with seeded delays, lost messages and partitions;
//! - [`faults`]: crashes, restarts, lost messages and partitions, drawn from the seed;
//! - [`invariants`] and [`views`]: what is checked, after every step and at the end;
//! - [`scenario`]: the clusters and workloads the tests run.
//!
//! See `docs/simulator.md` for the model, the invariants and how to replay a seed.

pub mod agent;
pub mod faults;
pub mod invariants;
pub mod net;
mod queue;
pub mod rng;
pub mod scenario;
mod sim;
pub mod trace;
pub mod views;

use std::fmt;

use atoll_state::StateConfig;

pub use agent::{AgentSpec, Behaviour, TaskTiming};
pub use atoll_placement::Strategy;
pub use faults::{Fault, FaultPlan};
pub use sim::Sim;

/// Everything a run depends on besides its agents and jobs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    /// The virtual clock's start, in ms since the epoch (0 by default): a calendar date for
    /// runs that must cross one, such as cron over a daylight-saving change.
    pub start_ms: u64,
    /// The state machine's timeouts and policy.
    pub state: StateConfig,
    /// How often agents heartbeat (the server tells them; 1 s by default).
    pub heartbeat_ms: u64,
    /// How often the scheduler runs housekeeping (`tick`); placement runs on demand.
    pub housekeeping_ms: u64,
    /// The one-way delay of each message, drawn from this range.
    pub latency_ms: (u64, u64),
    pub timing: TaskTiming,
    pub faults: FaultPlan,
    /// How long after a job is killed nothing of it may still run.
    pub kill_bound_ms: u64,
    /// How long an orphan may outlive its agent becoming reachable.
    pub orphan_bound_ms: u64,
}

impl SimConfig {
    /// The server's defaults (heartbeats every second, housekeeping every 250 ms, agents lost
    /// after 10 s), a LAN's delays, no faults.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            start_ms: 0,
            state: StateConfig::new(scenario::CLUSTER),
            heartbeat_ms: 1_000,
            housekeeping_ms: 250,
            latency_ms: (1, 20),
            timing: TaskTiming { starting_ms: (20, 200), running_ms: (100, 1_500), kill_ms: (50, 2_000) },
            faults: FaultPlan::none(),
            kill_bound_ms: 60_000,
            orphan_bound_ms: 30_000,
        }
    }
}

/// What happened in a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Steps recorded in the trace.
    pub steps: u64,
    pub messages: u64,
    pub messages_lost: u64,
    pub registrations: u64,
    pub launches: u64,
    pub kills: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub partitions: u64,
    /// Tasks that went LOST, and tasks created to replace an ended one.
    pub lost_tasks: u64,
    pub rescheduled: u64,
    /// Status reports the state machine refused as illegal transitions (counted, ignored).
    pub illegal_reports: u64,
    /// The most orphans (tasks agents run that the scheduler does not count there) seen at once.
    pub max_orphans: u64,
    /// The most job instances seen running on two agents at once.
    pub max_duplicated_instances: u64,
    /// Housekeeping ticks times hosts whose real tasks exceeded what they offer.
    pub overcommitted_samples: u64,
    /// When the cluster converged after the faults ended.
    pub converged_at_ms: Option<u64>,
}

/// A broken invariant, with the seed that replays it.
#[derive(Clone, Debug)]
pub struct Violation {
    pub seed: u64,
    pub at_ms: u64,
    pub invariant: &'static str,
    pub detail: String,
    /// The last steps before it, oldest first.
    pub recent: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invariant '{}' broken at {} ms with seed {}: {}",
            self.invariant, self.at_ms, self.seed, self.detail
        )?;
        writeln!(f, "replay: ATOLL_SIM_SEED={} cargo test -p atoll-sim -- NAME_OF_THE_FAILING_TEST", self.seed)?;
        writeln!(f, "last steps:")?;
        for line in &self.recent {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

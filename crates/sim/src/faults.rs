//! Seeded faults: how many of each kind a run suffers, drawn at random times within a window
//! and on random agents, all from the run's seed.

use crate::rng::Rng;

/// One fault, on agent number `agent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The host dies with its tasks; with `down_for_ms` it comes back empty after that long.
    Crash { agent: usize, down_for_ms: Option<u64> },
    /// The agent process restarts after `down_for_ms`, its tasks surviving if `keep_tasks`.
    Restart { agent: usize, keep_tasks: bool, down_for_ms: u64 },
    /// The next message to the agent (`up` false) or from it is lost, and the session with it.
    Lose { agent: usize, up: bool },
    /// Messages either way are held back for `for_ms`.
    Partition { agent: usize, for_ms: u64 },
}

impl Fault {
    pub fn agent(&self) -> usize {
        match *self {
            Fault::Crash { agent, .. }
            | Fault::Restart { agent, .. }
            | Fault::Lose { agent, .. }
            | Fault::Partition { agent, .. } => agent,
        }
    }

    /// When the fault is over, if it starts at `at_ms`: a host that never comes back is over
    /// at once (it is simply gone).
    pub fn over_at(&self, at_ms: u64) -> u64 {
        match *self {
            Fault::Crash { down_for_ms, .. } => at_ms + down_for_ms.unwrap_or(0),
            Fault::Restart { down_for_ms, .. } => at_ms + down_for_ms,
            Fault::Lose { .. } => at_ms,
            Fault::Partition { for_ms, .. } => at_ms + for_ms,
        }
    }
}

/// The faults of a run. Every count is of faults started within `window_ms`, counted from the
/// run's start (`SimConfig::start_ms`).
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    pub window_ms: (u64, u64),
    /// Hosts that crash, each a different one.
    pub crashes: u32,
    /// The chance, in thousandths, that a crashed host comes back (empty).
    pub crash_return_per_mille: u64,
    pub crash_down_ms: (u64, u64),
    pub restarts: u32,
    /// The chance, in thousandths, that a restarted agent's tasks survive it.
    pub restart_keep_per_mille: u64,
    pub restart_down_ms: (u64, u64),
    pub losses: u32,
    pub partitions: u32,
    pub partition_ms: (u64, u64),
}

impl FaultPlan {
    /// No faults at all.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// Draws the faults for a cluster of `agents` agents, in time order.
    pub fn draw(&self, agents: usize, rng: &mut Rng) -> Vec<(u64, Fault)> {
        let mut faults = Vec::new();
        if agents == 0 {
            return faults;
        }
        let n = agents as u64;
        let mut crashed: Vec<usize> = Vec::new();
        for _ in 0..self.crashes.min(agents as u32) {
            let mut agent = rng.below(n) as usize;
            while crashed.contains(&agent) {
                agent = (agent + 1) % agents;
            }
            crashed.push(agent);
            let down_for_ms = rng.chance(self.crash_return_per_mille).then(|| rng.between(self.crash_down_ms));
            faults.push((rng.between(self.window_ms), Fault::Crash { agent, down_for_ms }));
        }
        for _ in 0..self.restarts {
            let (agent, keep_tasks) = (rng.below(n) as usize, rng.chance(self.restart_keep_per_mille));
            let down_for_ms = rng.between(self.restart_down_ms);
            faults.push((rng.between(self.window_ms), Fault::Restart { agent, keep_tasks, down_for_ms }));
        }
        for _ in 0..self.losses {
            let (agent, up) = (rng.below(n) as usize, rng.chance(500));
            faults.push((rng.between(self.window_ms), Fault::Lose { agent, up }));
        }
        for _ in 0..self.partitions {
            let (agent, for_ms) = (rng.below(n) as usize, rng.between(self.partition_ms));
            faults.push((rng.between(self.window_ms), Fault::Partition { agent, for_ms }));
        }
        faults.sort_by_key(|(at, fault)| (*at, fault.agent()));
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_what_the_plan_asks_within_its_window() {
        let plan = FaultPlan {
            window_ms: (1_000, 2_000),
            crashes: 5,
            crash_return_per_mille: 1000,
            crash_down_ms: (10, 20),
            restarts: 3,
            restart_down_ms: (1, 2),
            losses: 4,
            partitions: 2,
            partition_ms: (100, 100),
            ..FaultPlan::none()
        };
        let faults = plan.draw(6, &mut Rng::new(9));
        assert_eq!(faults.len(), 14);
        assert!(faults.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(faults.iter().all(|(at, f)| (1_000..=2_000).contains(at) && f.agent() < 6));
        let mut crashed: Vec<usize> =
            faults.iter().filter(|(_, f)| matches!(f, Fault::Crash { .. })).map(|(_, f)| f.agent()).collect();
        crashed.sort();
        crashed.dedup();
        assert_eq!(crashed.len(), 5, "every crash is on a different host");
        assert!(faults.iter().all(|(at, f)| f.over_at(*at) <= 2_100));
        assert_eq!(plan.draw(6, &mut Rng::new(9)), faults);
    }
}

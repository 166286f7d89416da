//! Sampling, after Nomad's limit iterator: a task walks the eligible agents in an order derived
//! from its job and instance (a hash, not a random draw) and stops after `limit` feasible candidates,
//! `max(2, ceil(log2(N)))` for services and 2 for batch jobs, so the cost of a placement grows
//! like log(N) rather than N while different tasks still start at different agents.

use std::cmp::Reverse;

use atoll_model::{JobKey, TaskId};

use crate::scoring::Score;

/// Candidates a batch task compares (Nomad's power of two choices).
const BATCH_CANDIDATES: usize = 2;

/// How many feasible agents a task compares in a cluster of `agents`.
pub(crate) fn candidate_limit(agents: usize, service: bool) -> usize {
    if !service {
        return BATCH_CANDIDATES;
    }
    let ceil_log2 = usize::BITS - agents.saturating_sub(1).leading_zeros();
    (ceil_log2 as usize).max(BATCH_CANDIDATES)
}

/// The order in which a task visits a list of eligible agents: from `start`, `stride` places at
/// a time (wrapping round), with `stride` coprime to the length so every agent is visited once.
/// Both come from a hash of the job key and instance, so instances start at different agents, a
/// run of full agents with neighbouring ids does not lengthen every walk, and a task's walk does
/// not depend on when it was created (a plan and the update after it walk alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Walk {
    start: usize,
    stride: usize,
}

impl Walk {
    /// The walk of `instance` of `job` over `len` eligible agents: FNV-1a of
    /// `ROLE-ENV-NAME-INSTANCE` picks start and stride.
    pub(crate) fn of(job: &JobKey, instance: u32, len: usize) -> Walk {
        const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let name = TaskId::new(job, instance, "");
        let hash = name.0.bytes().fold(OFFSET_BASIS, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
        if len < 2 {
            return Walk { start: 0, stride: 1 };
        }
        let start = (hash % len as u64) as usize;
        let mut stride = 1 + ((hash >> 32) % (len as u64 - 1)) as usize;
        while gcd(stride, len) != 1 {
            stride += 1;
        }
        Walk { start, stride }
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The outcome of looking for a task's agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    /// The best candidate's agent index, if any agent was feasible.
    pub(crate) best: Option<usize>,
    /// Agents looked at, feasible or not.
    pub(crate) examined: u64,
    /// Feasible agents scored.
    pub(crate) scored: u64,
}

/// Walks `eligible` (agent indexes) and returns the best of the first `limit` agents `score`
/// finds feasible (`None` means infeasible). Equal scores go to the lower index, which is the
/// lower agent id.
pub(crate) fn best_of(
    eligible: &[u32],
    walk: Walk,
    limit: usize,
    mut score: impl FnMut(usize) -> Option<Score>,
) -> Sample {
    let mut sample = Sample { best: None, examined: 0, scored: 0 };
    let mut best: Option<(Score, Reverse<usize>)> = None;
    let mut position = walk.start;
    for _ in 0..eligible.len() {
        let agent = eligible[position] as usize;
        position += walk.stride;
        if position >= eligible.len() {
            position -= eligible.len();
        }
        sample.examined += 1;
        let Some(s) = score(agent) else { continue };
        sample.scored += 1;
        let candidate = (s, Reverse(agent));
        if best.is_none_or(|b| candidate > b) {
            best = Some(candidate);
        }
        if sample.scored as usize >= limit {
            break;
        }
    }
    sample.best = best.map(|(_, Reverse(agent))| agent);
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_nomad() {
        let cases = [(0, 2), (1, 2), (2, 2), (4, 2), (5, 3), (1000, 10), (5000, 13), (10_000, 14)];
        for (agents, limit) in cases {
            assert_eq!(candidate_limit(agents, true), limit, "{agents} agents");
            assert_eq!(candidate_limit(agents, false), 2, "batch, {agents} agents");
        }
    }

    #[test]
    fn the_walk_wraps_round_and_stops_at_the_limit() {
        let eligible: Vec<u32> = (0..10).collect();
        let mut seen = Vec::new();
        let sample = best_of(&eligible, Walk { start: 7, stride: 3 }, 4, |agent| {
            seen.push(agent);
            (agent % 2 == 0).then_some(Score { not_scheduled_for_maintenance: true, fit: agent as u64 })
        });
        assert_eq!(seen, vec![7, 0, 3, 6, 9, 2, 5, 8], "stops at the fourth feasible agent");
        assert_eq!(sample, Sample { best: Some(8), examined: 8, scored: 4 });
        let tie = best_of(&eligible, Walk { start: 5, stride: 1 }, 3, |_| {
            Some(Score { not_scheduled_for_maintenance: true, fit: 1 })
        });
        assert_eq!(tie, Sample { best: Some(5), examined: 3, scored: 3 }, "ties go to the lowest agent seen");
    }

    #[test]
    fn every_walk_visits_every_agent_once() {
        for len in [0, 1, 2, 12, 97, 1000] {
            let job: JobKey = "devcluster/www-data/prod/web".parse().expect("key parses");
            for instance in 0..20 {
                let walk = Walk::of(&job, instance, len);
                assert_eq!(walk, Walk::of(&job, instance, len), "stable");
                let eligible: Vec<u32> = (0..len as u32).collect();
                let mut seen = Vec::new();
                best_of(&eligible, walk, usize::MAX, |agent| {
                    seen.push(agent);
                    None
                });
                seen.sort_unstable();
                assert_eq!(seen, (0..len).collect::<Vec<_>>(), "{len} agents, {walk:?}");
            }
        }
    }
}

//! The event trace: every step the simulator takes, folded into a 64-bit FNV-1a hash (two runs
//! with one seed must end with one hash), with the last few steps kept to explain a failure.

use std::collections::VecDeque;
use std::fmt;

use atoll_model::TaskId;

/// How many recent steps a failure report shows.
const KEPT: usize = 40;

/// One step: what happened, when, to which agent and task, with one number of detail (a
/// session, a state, a count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub at_ms: u64,
    pub what: &'static str,
    pub agent: Option<usize>,
    pub task: Option<TaskId>,
    pub detail: u64,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>8} ms] {}", self.at_ms, self.what)?;
        if let Some(agent) = self.agent {
            write!(f, " agent#{agent}")?;
        }
        if let Some(task) = &self.task {
            write!(f, " {task}")?;
        }
        write!(f, " ({})", self.detail)
    }
}

/// The running hash of every mark, and the last few marks.
#[derive(Clone, Debug)]
pub struct Trace {
    hash: u64,
    steps: u64,
    recent: VecDeque<Mark>,
}

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

impl Default for Trace {
    fn default() -> Trace {
        Trace { hash: FNV_OFFSET, steps: 0, recent: VecDeque::with_capacity(KEPT) }
    }
}

impl Trace {
    pub fn record(&mut self, mark: Mark) {
        self.feed(&mark.at_ms.to_le_bytes());
        self.feed(mark.what.as_bytes());
        self.feed(&mark.agent.map_or(u64::MAX, |a| a as u64).to_le_bytes());
        if let Some(task) = &mark.task {
            self.feed(task.0.as_bytes());
        }
        self.feed(&mark.detail.to_le_bytes());
        self.steps += 1;
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(mark);
    }

    fn feed(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.hash ^= u64::from(*byte);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") hash apart.
        self.hash = (self.hash ^ 0xFF).wrapping_mul(FNV_PRIME);
    }

    /// The hash of every step so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// How many steps were recorded.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The last steps, oldest first, one per line.
    pub fn recent(&self) -> Vec<String> {
        self.recent.iter().map(Mark::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(at_ms: u64, what: &'static str) -> Mark {
        Mark { at_ms, what, agent: Some(1), task: None, detail: 0 }
    }

    #[test]
    fn equal_steps_hash_equal_and_order_matters() {
        let (mut a, mut b, mut c) = (Trace::default(), Trace::default(), Trace::default());
        for t in [&mut a, &mut b] {
            t.record(mark(1, "x"));
            t.record(mark(2, "y"));
        }
        c.record(mark(2, "y"));
        c.record(mark(1, "x"));
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.steps(), 2);
    }

    #[test]
    fn keeps_only_the_latest_steps() {
        let mut trace = Trace::default();
        for at in 0..100 {
            trace.record(mark(at, "tick"));
        }
        let recent = trace.recent();
        assert_eq!(recent.len(), KEPT);
        assert!(recent[KEPT - 1].contains("      99 ms] tick agent#1"), "{}", recent[KEPT - 1]);
    }
}

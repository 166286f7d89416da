//! Group commit: changes are written to the store in order under the state lock, which is then
//! released, and made durable by one flush for all the changes written meanwhile. Nothing leaves
//! the scheduler before it is durable: each change's answer, its commands to agents, its events
//! and its wish for a placement round wait for the flush that covers it, and are let go in the
//! order the changes were made.
//!
//! A flush that fails (a full disk) leaves the store in a state nothing can be trusted after
//! (sled refuses every later write, and some of the batch may have reached the disk): every
//! change not yet durable fails, nothing of them is let go, and the scheduler stops, to be
//! started again once the disk is well; sled then recovers what was durable.
//!
//! This module is the bookkeeping (sequence numbers, what waits, whether a flush is under way);
//! `core.rs` does the writing, the flushing and the letting go.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use atoll_model::event::ClusterEvent;
use atoll_state::Effect;

/// What one change lets go once it is durable.
#[derive(Debug, Default)]
pub(crate) struct Release {
    pub(crate) effects: Vec<Effect>,
    pub(crate) events: Vec<ClusterEvent>,
    pub(crate) placement_wanted: bool,
    pub(crate) allocation_wanted: bool,
}

/// A change's place in line: it is durable once the flushed sequence reaches `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(crate) seq: u64,
    /// This change must start the flusher: it wrote, and no flush is under way.
    pub(crate) start_flushing: bool,
}

/// Where a change stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    Durable,
    Waiting,
    /// A flush failed with this before the change was durable: the store takes nothing more.
    Failed(String),
}

#[derive(Debug, Default)]
struct Line {
    /// The sequence number of the last write.
    written: u64,
    /// Every write up to this one is durable.
    durable: u64,
    flushing: bool,
    /// Set once a flush failed: every change not durable by then failed with it, and so does
    /// every later one.
    failure: Option<String>,
    /// Releases not yet let go, in order, each with its sequence number.
    waiting: VecDeque<(u64, Release)>,
}

/// The line of changes waiting to be durable.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    line: Mutex<Line>,
}

impl GroupCommit {
    fn line(&self) -> MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a change's release, under the state lock so that the order is the state's. A
    /// change that `wrote` takes the next sequence number; one that did not is durable with the
    /// last write (its commands must still follow those before it).
    pub(crate) fn enqueue(&self, wrote: bool, release: Release) -> Ticket {
        let mut line = self.line();
        if wrote {
            line.written += 1;
        }
        let seq = line.written;
        line.waiting.push_back((seq, release));
        let start_flushing = seq > line.durable && !line.flushing;
        if start_flushing {
            line.flushing = true;
        }
        Ticket { seq, start_flushing }
    }

    /// What the next flush will cover.
    pub(crate) fn flush_target(&self) -> u64 {
        self.line().written
    }

    /// Records a flush of everything up to `target`; answers whether another flush is wanted
    /// (more was written meanwhile). When none is, the flusher stops, and the next write
    /// starts it again.
    pub(crate) fn flushed(&self, target: u64) -> bool {
        let mut line = self.line();
        line.durable = line.durable.max(target);
        let again = line.written > line.durable;
        line.flushing = again;
        again
    }

    /// Records a failed flush: what waits is dropped, never let go, and every change not yet
    /// durable, and any later one, stands failed with `error`.
    pub(crate) fn failed(&self, error: String) {
        let mut line = self.line();
        line.failure = Some(error);
        line.waiting.clear();
        line.flushing = false;
    }

    /// Why the store takes no more changes, if it does not.
    pub(crate) fn failure(&self) -> Option<String> {
        self.line().failure.clone()
    }

    /// The releases that are durable now, in order; taken out of the line.
    pub(crate) fn take_durable(&self) -> Vec<Release> {
        let mut line = self.line();
        let durable = line.durable;
        let mut ready = Vec::new();
        while line.waiting.front().is_some_and(|(seq, _)| *seq <= durable) {
            if let Some((_, release)) = line.waiting.pop_front() {
                ready.push(release);
            }
        }
        ready
    }

    pub(crate) fn standing(&self, seq: u64) -> Standing {
        let line = self.line();
        match &line.failure {
            _ if line.durable >= seq => Standing::Durable,
            Some(error) => Standing::Failed(error.clone()),
            None => Standing::Waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> Release {
        Release::default()
    }

    #[test]
    fn one_flush_covers_every_change_written_while_another_was_under_way() {
        let commits = GroupCommit::default();
        let first = commits.enqueue(true, release());
        assert_eq!(first, Ticket { seq: 1, start_flushing: true });
        assert_eq!(commits.flush_target(), 1);
        // Written while the first flush runs: they wait for the next one, which nobody else starts.
        let second = commits.enqueue(true, release());
        let third = commits.enqueue(true, release());
        assert!(!second.start_flushing && !third.start_flushing);
        assert!(commits.flushed(1), "more was written: flush again");
        assert_eq!(commits.take_durable().len(), 1);
        assert_eq!(commits.standing(2), Standing::Waiting);
        assert_eq!(commits.flush_target(), 3);
        assert!(!commits.flushed(3), "all durable: the flusher stops");
        assert_eq!(commits.take_durable().len(), 2, "both in one flush");
        assert_eq!(commits.standing(3), Standing::Durable);
        assert!(commits.enqueue(true, release()).start_flushing, "the next write starts it again");
    }

    #[test]
    fn a_change_that_wrote_nothing_waits_behind_the_writes_before_it() {
        let commits = GroupCommit::default();
        let nothing = commits.enqueue(false, release());
        assert_eq!(nothing, Ticket { seq: 0, start_flushing: false });
        assert_eq!(commits.take_durable().len(), 1, "nothing before it: let go at once");
        commits.enqueue(true, release());
        let behind = commits.enqueue(false, release());
        assert_eq!(behind.seq, 1, "durable with the write before it");
        assert!(commits.take_durable().is_empty(), "not before that write is flushed");
        commits.flushed(1);
        assert_eq!(commits.take_durable().len(), 2);
    }

    #[test]
    fn a_failed_flush_fails_every_change_not_yet_durable_and_lets_nothing_go() {
        let commits = GroupCommit::default();
        commits.enqueue(true, release());
        commits.flushed(1);
        commits.take_durable();
        commits.enqueue(true, release());
        commits.failed("No space left on device".into());
        assert_eq!(commits.standing(1), Standing::Durable, "what was durable stays so");
        assert_eq!(commits.standing(2), Standing::Failed("No space left on device".into()));
        assert!(commits.take_durable().is_empty(), "nothing let go");
        assert_eq!(commits.failure().as_deref(), Some("No space left on device"));
    }
}

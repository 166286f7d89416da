//! Group commit: changes are written to the store in order under the state lock, which is then
//! released, and made durable by one flush for all the changes written meanwhile. Nothing leaves
//! the scheduler before it is durable: each change's answer, its commands to agents, its events
//! and its wish for a placement round wait for the flush that covers it, and are let go in the
//! order the changes were made.
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
    /// Not yet; the last flush failed with this, if it did.
    Waiting(Option<String>),
}

#[derive(Debug, Default)]
struct Line {
    /// The sequence number of the last write.
    written: u64,
    /// Every write up to this one is durable.
    durable: u64,
    flushing: bool,
    last_error: Option<String>,
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

    /// Records a flush of everything up to `target`, or its failure; answers whether another
    /// flush is wanted (more was written meanwhile, or this one failed). When none is, the
    /// flusher stops, and the next write starts it again.
    pub(crate) fn flushed(&self, target: u64, failure: Option<String>) -> bool {
        let mut line = self.line();
        match failure {
            None => {
                line.durable = line.durable.max(target);
                line.last_error = None;
            }
            Some(error) => line.last_error = Some(error),
        }
        let again = line.written > line.durable;
        line.flushing = again;
        again
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
        if line.durable >= seq { Standing::Durable } else { Standing::Waiting(line.last_error.clone()) }
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
        assert!(commits.flushed(1, None), "more was written: flush again");
        assert_eq!(commits.take_durable().len(), 1);
        assert_eq!(commits.standing(2), Standing::Waiting(None));
        assert_eq!(commits.flush_target(), 3);
        assert!(!commits.flushed(3, None), "all durable: the flusher stops");
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
        commits.flushed(1, None);
        assert_eq!(commits.take_durable().len(), 2);
    }

    #[test]
    fn a_failed_flush_keeps_its_changes_waiting_and_says_why_until_one_succeeds() {
        let commits = GroupCommit::default();
        commits.enqueue(true, release());
        assert!(commits.flushed(1, Some("No space left on device".into())), "try again");
        assert_eq!(commits.standing(1), Standing::Waiting(Some("No space left on device".into())));
        assert!(commits.take_durable().is_empty(), "nothing let go");
        assert!(!commits.flushed(1, None));
        assert_eq!(commits.standing(1), Standing::Durable);
        assert_eq!(commits.take_durable().len(), 1);
    }
}

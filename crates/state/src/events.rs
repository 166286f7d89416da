//! The event journal: every task state change, job change, update and cron event the state
//! machine makes, numbered in order, the newest [`EVENTS_KEPT`] of them kept in memory and in
//! the store (older ones are dropped as new ones come), so a consumer can resume from an index
//! across a scheduler's restarts.
//!
//! Events are recorded where the state changes (a task's transition, a job's creation, an
//! update's new state, a cron run's) and leave with the outcome's [`Changes`](crate::Changes),
//! so an event is durable exactly when the change it describes is.

use std::collections::VecDeque;

use atoll_model::JobKey;
use atoll_model::event::{ClusterEvent, EventDetail, EventFilter};

/// How many of the newest events are kept.
pub const EVENTS_KEPT: usize = 10_000;

/// The newest events, and the ones recorded since the last outcome.
#[derive(Clone, Debug)]
pub(crate) struct EventJournal {
    recent: VecDeque<ClusterEvent>,
    next_index: u64,
    /// Recorded since the last outcome, to be stored.
    written: Vec<ClusterEvent>,
    /// Dropped from `recent` since the last outcome, to be removed from the store.
    dropped: Vec<u64>,
}

/// What the journal hands the store with an outcome.
pub(crate) struct JournalChanges {
    pub(crate) written: Vec<ClusterEvent>,
    pub(crate) dropped: Vec<u64>,
    pub(crate) next_index: u64,
}

impl EventJournal {
    /// The journal a store kept: its events (any order) and the next index.
    pub(crate) fn restore(mut events: Vec<ClusterEvent>, next_index: u64) -> EventJournal {
        events.sort_by_key(|e| e.index);
        let after_last = events.last().map_or(1, |e| e.index + 1);
        let mut journal = EventJournal {
            recent: events.into(),
            next_index: next_index.max(after_last),
            written: Vec::new(),
            dropped: Vec::new(),
        };
        journal.trim();
        journal.dropped.clear();
        journal
    }

    pub(crate) fn record(&mut self, job: &JobKey, at_ms: u64, detail: EventDetail) {
        let event = ClusterEvent { index: self.next_index, at_ms, job: job.clone(), detail };
        self.next_index += 1;
        self.written.push(event.clone());
        self.recent.push_back(event);
        self.trim();
    }

    fn trim(&mut self) {
        while self.recent.len() > EVENTS_KEPT {
            if let Some(old) = self.recent.pop_front() {
                self.dropped.push(old.index);
            }
        }
    }

    pub(crate) fn take_changes(&mut self) -> JournalChanges {
        // An event recorded and dropped within one outcome is still written (and removed in the
        // same commit), so that it reaches the subscribers, which see every written event.
        JournalChanges {
            written: std::mem::take(&mut self.written),
            dropped: std::mem::take(&mut self.dropped),
            next_index: self.next_index,
        }
    }

    /// The kept events at or after `from` that `filter` takes, oldest first.
    pub(crate) fn since(&self, from: u64, filter: &EventFilter) -> Vec<ClusterEvent> {
        let start = self.recent.partition_point(|e| e.index < from);
        self.recent.range(start..).filter(|e| filter.matches(e)).cloned().collect()
    }

    /// The index the next event will have.
    pub(crate) fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The oldest event kept, if any.
    pub(crate) fn oldest_index(&self) -> Option<u64> {
        self.recent.front().map(|e| e.index)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &ClusterEvent> {
        self.recent.iter()
    }
}

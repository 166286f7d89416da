//! The driver's bookkeeping of task status updates: which to hand to the framework, which to
//! acknowledge, and which to pass over. The scheduler sends an update again until it is
//! acknowledged (at every resubscription and every 10 s while subscribed), so the same update,
//! known by its uuid, can arrive more than once; a framework should see it once per
//! subscription, and a copy of one already acknowledged is acknowledged again, in case the
//! first acknowledgement was lost, without troubling the framework.

use std::collections::{HashSet, VecDeque};

/// What to do with an update that arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Hand it to the framework (new, or a reconciliation answer, which carries no uuid).
    Deliver,
    /// Already handled: acknowledge it again, and do not hand it over.
    Reacknowledge,
    /// Handed over in this subscription and not yet acknowledged by the framework (explicit
    /// acknowledgements): pass it over.
    AwaitingAcknowledgement,
}

/// Updates by uuid: those handed over and awaiting acknowledgement, and the most recent ones
/// handled (acknowledged, or given up on after a failed implicit acknowledgement).
#[derive(Debug)]
pub(crate) struct UpdateLedger {
    awaiting: HashSet<String>,
    handled: HashSet<String>,
    /// `handled` in the order they were added, to forget the oldest past `capacity`.
    handled_order: VecDeque<String>,
    capacity: usize,
}

impl UpdateLedger {
    /// A ledger remembering up to `capacity` handled updates.
    pub(crate) fn new(capacity: usize) -> UpdateLedger {
        UpdateLedger {
            awaiting: HashSet::new(),
            handled: HashSet::new(),
            handled_order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// An update with `uuid` arrived.
    pub(crate) fn receive(&mut self, uuid: &str) -> Delivery {
        if uuid.is_empty() {
            Delivery::Deliver
        } else if self.handled.contains(uuid) {
            Delivery::Reacknowledge
        } else if !self.awaiting.insert(uuid.to_owned()) {
            Delivery::AwaitingAcknowledgement
        } else {
            Delivery::Deliver
        }
    }

    /// The update with `uuid` was acknowledged, or should be acknowledged again rather than
    /// handed over if it comes back.
    pub(crate) fn handled(&mut self, uuid: &str) {
        self.awaiting.remove(uuid);
        if self.handled.insert(uuid.to_owned()) {
            self.handled_order.push_back(uuid.to_owned());
            while self.handled_order.len() > self.capacity {
                if let Some(oldest) = self.handled_order.pop_front() {
                    self.handled.remove(&oldest);
                }
            }
        }
    }

    /// The framework's acknowledgement of `uuid` failed: hand the update over again when the
    /// scheduler sends it again, so the framework gets another chance to acknowledge it.
    pub(crate) fn acknowledgement_failed(&mut self, uuid: &str) {
        self.awaiting.remove(uuid);
    }

    /// A new subscription began: the scheduler sends every unacknowledged update again, and
    /// each is handed over again.
    pub(crate) fn resubscribed(&mut self) {
        self.awaiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_is_handed_over_once_and_a_copy_after_its_acknowledgement_is_acknowledged_again() {
        let mut ledger = UpdateLedger::new(16);
        assert_eq!(ledger.receive("u1"), Delivery::Deliver);
        assert_eq!(ledger.receive("u1"), Delivery::AwaitingAcknowledgement, "a resend before the ack");
        ledger.handled("u1");
        assert_eq!(ledger.receive("u1"), Delivery::Reacknowledge, "a resend that crossed the ack");
        assert_eq!(ledger.receive("u2"), Delivery::Deliver, "another update");
    }

    #[test]
    fn reconciliation_answers_are_always_handed_over() {
        let mut ledger = UpdateLedger::new(16);
        assert_eq!(ledger.receive(""), Delivery::Deliver);
        assert_eq!(ledger.receive(""), Delivery::Deliver);
        ledger.resubscribed();
        assert_eq!(ledger.receive(""), Delivery::Deliver);
    }

    #[test]
    fn a_resubscription_hands_over_again_what_still_awaits_acknowledgement() {
        let mut ledger = UpdateLedger::new(16);
        assert_eq!(ledger.receive("u1"), Delivery::Deliver);
        assert_eq!(ledger.receive("u2"), Delivery::Deliver);
        ledger.handled("u2");
        ledger.resubscribed();
        assert_eq!(ledger.receive("u1"), Delivery::Deliver, "unacknowledged: handed over again");
        assert_eq!(ledger.receive("u2"), Delivery::Reacknowledge, "acknowledged: not again");
    }

    #[test]
    fn a_failed_acknowledgement_hands_the_next_copy_over_again() {
        let mut ledger = UpdateLedger::new(16);
        assert_eq!(ledger.receive("u1"), Delivery::Deliver);
        ledger.acknowledgement_failed("u1");
        assert_eq!(ledger.receive("u1"), Delivery::Deliver);
    }

    #[test]
    fn only_the_newest_handled_updates_are_remembered() {
        let mut ledger = UpdateLedger::new(2);
        for uuid in ["a", "b", "c"] {
            assert_eq!(ledger.receive(uuid), Delivery::Deliver);
            ledger.handled(uuid);
        }
        ledger.handled("c");
        assert_eq!(ledger.receive("b"), Delivery::Reacknowledge);
        assert_eq!(ledger.receive("c"), Delivery::Reacknowledge);
        assert_eq!(ledger.receive("a"), Delivery::Deliver, "the oldest was forgotten");
    }
}

//! The virtual clock's agenda: events ordered by due time, then by the order they were
//! scheduled, so that simultaneous events always run in one order.

use std::collections::BTreeMap;

/// Events waiting for their virtual time.
#[derive(Debug)]
pub struct Agenda<E> {
    due: BTreeMap<(u64, u64), E>,
    next_seq: u64,
}

impl<E> Default for Agenda<E> {
    fn default() -> Agenda<E> {
        Agenda { due: BTreeMap::new(), next_seq: 0 }
    }
}

impl<E> Agenda<E> {
    /// Schedules `event` at `at_ms`, after every event already due then.
    pub fn push(&mut self, at_ms: u64, event: E) {
        self.due.insert((at_ms, self.next_seq), event);
        self.next_seq += 1;
    }

    /// Takes the earliest event due at or before `until_ms`.
    pub fn pop_until(&mut self, until_ms: u64) -> Option<(u64, E)> {
        let entry = self.due.first_entry()?;
        if entry.key().0 > until_ms {
            return None;
        }
        let ((at_ms, _), event) = entry.remove_entry();
        Some((at_ms, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_by_insertion() {
        let mut agenda = Agenda::default();
        agenda.push(5, "late");
        agenda.push(1, "first");
        agenda.push(1, "second");
        assert_eq!(agenda.pop_until(0), None);
        assert_eq!(agenda.pop_until(10), Some((1, "first")));
        assert_eq!(agenda.pop_until(10), Some((1, "second")));
        assert_eq!(agenda.pop_until(4), None);
        assert_eq!(agenda.pop_until(5), Some((5, "late")));
        assert_eq!(agenda.pop_until(u64::MAX), None);
    }
}

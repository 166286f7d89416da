//! A map of durable records that remembers every key changed since its changes were last
//! taken. Reading goes through [`Deref`] to the map; every way to change it records the key,
//! so nothing durable can change without reaching the store.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

/// Durable records by key, with the keys changed since [`Tracked::take_changes`].
#[derive(Clone, Debug)]
pub(crate) struct Tracked<K, V> {
    records: BTreeMap<K, V>,
    changed: BTreeSet<K>,
    /// Records taken out by [`Tracked::lend`], as they were.
    lent: BTreeMap<K, V>,
}

/// What changed in a [`Tracked`] map: the records now present, and the keys now absent.
pub(crate) struct TrackedChanges<K, V> {
    pub put: Vec<(K, V)>,
    pub deleted: Vec<K>,
}

impl<K: Ord + Clone, V: Clone> Tracked<K, V> {
    /// `records` as stored: nothing changed yet.
    pub fn stored(records: impl IntoIterator<Item = (K, V)>) -> Tracked<K, V> {
        Tracked { records: records.into_iter().collect(), changed: BTreeSet::new(), lent: BTreeMap::new() }
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.changed.insert(key.clone());
        self.records.insert(key, value)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let removed = self.records.remove(key)?;
        self.changed.insert(key.clone());
        Some(removed)
    }

    /// The record under `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let record = self.records.get_mut(key)?;
        if !self.changed.contains(key) {
            self.changed.insert(key.clone());
        }
        Some(record)
    }

    /// Every change since the last call. A key put and removed in between is reported
    /// deleted, which a store takes as deleting nothing.
    pub fn take_changes(&mut self) -> TrackedChanges<K, V> {
        debug_assert!(self.lent.is_empty(), "a lent record was never given back");
        let mut changes = TrackedChanges { put: Vec::new(), deleted: Vec::new() };
        for key in std::mem::take(&mut self.changed) {
            match self.records.get(&key) {
                Some(record) => changes.put.push((key, record.clone())),
                None => changes.deleted.push(key),
            }
        }
        changes
    }
}

impl<K: Ord + Clone, V: Clone + PartialEq> Tracked<K, V> {
    /// Takes the record under `key` out, to change it while the rest of the state changes
    /// too (what is lent is not there meanwhile); [`Tracked::give_back`] puts it back.
    pub fn lend(&mut self, key: &K) -> Option<V> {
        let record = self.records.remove(key)?;
        self.lent.insert(key.clone(), record.clone());
        Some(record)
    }

    /// Puts back a record [`Tracked::lend`] took out, recording it only if it changed.
    pub fn give_back(&mut self, key: K, record: V) {
        if self.lent.remove(&key).as_ref() != Some(&record) {
            self.changed.insert(key.clone());
        }
        self.records.insert(key, record);
    }
}

impl<K, V> Deref for Tracked<K, V> {
    type Target = BTreeMap<K, V>;

    fn deref(&self) -> &BTreeMap<K, V> {
        &self.records
    }
}

impl<K, V> TrackedChanges<K, V> {
    /// The records put, without their keys.
    pub fn values(self) -> (Vec<V>, Vec<K>) {
        (self.put.into_iter().map(|(_, v)| v).collect(), self.deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_of_changing_a_record_is_reported_once() {
        let mut map = Tracked::stored([(1, "one"), (2, "two"), (3, "three")]);
        assert!(map.clone().take_changes().put.is_empty(), "stored records are not changes");
        map.insert(4, "four");
        *map.get_mut(&1).unwrap() = "uno";
        map.get_mut(&1).unwrap();
        map.remove(&2);
        assert!(map.remove(&9).is_none());
        assert!(map.get_mut(&9).is_none());
        let changes = map.take_changes();
        assert_eq!(changes.put, vec![(1, "uno"), (4, "four")]);
        assert_eq!(changes.deleted, vec![2]);
        let again = map.take_changes();
        assert!(again.put.is_empty() && again.deleted.is_empty(), "taken");
        assert_eq!(map.len(), 3, "reads see the records");
    }

    #[test]
    fn a_lent_record_is_recorded_only_if_it_comes_back_changed() {
        let mut map = Tracked::stored([(1, "one"), (2, "two")]);
        let one = map.lend(&1).unwrap();
        assert!(!map.contains_key(&1), "not there while lent");
        map.give_back(1, one);
        let two = map.lend(&2).unwrap();
        map.give_back(2, if two == "two" { "deux" } else { two });
        let changes = map.take_changes();
        assert_eq!((changes.put, changes.deleted), (vec![(2, "deux")], vec![]));
    }
}

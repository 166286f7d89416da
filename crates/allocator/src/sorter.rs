//! Weighted, hierarchical DRF, as Mesos' `DRFSorter`: a client's share is the dominant share
//! of what it holds over the cluster's total, divided by its weight (1 by default). Clients
//! are paths (`a`, `b/c`); siblings are compared by the share of their whole subtree, so a
//! role's frameworks together count against it; a node that is a client and has children is
//! compared as one more child, holding its own allocation. Ties: fewer allocations ever made
//! first (a count unallocation does not lower), then the name.

use std::collections::BTreeMap;

use crate::Quantities;

#[derive(Clone, Debug)]
struct Node {
    weight: f64,
    is_client: bool,
    /// What this node holds itself (not its children).
    allocated: Quantities,
    allocations: u64,
}

impl Default for Node {
    fn default() -> Node {
        Node { weight: 1.0, is_client: false, allocated: Quantities::ZERO, allocations: 0 }
    }
}

/// Clients ordered by weighted dominant share.
#[derive(Clone, Debug, Default)]
pub struct DrfSorter {
    total: Quantities,
    nodes: BTreeMap<String, Node>,
}

/// A node's subtree as one sibling is compared with another.
struct Standing<'a> {
    share: f64,
    allocations: u64,
    name: &'a str,
}

impl DrfSorter {
    pub fn new(total: Quantities) -> DrfSorter {
        DrfSorter { total, nodes: BTreeMap::new() }
    }

    pub fn set_total(&mut self, total: Quantities) {
        self.total = total;
    }

    /// Adds `client` (and, as plain nodes, its ancestors).
    pub fn add(&mut self, client: &str) {
        let mut path = String::new();
        for part in client.split('/') {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(part);
            self.nodes.entry(path.clone()).or_default();
        }
        if let Some(node) = self.nodes.get_mut(client) {
            node.is_client = true;
        }
    }

    /// Removes `client` with what it holds; ancestors left with nothing below them go too.
    pub fn remove(&mut self, client: &str) {
        if let Some(node) = self.nodes.get_mut(client) {
            node.is_client = false;
            node.allocated = Quantities::ZERO;
        }
        let mut path = client.to_owned();
        loop {
            let has_children =
                self.nodes.range(format!("{path}/")..).next().is_some_and(|(k, _)| k.starts_with(&format!("{path}/")));
            let keep = has_children || self.nodes.get(&path).is_some_and(|n| n.is_client || n.weight != 1.0);
            if !keep {
                self.nodes.remove(&path);
            }
            match path.rsplit_once('/') {
                Some((parent, _)) => path = parent.to_owned(),
                None => break,
            }
        }
    }

    /// Gives `path` (a client or any node) a weight; shares are divided by it.
    pub fn set_weight(&mut self, path: &str, weight: f64) {
        if !self.nodes.contains_key(path) {
            self.add(path);
            if let Some(node) = self.nodes.get_mut(path) {
                node.is_client = false;
            }
        }
        if let Some(node) = self.nodes.get_mut(path) {
            node.weight = weight;
        }
    }

    pub fn allocate(&mut self, client: &str, quantities: Quantities) {
        if let Some(node) = self.nodes.get_mut(client) {
            node.allocated = node.allocated.plus(quantities);
            node.allocations += 1;
        }
    }

    pub fn unallocate(&mut self, client: &str, quantities: Quantities) {
        if let Some(node) = self.nodes.get_mut(client) {
            node.allocated = node.allocated.minus(quantities);
        }
    }

    /// What `client` holds itself.
    pub fn allocation(&self, client: &str) -> Quantities {
        self.nodes.get(client).map_or(Quantities::ZERO, |n| n.allocated)
    }

    /// `client`'s weighted dominant share of what it and everything below it hold.
    pub fn share(&self, path: &str) -> f64 {
        let weight = self.nodes.get(path).map_or(1.0, |n| n.weight);
        self.subtree(path).0.dominant_share(self.total) / weight
    }

    /// What `path` and everything below it hold, and the allocations made to them.
    fn subtree(&self, path: &str) -> (Quantities, u64) {
        let prefix = format!("{path}/");
        let own = self.nodes.get(path).map_or((Quantities::ZERO, 0), |n| (n.allocated, n.allocations));
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .fold(own, |(q, c), (_, n)| (q.plus(n.allocated), c + n.allocations))
    }

    /// Every client, lowest weighted share first. One pass sums each subtree, bottom up; then
    /// the tree is walked, each node's children in order.
    pub fn sort(&self) -> Vec<String> {
        let mut held: BTreeMap<&str, (Quantities, u64)> =
            self.nodes.iter().map(|(k, n)| (k.as_str(), (n.allocated, n.allocations))).collect();
        let mut deepest_first: Vec<&str> = self.nodes.keys().map(String::as_str).collect();
        deepest_first.sort_by_key(|k| std::cmp::Reverse(k.matches('/').count()));
        let mut children: BTreeMap<Option<&str>, Vec<&str>> = BTreeMap::new();
        for key in deepest_first {
            let parent = key.rsplit_once('/').map(|(parent, _)| parent);
            children.entry(parent).or_default().push(key);
            if let Some(parent) = parent {
                let (q, c) = held[key];
                if let Some((pq, pc)) = held.get_mut(parent) {
                    *pq = pq.plus(q);
                    *pc += c;
                }
            }
        }
        let mut out = Vec::new();
        self.walk(None, &children, &held, &mut out);
        out
    }

    /// Appends the clients at and below the children of `parent` (the top for `None`), in order.
    fn walk(
        &self,
        parent: Option<&str>,
        children: &BTreeMap<Option<&str>, Vec<&str>>,
        held: &BTreeMap<&str, (Quantities, u64)>,
        out: &mut Vec<String>,
    ) {
        let mut standings: Vec<(Standing<'_>, bool)> = children
            .get(&parent)
            .into_iter()
            .flatten()
            .map(|child| {
                let (q, allocations) = held[child];
                let weight = self.nodes.get(*child).map_or(1.0, |n| n.weight);
                (Standing { share: q.dominant_share(self.total) / weight, allocations, name: child }, false)
            })
            .collect();
        // A node that is a client and also has children competes as one more child, with
        // what it holds itself.
        if let Some(parent) = parent
            && let Some(node) = self.nodes.get(parent).filter(|n| n.is_client)
        {
            let share = node.allocated.dominant_share(self.total) / node.weight;
            standings.push((Standing { share, allocations: node.allocations, name: parent }, true));
        }
        standings.sort_by(|(a, _), (b, _)| {
            a.share.total_cmp(&b.share).then(a.allocations.cmp(&b.allocations)).then(a.name.cmp(b.name))
        });
        for (standing, itself) in standings {
            let has_children = children.contains_key(&Some(standing.name));
            if itself || !has_children {
                if itself || self.nodes.get(standing.name).is_some_and(|n| n.is_client) {
                    out.push(standing.name.to_owned());
                }
            } else {
                self.walk(Some(standing.name), children, held, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(cpus: f64, mem: f64) -> Quantities {
        Quantities::cpus_mem(cpus, mem)
    }

    fn sorter(clients: &[(&str, f64, f64)]) -> DrfSorter {
        let mut sorter = DrfSorter::new(q(100.0, 100.0));
        for (name, cpus, mem) in clients {
            sorter.add(name);
            sorter.allocate(name, q(*cpus, *mem));
        }
        sorter
    }

    /// Mesos' `DRFSorterTest.DRF` (sorter_tests.cpp).
    #[test]
    fn mesos_drf_sorter_vectors() {
        let mut s = sorter(&[("a", 5.0, 5.0), ("b", 6.0, 6.0)]);
        assert_eq!(s.sort(), ["a", "b"]);
        for (name, cpus, mem) in [("c", 1.0, 1.0), ("d", 3.0, 1.0)] {
            s.add(name);
            s.allocate(name, q(cpus, mem));
        }
        assert_eq!(s.sort(), ["c", "d", "a", "b"]);
        s.remove("a");
        s.unallocate("b", q(4.0, 4.0));
        assert_eq!(s.sort(), ["c", "b", "d"]);
        s.add("e");
        s.allocate("e", q(1.0, 5.0));
        s.set_total(q(50.0, 100.0));
        assert_eq!(s.sort(), ["c", "b", "e", "d"]);
        s.set_total(q(50.0, 200.0));
        s.add("f");
        s.allocate("f", q(5.0, 1.0));
        s.allocate("c", q(0.0, 15.0));
        assert_eq!(s.sort(), ["e", "b", "d", "c", "f"]);
    }

    /// `DRFSorterTest.WDRF`.
    #[test]
    fn weights_divide_shares() {
        let mut s = sorter(&[("a", 5.0, 5.0)]);
        s.add("b");
        s.set_weight("b", 2.0);
        s.allocate("b", q(6.0, 6.0));
        assert_eq!(s.sort(), ["b", "a"]);
        s.add("c");
        s.allocate("c", q(4.0, 4.0));
        assert_eq!(s.sort(), ["b", "c", "a"]);
        s.add("d");
        s.set_weight("d", 10.0);
        s.allocate("d", q(10.0, 20.0));
        assert_eq!(s.sort(), ["d", "b", "c", "a"]);
        s.remove("b");
        assert_eq!(s.sort(), ["d", "c", "a"]);
        s.allocate("d", q(10.0, 25.0));
        assert_eq!(s.sort(), ["c", "d", "a"]);
        s.add("e");
        s.set_weight("e", 0.1);
        s.allocate("e", q(1.0, 1.0));
        assert_eq!(s.sort(), ["c", "d", "a", "e"]);
    }

    /// `DRFSorterTest.UpdateWeight` and `AllocationCountTieBreak`.
    #[test]
    fn a_weight_change_reorders_and_ties_go_to_fewer_allocations() {
        let mut s = sorter(&[("a", 5.0, 5.0), ("b", 6.0, 6.0)]);
        assert_eq!(s.sort(), ["a", "b"]);
        s.set_weight("b", 2.0);
        assert_eq!(s.sort(), ["b", "a"]);

        let mut s = DrfSorter::new(q(100.0, 100.0));
        for name in ["a", "b", "c", "d", "e"] {
            s.add(name);
        }
        s.allocate("a", q(3.0, 3.0));
        s.allocate("b", q(3.0, 3.0));
        for _ in 0..3 {
            s.allocate("c", q(1.0, 1.0));
        }
        s.allocate("d", q(1.0, 1.0));
        s.allocate("d", q(2.0, 2.0));
        s.allocate("e", q(3.0, 3.0));
        assert_eq!(s.sort(), ["a", "b", "e", "d", "c"]);
        s.unallocate("c", q(3.0, 3.0));
        assert_eq!(s.sort()[0], "c", "nothing held: first, whatever its count");
    }

    /// `DRFSorterTest.HierarchicalAllocation`.
    #[test]
    fn siblings_are_compared_by_their_whole_subtree() {
        let mut s = sorter(&[("a", 6.0, 6.0)]);
        s.add("b/c");
        s.add("b/d");
        assert_eq!(s.sort(), ["b/c", "b/d", "a"]);
        s.allocate("b/c", q(4.0, 4.0));
        s.allocate("b/d", q(3.0, 3.0));
        assert_eq!(s.sort(), ["a", "b/d", "b/c"]);
        s.allocate("a", q(2.0, 2.0));
        assert_eq!(s.sort(), ["b/d", "b/c", "a"]);
        s.add("b/e/f");
        s.allocate("b/e/f", q(3.5, 3.5));
        assert_eq!(s.sort(), ["a", "b/d", "b/e/f", "b/c"]);
    }
}

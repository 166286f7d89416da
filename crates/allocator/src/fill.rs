//! DRF's progressive filling (Ghodsi et al., NSDI 2011): each client runs tasks of one fixed
//! demand; the client with the lowest weighted dominant share whose next task still fits gets
//! it, until no client's task fits.

use std::collections::BTreeMap;

use crate::{DrfSorter, Quantities};

/// How many tasks each of `clients` (name, weight, one task's demand) runs in `total`.
pub(crate) fn progressive_fill(total: Quantities, clients: &[(&str, f64, Quantities)]) -> BTreeMap<String, u32> {
    let mut sorter = DrfSorter::new(total);
    for (name, weight, _) in clients {
        sorter.add(name);
        sorter.set_weight(name, *weight);
    }
    let demand: BTreeMap<&str, Quantities> = clients.iter().map(|(name, _, d)| (*name, *d)).collect();
    let mut free = total;
    let mut tasks: BTreeMap<String, u32> = clients.iter().map(|(name, _, _)| ((*name).to_owned(), 0)).collect();
    loop {
        let next = sorter
            .sort()
            .into_iter()
            .find(|client| demand.get(client.as_str()).is_some_and(|d| !d.is_zero() && d.fits_in(free)));
        let Some(client) = next else { return tasks };
        let one = demand[client.as_str()];
        free = free.minus(one);
        sorter.allocate(&client, one);
        *tasks.entry(client).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DRF paper's example: ⟨9 CPU, 18 GB⟩; A's tasks ⟨1 CPU, 4 GB⟩, B's ⟨3 CPU, 1 GB⟩.
    /// A runs 3 tasks and B 2, both at a dominant share of 2/3; the CPUs are used up.
    #[test]
    fn the_drf_papers_example() {
        let total = Quantities::cpus_mem(9.0, 18.0);
        let tasks = progressive_fill(
            total,
            &[("A", 1.0, Quantities::cpus_mem(1.0, 4.0)), ("B", 1.0, Quantities::cpus_mem(3.0, 1.0))],
        );
        assert_eq!(tasks, BTreeMap::from([("A".to_owned(), 3), ("B".to_owned(), 2)]));
        let a = Quantities::cpus_mem(3.0, 12.0).dominant_share(total);
        let b = Quantities::cpus_mem(6.0, 2.0).dominant_share(total);
        assert!((a - 2.0 / 3.0).abs() < 1e-12 && (b - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_weight_of_two_gets_twice_the_dominant_share() {
        let total = Quantities::cpus_mem(30.0, 30.0);
        let one = Quantities::cpus_mem(1.0, 1.0);
        let tasks = progressive_fill(total, &[("heavy", 2.0, one), ("light", 1.0, one)]);
        assert_eq!(tasks, BTreeMap::from([("heavy".to_owned(), 20), ("light".to_owned(), 10)]));
    }
}

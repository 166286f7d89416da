//! The resource manager's allocator (issue 15's first part): who gets the cluster's resources,
//! as Mesos decides it, apart from where a job's task goes (`atoll-placement`).
//!
//! - [`Quantities`]: the scalar resources shares are taken over (cpus, memory, disk, GPUs).
//! - [`DrfSorter`]: weighted, hierarchical dominant resource fairness: clients (`role`,
//!   `role/framework`, `eng/frontend`) ordered by their dominant share over their weight,
//!   siblings by their subtrees, ties by the allocations they have had, then by name.
//! - `fill` (tests only): DRF's progressive filling of tasks of fixed demands, the model the
//!   paper's worked example is checked against.
//! - [`Allocator`]: the allocation cycle: each agent's free resources offered whole to the
//!   framework furthest below its fair share (roles first, then frameworks within the role),
//!   agents in a seeded shuffled order, skipping suppressed frameworks and those whose decline
//!   filter covers what the agent has, roles below a quota guarantee first; accept, decline
//!   (with `refuse_seconds`), rescind and recover give resources back.
//!
//! Invariant: pure and deterministic. No I/O, no clock (times are arguments), randomness only
//! from the seed a cycle is given; it depends on nothing but std.

mod cycle;
#[cfg(test)]
mod fill;
mod quantities;
mod sorter;

pub use cycle::{Allocator, DEFAULT_REFUSE_SECONDS, FrameworkId, Offer, OfferError};
pub use quantities::Quantities;
pub use sorter::DrfSorter;

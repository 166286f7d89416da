//! The allocation cycle, as Mesos' hierarchical allocator runs it: every agent's free
//! resources go, whole, as one offer to one framework: the roles in DRF order, then that
//! role's frameworks in theirs, the first that is not suppressed and has no decline filter
//! covering what the agent has. Agents are visited in an order shuffled by the cycle's seed,
//! so no agent is always first. Offered resources count as allocated to the framework (and
//! its role) until they are declined, rescinded, or used and then recovered.
//!
//! Quota guarantees, as Mesos' (up to 1.8): a role below its guarantee is served first (stage
//! one), and the other roles get an agent only if what stays free still covers every
//! guarantee not yet met (stage two): resources are laid away for a guaranteed role even while
//! it declines them.

use std::collections::BTreeMap;

use crate::{DrfSorter, Quantities};

/// Mesos' default: resources declined (or left unused by an accept) are not offered to the
/// same framework again for 5 s.
pub const DEFAULT_REFUSE_SECONDS: f64 = 5.0;

/// An offer below this is not made (Mesos' `MIN_CPUS` and `MIN_MEM`: one or the other).
const MIN_CPUS: f64 = 0.01;
const MIN_MEM_MB: f64 = 32.0;

pub type FrameworkId = String;

/// Resources of one agent offered to one framework.
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    pub id: u64,
    pub framework: FrameworkId,
    pub agent: String,
    pub resources: Quantities,
}

/// Why an offer operation was refused; it changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfferError {
    /// No such offer outstanding: never made, already used, declined or rescinded.
    Unknown { offer: u64 },
    /// The offer is another framework's.
    NotYours { offer: u64, framework: FrameworkId },
    /// An accept asked for more than the offers hold.
    TooMuch { offer: u64 },
    /// One accept named offers of more than one agent.
    ManyAgents { offers: Vec<u64> },
    /// An accept named no offer.
    NoOffers,
    /// An accept named an offer more than once.
    Repeated { offer: u64 },
}

impl std::fmt::Display for OfferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OfferError::Unknown { offer } => {
                write!(f, "offer {offer} is not outstanding: it was used, declined or rescinded; wait for new offers")
            }
            OfferError::NotYours { offer, framework } => {
                write!(f, "offer {offer} was not made to framework {framework}")
            }
            OfferError::TooMuch { offer } => write!(f, "the tasks ask for more than offer {offer} holds"),
            OfferError::ManyAgents { offers } => write!(
                f,
                "offers {} are of different agents; accept the offers of one agent at a time",
                offers.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
            OfferError::NoOffers => write!(f, "no offer named; accept names the offers its tasks use"),
            OfferError::Repeated { offer } => write!(f, "offer {offer} is named twice"),
        }
    }
}

impl std::error::Error for OfferError {}

#[derive(Clone, Debug)]
struct Agent {
    total: Quantities,
    /// Offered or used.
    allocated: Quantities,
}

/// Who uses resources on an agent outside of offers: a framework's tasks, or anything else the
/// caller accounts (tasks no framework owns).
type Owner = String;

#[derive(Clone, Debug)]
struct Framework {
    role: String,
    suppressed: bool,
    /// Per agent: resources declined, hidden until the time (ms) they expire.
    filters: BTreeMap<String, (Quantities, u64)>,
}

/// The allocator's books: agents, frameworks by role, outstanding offers, and the sorters.
#[derive(Clone, Debug, Default)]
pub struct Allocator {
    agents: BTreeMap<String, Agent>,
    frameworks: BTreeMap<FrameworkId, Framework>,
    roles: DrfSorter,
    /// Each role's frameworks, in their own DRF order.
    within_role: BTreeMap<String, DrfSorter>,
    offers: BTreeMap<u64, Offer>,
    next_offer: u64,
    /// The least each role is promised.
    guarantees: BTreeMap<String, Quantities>,
    /// What each owner's tasks use on each agent, as the caller last said
    /// ([`Allocator::set_used`]).
    used: BTreeMap<(Owner, String), Quantities>,
}

impl Allocator {
    pub fn new() -> Allocator {
        Allocator::default()
    }

    fn total(&self) -> Quantities {
        self.agents.values().fold(Quantities::ZERO, |sum, a| sum.plus(a.total))
    }

    fn retotal(&mut self) {
        let total = self.total();
        self.roles.set_total(total);
        for sorter in self.within_role.values_mut() {
            sorter.set_total(total);
        }
    }

    /// Adds an agent, or sets the total of one known (what is allocated on it stays).
    pub fn add_agent(&mut self, agent: &str, total: Quantities) {
        match self.agents.get_mut(agent) {
            Some(known) if known.total == total => return,
            Some(known) => known.total = total,
            None => {
                self.agents.insert(agent.to_owned(), Agent { total, allocated: Quantities::ZERO });
            }
        }
        self.retotal();
    }

    /// Removes an agent; its outstanding offers are rescinded (returned), and what was used
    /// there is forgotten.
    pub fn remove_agent(&mut self, agent: &str) -> Vec<Offer> {
        let gone: Vec<u64> = self.offers.values().filter(|o| o.agent == agent).map(|o| o.id).collect();
        let rescinded = gone.into_iter().filter_map(|id| self.take_back(id)).collect();
        let owners: Vec<Owner> = self.used.keys().filter(|(_, a)| a == agent).map(|(o, _)| o.clone()).collect();
        for owner in owners {
            self.set_used(&owner, agent, Quantities::ZERO);
        }
        self.agents.remove(agent);
        self.retotal();
        rescinded
    }

    /// The agents known.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.agents.keys().map(String::as_str)
    }

    /// Says what `owner`'s tasks use on `agent` now: a framework's allocation (and its role's)
    /// is its offers plus this; an owner that is no framework only takes room on the agent.
    pub fn set_used(&mut self, owner: &str, agent: &str, used: Quantities) {
        let key = (owner.to_owned(), agent.to_owned());
        let before = self.used.get(&key).copied().unwrap_or(Quantities::ZERO);
        if before == used {
            return;
        }
        self.release(owner, agent, before);
        if used.is_zero() {
            self.used.remove(&key);
        } else if self.agents.contains_key(agent) {
            self.charge(owner, agent, used);
            self.used.insert(key, used);
        }
    }

    /// What `owner`'s tasks use on `agent`, as last said.
    pub fn used(&self, owner: &str, agent: &str) -> Quantities {
        self.used.get(&(owner.to_owned(), agent.to_owned())).copied().unwrap_or(Quantities::ZERO)
    }

    /// Adds a framework in `role` with the role's `weight`. What it already uses (a framework
    /// known before, its tasks said with [`Allocator::set_used`]) counts for it from now on.
    pub fn add_framework(&mut self, framework: &str, role: &str, weight: f64) {
        if self.frameworks.contains_key(framework) {
            return;
        }
        self.frameworks.insert(
            framework.to_owned(),
            Framework { role: role.to_owned(), suppressed: false, filters: BTreeMap::new() },
        );
        self.roles.add(role);
        self.roles.set_weight(role, weight);
        let total = self.total();
        let sorter = self.within_role.entry(role.to_owned()).or_insert_with(|| DrfSorter::new(total));
        sorter.add(framework);
        let used: Vec<Quantities> =
            self.used.iter().filter(|((owner, _), _)| owner == framework).map(|(_, q)| *q).collect();
        for quantities in used {
            self.roles.allocate(role, quantities);
            if let Some(sorter) = self.within_role.get_mut(role) {
                sorter.allocate(framework, quantities);
            }
        }
    }

    /// Whether `framework` is known.
    pub fn has_framework(&self, framework: &str) -> bool {
        self.frameworks.contains_key(framework)
    }

    /// Removes a framework; its outstanding offers are rescinded (returned). What its tasks
    /// use stays taken on their agents until the caller says otherwise.
    pub fn remove_framework(&mut self, framework: &str) -> Vec<Offer> {
        let gone: Vec<u64> = self.offers.values().filter(|o| o.framework == framework).map(|o| o.id).collect();
        let rescinded = gone.into_iter().filter_map(|id| self.take_back(id)).collect();
        let used: Vec<Quantities> =
            self.used.iter().filter(|((owner, _), _)| owner == framework).map(|(_, q)| *q).collect();
        if let Some(removed) = self.frameworks.remove(framework) {
            for quantities in used {
                self.roles.unallocate(&removed.role, quantities);
            }
            if let Some(sorter) = self.within_role.get_mut(&removed.role) {
                sorter.remove(framework);
                // A role without frameworks wants nothing: its guarantee no longer holds
                // resources back from the others.
                if sorter.sort().is_empty() {
                    self.within_role.remove(&removed.role);
                    self.roles.remove(&removed.role);
                }
            }
        }
        rescinded
    }

    /// Sets a role's weight (1 unless set).
    pub fn set_weight(&mut self, role: &str, weight: f64) {
        self.roles.set_weight(role, weight);
    }

    /// Promises `role` at least `guarantee` (zero: no promise).
    pub fn set_guarantee(&mut self, role: &str, guarantee: Quantities) {
        if guarantee.is_zero() {
            self.guarantees.remove(role);
        } else {
            self.guarantees.insert(role.to_owned(), guarantee);
        }
    }

    /// What the guarantees still lack, summed over the roles that have frameworks.
    fn unmet_guarantees(&self) -> Quantities {
        self.guarantees
            .iter()
            .filter(|(role, _)| self.within_role.contains_key(*role))
            .fold(Quantities::ZERO, |sum, (role, guarantee)| sum.plus(guarantee.minus(self.roles.allocation(role))))
    }

    fn below_guarantee(&self, role: &str) -> bool {
        self.guarantees.get(role).is_some_and(|g| !g.minus(self.roles.allocation(role)).is_zero())
    }

    /// No offers for the framework until it revives.
    pub fn suppress(&mut self, framework: &str) {
        if let Some(f) = self.frameworks.get_mut(framework) {
            f.suppressed = true;
        }
    }

    /// Offers again, every decline filter cleared.
    pub fn revive(&mut self, framework: &str) {
        if let Some(f) = self.frameworks.get_mut(framework) {
            f.suppressed = false;
            f.filters.clear();
        }
    }

    /// Whether `framework` is suppressed (unknown ones are not).
    pub fn is_suppressed(&self, framework: &str) -> bool {
        self.frameworks.get(framework).is_some_and(|f| f.suppressed)
    }

    /// An outstanding offer.
    pub fn offer(&self, id: u64) -> Option<&Offer> {
        self.offers.get(&id)
    }

    /// The framework's share of the cluster, and its role's (both weighted).
    pub fn shares(&self, framework: &str) -> Option<(f64, f64)> {
        let role = &self.frameworks.get(framework)?.role;
        Some((self.within_role.get(role)?.share(framework), self.roles.share(role)))
    }

    pub fn outstanding(&self) -> impl Iterator<Item = &Offer> {
        self.offers.values()
    }

    /// One allocation cycle at `now_ms`: offers for every agent with something free.
    pub fn allocate(&mut self, now_ms: u64, seed: u64) -> Vec<Offer> {
        let mut agents: Vec<String> = self.agents.keys().cloned().collect();
        shuffle(&mut agents, seed);
        let mut made = Vec::new();
        let mut role_order = self.roles.sort();
        let mut cluster_free =
            self.agents.values().fold(Quantities::ZERO, |sum, a| sum.plus(a.total.minus(a.allocated)));
        for agent in agents {
            let free = {
                let a = &self.agents[&agent];
                a.total.minus(a.allocated)
            };
            if free.cpus < MIN_CPUS && free.mem_mb < MIN_MEM_MB {
                continue;
            }
            let framework_for = |role: &String| {
                self.within_role.get(role)?.sort().into_iter().find(|framework| {
                    self.frameworks.get(framework).is_some_and(|f| !f.suppressed && !f.filtered(&agent, free, now_ms))
                })
            };
            // Stage one: roles below their guarantee. Stage two: the rest, if what stays free
            // still covers the guarantees not yet met.
            let stage_one = role_order.iter().filter(|role| self.below_guarantee(role)).find_map(framework_for);
            let chosen = stage_one.or_else(|| {
                let laid_away = self.unmet_guarantees();
                if !laid_away.fits_in(cluster_free.minus(free)) {
                    return None;
                }
                role_order.iter().filter(|role| !self.below_guarantee(role)).find_map(framework_for)
            });
            let Some(framework) = chosen else { continue };
            self.next_offer += 1;
            let offer =
                Offer { id: self.next_offer, framework: framework.clone(), agent: agent.clone(), resources: free };
            self.charge(&framework, &agent, free);
            cluster_free = cluster_free.minus(free);
            self.offers.insert(offer.id, offer.clone());
            made.push(offer);
            // The role just got more; the order changes for the next agent.
            role_order = self.roles.sort();
        }
        made
    }

    /// Accepts `offers`, all of one agent, for `framework`, whose tasks use `used` of them
    /// (counted as the framework's on that agent until the caller says otherwise with
    /// [`Allocator::set_used`]); the rest is hidden from it for `refuse_seconds`. Refused
    /// (changing nothing) for no offers, an offer not outstanding or another framework's,
    /// offers of several agents, or tasks asking for more than the offers hold.
    pub fn accept(
        &mut self,
        framework: &str,
        offers: &[u64],
        used: Quantities,
        refuse_seconds: f64,
        now_ms: u64,
    ) -> Result<(), OfferError> {
        if let Some(repeated) = offers.iter().enumerate().find(|(n, id)| offers[..*n].contains(id)) {
            return Err(OfferError::Repeated { offer: *repeated.1 });
        }
        let made = offers.iter().map(|id| self.check(framework, *id)).collect::<Result<Vec<_>, _>>()?;
        let Some(first) = made.first() else { return Err(OfferError::NoOffers) };
        if made.iter().any(|o| o.agent != first.agent) {
            return Err(OfferError::ManyAgents { offers: offers.to_vec() });
        }
        let held = made.iter().fold(Quantities::ZERO, |sum, o| sum.plus(o.resources));
        if !used.fits_in(held) {
            return Err(OfferError::TooMuch { offer: first.id });
        }
        let agent = first.agent.clone();
        for offer in &made {
            self.take_back(offer.id);
        }
        let now_used = self.used(framework, &agent).plus(used);
        self.set_used(framework, &agent, now_used);
        self.filter(framework, &agent, held.minus(used), refuse_seconds, now_ms);
        Ok(())
    }

    /// Declines `offer`; its resources are not offered to `framework` again for
    /// `refuse_seconds`.
    pub fn decline(&mut self, framework: &str, offer: u64, refuse_seconds: f64, now_ms: u64) -> Result<(), OfferError> {
        let made = self.check(framework, offer)?;
        self.offers.remove(&offer);
        self.release(framework, &made.agent, made.resources);
        self.filter(framework, &made.agent, made.resources, refuse_seconds, now_ms);
        Ok(())
    }

    /// Takes an outstanding offer back (the offer timeout, the agent going away).
    pub fn rescind(&mut self, offer: u64) -> Option<Offer> {
        self.take_back(offer)
    }

    /// Takes back every outstanding offer of `framework` (it went away for now).
    pub fn remove_offers_of(&mut self, framework: &str) -> Vec<Offer> {
        let gone: Vec<u64> = self.offers.values().filter(|o| o.framework == framework).map(|o| o.id).collect();
        gone.into_iter().filter_map(|id| self.take_back(id)).collect()
    }

    /// Every (owner, agent) whose use was said and is not zero.
    pub fn usages(&self) -> impl Iterator<Item = (&str, &str)> {
        self.used.keys().map(|(owner, agent)| (owner.as_str(), agent.as_str()))
    }

    fn check(&self, framework: &str, offer: u64) -> Result<Offer, OfferError> {
        let made = self.offers.get(&offer).ok_or(OfferError::Unknown { offer })?;
        if made.framework != framework {
            return Err(OfferError::NotYours { offer, framework: framework.to_owned() });
        }
        Ok(made.clone())
    }

    fn take_back(&mut self, offer: u64) -> Option<Offer> {
        let made = self.offers.remove(&offer)?;
        self.release(&made.framework, &made.agent, made.resources);
        Some(made)
    }

    fn charge(&mut self, framework: &str, agent: &str, quantities: Quantities) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.allocated = a.allocated.plus(quantities);
        }
        if let Some(role) = self.frameworks.get(framework).map(|f| f.role.clone()) {
            self.roles.allocate(&role, quantities);
            if let Some(sorter) = self.within_role.get_mut(&role) {
                sorter.allocate(framework, quantities);
            }
        }
    }

    fn release(&mut self, framework: &str, agent: &str, quantities: Quantities) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.allocated = a.allocated.minus(quantities);
        }
        if let Some(role) = self.frameworks.get(framework).map(|f| f.role.clone()) {
            self.roles.unallocate(&role, quantities);
            if let Some(sorter) = self.within_role.get_mut(&role) {
                sorter.unallocate(framework, quantities);
            }
        }
    }

    fn filter(&mut self, framework: &str, agent: &str, declined: Quantities, refuse_seconds: f64, now_ms: u64) {
        if declined.is_zero() || refuse_seconds <= 0.0 {
            return;
        }
        // Mesos caps a filter at a year.
        let refuse_ms = (refuse_seconds.min(365.0 * 24.0 * 3600.0) * 1000.0) as u64;
        if let Some(f) = self.frameworks.get_mut(framework) {
            f.filters.insert(agent.to_owned(), (declined, now_ms + refuse_ms));
        }
    }
}

impl Framework {
    /// A filter hides an agent's resources while it lasts and only if they are within what
    /// was declined (more room since is offered).
    fn filtered(&self, agent: &str, free: Quantities, now_ms: u64) -> bool {
        self.filters.get(agent).is_some_and(|(declined, until)| now_ms < *until && free.fits_in(*declined))
    }
}

/// A deterministic Fisher–Yates shuffle driven by `seed` (SplitMix64).
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(agents: usize) -> Allocator {
        let mut allocator = Allocator::new();
        for n in 0..agents {
            allocator.add_agent(&format!("agent-{n}"), Quantities::cpus_mem(4.0, 4096.0));
        }
        allocator
    }

    #[test]
    fn two_frameworks_that_want_everything_converge_to_their_weighted_shares() {
        // 30 agents; role heavy weighs 2, light 1: every cycle each gets agents in turn by
        // share, and what they keep settles at 2 : 1.
        let mut allocator = cluster(30);
        allocator.add_framework("heavy-fw", "heavy", 2.0);
        allocator.add_framework("light-fw", "light", 1.0);
        let offers = allocator.allocate(0, 7);
        assert_eq!(offers.len(), 30, "every agent offered");
        let count = |who: &str| offers.iter().filter(|o| o.framework == who).count();
        assert_eq!((count("heavy-fw"), count("light-fw")), (20, 10));
        let (_, heavy_role) = allocator.shares("heavy-fw").unwrap();
        let (_, light_role) = allocator.shares("light-fw").unwrap();
        assert!((heavy_role - light_role).abs() < 1e-9, "equal weighted shares: {heavy_role} {light_role}");
        assert!(allocator.allocate(1, 8).is_empty(), "nothing free is offered twice");
    }

    #[test]
    fn a_guaranteed_role_is_served_first_and_its_guarantee_laid_away_while_it_declines() {
        // 10 agents of 4 cpus; prod is promised 16 cpus, batch nothing.
        let mut allocator = cluster(10);
        allocator.add_framework("prod-fw", "prod", 1.0);
        allocator.add_framework("batch-fw", "batch", 1.0);
        allocator.set_guarantee("prod", Quantities::cpus_mem(16.0, 0.0));
        let offers = allocator.allocate(0, 5);
        let count = |offers: &[Offer], who: &str| offers.iter().filter(|o| o.framework == who).count();
        assert_eq!((count(&offers, "prod-fw"), count(&offers, "batch-fw")), (5, 5), "prod's 4 first, then DRF");
        // Prod declines everything: its 16 cpus stay laid away, batch gets nothing of them.
        for offer in offers.iter().filter(|o| o.framework == "prod-fw") {
            allocator.decline("prod-fw", offer.id, 3600.0, 1).unwrap();
        }
        let next = allocator.allocate(2, 6);
        assert_eq!(count(&next, "batch-fw"), 1, "batch takes only what is beyond the guarantee: {next:?}");
        // Without the guarantee, batch takes everything prod declined.
        allocator.set_guarantee("prod", Quantities::ZERO);
        assert_eq!(count(&allocator.allocate(3, 7), "batch-fw"), 4);
    }

    #[test]
    fn a_decline_filters_the_agent_for_refuse_seconds_and_revive_clears_it() {
        let mut allocator = cluster(1);
        allocator.add_framework("fw", "r", 1.0);
        let offer = allocator.allocate(0, 1).pop().expect("an offer");
        allocator.decline("fw", offer.id, 5.0, 1_000).unwrap();
        assert!(allocator.allocate(2_000, 1).is_empty(), "filtered for 5 s");
        assert_eq!(allocator.allocate(6_001, 1).len(), 1, "offered again once the filter expired");
        let again = allocator.outstanding().next().cloned().unwrap();
        allocator.decline("fw", again.id, 60.0, 7_000).unwrap();
        allocator.revive("fw");
        assert_eq!(allocator.allocate(8_000, 1).len(), 1, "revive clears filters");
    }

    #[test]
    fn suppressed_frameworks_get_nothing_and_others_get_what_they_leave() {
        let mut allocator = cluster(2);
        allocator.add_framework("quiet", "a", 1.0);
        allocator.add_framework("busy", "b", 1.0);
        allocator.suppress("quiet");
        let offers = allocator.allocate(0, 3);
        assert!(offers.iter().all(|o| o.framework == "busy") && offers.len() == 2, "{offers:?}");
    }

    #[test]
    fn wrong_accepts_are_refused_and_change_nothing() {
        let mut allocator = cluster(1);
        allocator.add_framework("mine", "r", 1.0);
        allocator.add_framework("other", "s", 1.0);
        let offer = allocator.allocate(0, 1).pop().expect("an offer");
        let thief = if offer.framework == "mine" { "other" } else { "mine" };
        assert_eq!(
            allocator.accept(thief, &[offer.id], Quantities::cpus_mem(1.0, 1.0), DEFAULT_REFUSE_SECONDS, 1),
            Err(OfferError::NotYours { offer: offer.id, framework: thief.into() })
        );
        assert_eq!(
            allocator.accept(&offer.framework, &[offer.id], Quantities::cpus_mem(5.0, 1.0), DEFAULT_REFUSE_SECONDS, 1),
            Err(OfferError::TooMuch { offer: offer.id })
        );
        assert_eq!(allocator.outstanding().count(), 1, "still outstanding");
        allocator
            .accept(&offer.framework, &[offer.id], Quantities::cpus_mem(1.0, 1024.0), DEFAULT_REFUSE_SECONDS, 1)
            .unwrap();
        assert_eq!(
            allocator.accept(&offer.framework, &[offer.id], Quantities::cpus_mem(1.0, 1.0), DEFAULT_REFUSE_SECONDS, 2),
            Err(OfferError::Unknown { offer: offer.id })
        );
        let message = OfferError::Unknown { offer: 9 }.to_string();
        assert!(message.contains("offer 9 is not outstanding"), "{message}");
        // The unused 3 cpus are filtered for the accepting framework, so the other gets them.
        let next = allocator.allocate(1_000, 2);
        assert_eq!(next.len(), 1);
        assert_ne!(next[0].framework, offer.framework);
        assert_eq!(next[0].resources, Quantities::cpus_mem(3.0, 3072.0));
    }

    #[test]
    fn usage_said_by_the_caller_counts_for_its_framework_and_takes_room_for_others() {
        let mut allocator = cluster(2);
        allocator.add_framework("fw", "r", 1.0);
        // Tasks no framework owns take 4 cpus of agent-0: it has nothing to offer.
        allocator.set_used("(jobs)", "agent-0", Quantities::cpus_mem(4.0, 4096.0));
        let offers = allocator.allocate(0, 1);
        assert_eq!(offers.iter().map(|o| o.agent.as_str()).collect::<Vec<_>>(), ["agent-1"]);
        // Accepting two offers of different agents is refused; one agent's is taken.
        allocator.set_used("(jobs)", "agent-0", Quantities::ZERO);
        let more = allocator.allocate(1, 1);
        assert_eq!(
            allocator.accept("fw", &[offers[0].id, more[0].id], Quantities::cpus_mem(1.0, 1.0), 0.0, 2),
            Err(OfferError::ManyAgents { offers: vec![offers[0].id, more[0].id] })
        );
        assert_eq!(allocator.accept("fw", &[], Quantities::ZERO, 0.0, 2), Err(OfferError::NoOffers));
        // Named twice, an offer would count twice.
        assert_eq!(
            allocator.accept("fw", &[offers[0].id, offers[0].id], Quantities::cpus_mem(8.0, 1.0), 0.0, 2),
            Err(OfferError::Repeated { offer: offers[0].id })
        );
        allocator.accept("fw", &[offers[0].id], Quantities::cpus_mem(1.0, 1024.0), 0.0, 2).unwrap();
        assert_eq!(allocator.used("fw", "agent-1"), Quantities::cpus_mem(1.0, 1024.0));
        // Its share counts the task (1 of 8 cpus, 1 GB of 8) and the other offer (4 cpus, 4 GB).
        let (share, _) = allocator.shares("fw").unwrap();
        assert!((share - 5.0 / 8.0).abs() < 1e-9, "{share}");
        // The task ends: the caller says so, and the room is offered again.
        allocator.set_used("fw", "agent-1", Quantities::ZERO);
        let again = allocator.allocate(3, 1);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].resources, Quantities::cpus_mem(4.0, 4096.0));
    }

    #[test]
    fn a_guaranteed_role_left_without_frameworks_holds_nothing_back() {
        let mut allocator = cluster(2);
        allocator.add_framework("prod-fw", "prod", 1.0);
        allocator.add_framework("batch-fw", "batch", 1.0);
        allocator.set_guarantee("prod", Quantities::cpus_mem(4.0, 0.0));
        let _ = allocator.allocate(0, 1);
        allocator.remove_framework("prod-fw");
        let offered: Vec<Offer> = allocator.outstanding().cloned().collect();
        for offer in offered {
            allocator.decline(&offer.framework, offer.id, 0.0, 1).unwrap();
        }
        assert_eq!(allocator.allocate(2, 1).len(), 2, "batch gets both agents once prod is gone");
        // It comes back with its guarantee when a framework of it does.
        allocator.add_framework("prod-fw-2", "prod", 1.0);
        assert!(allocator.shares("prod-fw-2").is_some());
    }

    #[test]
    fn a_removed_agent_rescinds_its_offers_and_a_seed_replays_the_order() {
        let mut allocator = cluster(3);
        allocator.add_framework("fw", "r", 1.0);
        let offers = allocator.allocate(0, 42);
        let rescinded = allocator.remove_agent(&offers[0].agent);
        assert_eq!(rescinded, vec![offers[0].clone()]);
        let mut twin = cluster(3);
        twin.add_framework("fw", "r", 1.0);
        let replay: Vec<String> = twin.allocate(0, 42).into_iter().map(|o| o.agent).collect();
        assert_eq!(replay, offers.iter().map(|o| o.agent.clone()).collect::<Vec<_>>(), "same seed, same order");
    }
}

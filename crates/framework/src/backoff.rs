//! How long the driver waits before it subscribes again after losing its subscription (or
//! failing to get one): exponential backoff with jitter, so that the frameworks a restarted
//! scheduler dropped come back spread out rather than all at once.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Waits that double from `first` with each failure up to `most`; each wait is drawn between
/// half its base and the whole of it.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    first: Duration,
    most: Duration,
    failures: u32,
}

impl Backoff {
    /// Backoff starting at `first` and never waiting longer than `most` (at least `first`).
    pub(crate) fn new(first: Duration, most: Duration) -> Backoff {
        Backoff { first, most: most.max(first), failures: 0 }
    }

    /// The wait before the next attempt, given `fraction`, a random number in `[0, 1)`: the
    /// base is `first × 2^failures` capped at `most`, and the wait lies in `[base / 2, base]`.
    pub(crate) fn next_delay(&mut self, fraction: f64) -> Duration {
        let doubling = 2_u32.saturating_pow(self.failures.min(30));
        let base = self.first.saturating_mul(doubling).min(self.most);
        self.failures = self.failures.saturating_add(1);
        let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        base / 2 + (base / 2).mul_f64(fraction)
    }

    /// Back to `first`: called once a subscription succeeds.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A random number in `[0, 1)` for jitter, from the standard library's randomly keyed hasher
/// (good enough to spread reconnects; not for anything secret).
pub(crate) fn jitter_fraction() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    // The top 53 bits, as the mantissa of a number below one.
    (hasher.finish() >> 11) as f64 / (1_u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn waits_double_up_to_the_cap_and_stay_within_half_to_all_of_their_base() {
        let mut backoff = Backoff::new(500 * MS, 4000 * MS);
        let longest: Vec<Duration> = (0..6).map(|_| backoff.next_delay(1.0)).collect();
        assert_eq!(longest, [500 * MS, 1000 * MS, 2000 * MS, 4000 * MS, 4000 * MS, 4000 * MS]);
        backoff.reset();
        let shortest: Vec<Duration> = (0..4).map(|_| backoff.next_delay(0.0)).collect();
        assert_eq!(shortest, [250 * MS, 500 * MS, 1000 * MS, 2000 * MS]);
        backoff.reset();
        assert_eq!(backoff.next_delay(0.5), 375 * MS, "a quarter of the way between half and whole");
    }

    #[test]
    fn a_bad_fraction_or_a_cap_below_the_start_never_makes_a_wait_out_of_range() {
        let mut backoff = Backoff::new(1000 * MS, 10 * MS);
        assert_eq!(backoff.next_delay(f64::NAN), 500 * MS, "the cap is raised to the first wait");
        assert_eq!(backoff.next_delay(7.0), 1000 * MS);
        let mut many = Backoff::new(MS, Duration::from_secs(15));
        let last = (0..200).map(|_| many.next_delay(1.0)).last();
        assert_eq!(last, Some(Duration::from_secs(15)), "no overflow after many failures");
    }

    #[test]
    fn jitter_fractions_are_below_one_and_not_all_alike() {
        let fractions: Vec<f64> = (0..64).map(|_| jitter_fraction()).collect();
        assert!(fractions.iter().all(|f| (0.0..1.0).contains(f)), "{fractions:?}");
        assert!(fractions.iter().any(|f| *f != fractions[0]), "64 equal fractions: {fractions:?}");
    }
}

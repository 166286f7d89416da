//! How long to wait before trying again: exponential backoff with jitter, for every loop that
//! reconnects (an agent to its scheduler, an announcer to its registry, a scheduler to
//! ZooKeeper). The jitter spreads out the many processes that lost the same peer at once, so
//! they do not all come back in step when it returns.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The waits before each new attempt: `min`, doubling up to `max`, each lengthened by a random
/// part of up to itself (so the nth wait is within `[base, 2 × base)`). Never runs out; start
/// a new one after a success.
pub fn delays(min: Duration, max: Duration) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new().with_min_delay(min).with_max_delay(max).with_jitter().without_max_times().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_back_off_exponentially_and_apart() {
        let (min, max) = (Duration::from_millis(250), Duration::from_secs(4));
        let waits: Vec<Duration> = delays(min, max).take(10).collect();
        let mut base = min;
        for wait in &waits {
            assert!(base <= *wait && *wait < base * 2, "{wait:?} is not within [{base:?}, {:?})", base * 2);
            base = (base * 2).min(max);
        }
        assert_eq!(base, max, "the waits reach the longest");
        assert_ne!(waits, delays(min, max).take(10).collect::<Vec<_>>(), "two processes wait differently");
    }
}

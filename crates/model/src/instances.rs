//! Instance selections such as `0,2-3`, as written after a job key (`JOBKEY/0,2-3`).

use std::collections::BTreeSet;
use std::str::FromStr;

/// A set of instance ids.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InstanceSet(pub BTreeSet<u32>);

/// An instance selection that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid instances '{input}': {reason}; write instance ids and ranges such as 0,2-3")]
pub struct InstanceSetError {
    pub input: String,
    pub reason: String,
}

/// The largest range one selection may name, so that `0-4000000000` cannot exhaust memory.
const MAX_INSTANCES: u32 = 100_000;

impl FromStr for InstanceSet {
    type Err = InstanceSetError;

    fn from_str(s: &str) -> Result<InstanceSet, InstanceSetError> {
        let fail = |reason: String| InstanceSetError { input: s.to_owned(), reason };
        let number =
            |t: &str| t.trim().parse::<u32>().map_err(|_| fail(format!("'{}' is not an instance id", t.trim())));
        let mut ids = BTreeSet::new();
        for part in s.split(',') {
            match part.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (number(lo)?, number(hi)?);
                    if lo > hi {
                        return Err(fail(format!("range {lo}-{hi} runs backwards")));
                    }
                    if hi - lo >= MAX_INSTANCES {
                        return Err(fail(format!("range {lo}-{hi} names more than {MAX_INSTANCES} instances")));
                    }
                    ids.extend(lo..=hi);
                }
                None => {
                    ids.insert(number(part)?);
                }
            }
        }
        Ok(InstanceSet(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_and_ranges() {
        let set: InstanceSet = "0,2-3".parse().unwrap();
        assert_eq!(set.0.into_iter().collect::<Vec<_>>(), vec![0, 2, 3]);
    }

    #[test]
    fn rejects_garbage_backward_ranges_and_huge_ranges() {
        assert!("x".parse::<InstanceSet>().unwrap_err().to_string().contains("'x' is not an instance id"));
        assert!("3-1".parse::<InstanceSet>().unwrap_err().to_string().contains("backwards"));
        assert!("0-4000000000".parse::<InstanceSet>().is_err());
        assert!("".parse::<InstanceSet>().is_err());
    }
}

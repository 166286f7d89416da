//! The fan-out's work and its bookkeeping, apart from any scheduler: what each shard computes
//! (the primes in its range of numbers, counted by a shell command), how its result is read
//! from its output, and where each shard stands: waiting for an offer, launched, done, or
//! failed for good after its last attempt.

use std::collections::BTreeMap;
use std::str::FromStr;

use atoll_framework::v1::Resources;

/// The line of a shard's output that carries its result.
const RESULT_PREFIX: &str = "primes=";

/// "Make shard SHARD's first TIMES attempts fail", to watch retries (`--fail-shard`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectedFailure {
    pub shard: u32,
    pub times: u32,
}

impl FromStr for InjectedFailure {
    type Err = String;

    fn from_str(text: &str) -> Result<InjectedFailure, String> {
        let (shard, times) = text.split_once(':').unwrap_or((text, "1"));
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("{what} in '{text}' is not a whole number; write SHARD or SHARD:TIMES"))
        };
        let times = number(times, "the number of failures")?;
        if times == 0 {
            return Err(format!("'{text}' makes no attempt fail; write SHARD or SHARD:TIMES with TIMES of 1 or more"));
        }
        Ok(InjectedFailure { shard: number(shard, "the shard")?, times })
    }
}

/// What the fan-out computes and how hard it tries.
#[derive(Clone, Debug)]
pub struct Plan {
    pub shards: u32,
    pub numbers_per_shard: u64,
    pub resources: Resources,
    pub max_attempts: u32,
    /// Per shard, how many of its first attempts fail on purpose.
    pub injected_failures: BTreeMap<u32, u32>,
}

impl Plan {
    /// The numbers shard `shard` counts the primes among: `[start, end)`.
    pub fn range(&self, shard: u32) -> (u64, u64) {
        let start = u64::from(shard) * self.numbers_per_shard;
        (start, start + self.numbers_per_shard)
    }

    /// All the numbers the shards cover: `[0, end)`.
    pub fn whole_range(&self) -> (u64, u64) {
        (0, u64::from(self.shards) * self.numbers_per_shard)
    }

    /// The framework's id of attempt `attempt` (from 1) of shard `shard`.
    pub fn task_id(shard: u32, attempt: u32) -> String {
        format!("shard-{shard}-attempt-{attempt}")
    }

    /// The shell command of attempt `attempt` of shard `shard`: counts the primes in its range
    /// with coreutils' `factor` (a prime's line names one factor, itself) and prints
    /// `primes=COUNT` last; an attempt made to fail says so and exits 3 first.
    pub fn command(&self, shard: u32, attempt: u32) -> String {
        let (start, end) = self.range(shard);
        let mut command = String::new();
        if attempt <= self.injected_failures.get(&shard).copied().unwrap_or(0) {
            command.push_str(&format!(
                "echo 'shard {shard}: failing attempt {attempt} on purpose (--fail-shard)' >&2; exit 3\n"
            ));
        }
        command.push_str(&format!(
            "primes=$(seq {start} {last} | factor | grep -cE '^[0-9]+: [0-9]+$' || true)\n\
             echo \"shard {shard}: $primes primes in [{start}, {end})\"\n\
             echo \"{RESULT_PREFIX}$primes\"\n",
            last = end - 1,
        ));
        command
    }
}

/// A shard's count from its output: the last `primes=COUNT` line.
pub fn parse_result(output: &str) -> Result<u64, String> {
    let line = output.lines().rev().find_map(|line| line.trim().strip_prefix(RESULT_PREFIX));
    let Some(count) = line else {
        return Err(format!("its output has no {RESULT_PREFIX}COUNT line (it printed {} bytes)", output.len()));
    };
    count.parse().map_err(|_| format!("its result '{RESULT_PREFIX}{count}' is not a count"))
}

/// Where a shard stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardState {
    /// Waiting for an offer to launch its next attempt on.
    Waiting,
    /// Its current attempt was launched as `task_id` where `placed` says (agent and host).
    Launched { task_id: String, placed: String },
    /// Finished, with its count.
    Done { primes: u64, placed: String },
    /// Every attempt failed.
    Failed,
}

/// One shard and its attempts so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    /// Attempts launched.
    pub attempts: u32,
    pub state: ShardState,
}

/// What a failed attempt leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// The shard waits for its attempt `next_attempt`.
    Retry { shard: u32, next_attempt: u32 },
    /// That was the shard's last attempt.
    GaveUp { shard: u32, attempts: u32 },
    /// The task is not a shard's current attempt (a repeat, or an older attempt's news).
    NotCurrent,
}

/// Every shard's state.
#[derive(Clone, Debug)]
pub struct Progress {
    shards: Vec<Shard>,
    max_attempts: u32,
}

impl Progress {
    /// Every shard of `plan`, waiting.
    pub fn new(plan: &Plan) -> Progress {
        let shards = (0..plan.shards).map(|index| Shard { index, attempts: 0, state: ShardState::Waiting }).collect();
        Progress { shards, max_attempts: plan.max_attempts }
    }

    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The shards waiting for an offer, each with the number of its next attempt.
    pub fn waiting(&self) -> Vec<(u32, u32)> {
        self.shards.iter().filter(|s| s.state == ShardState::Waiting).map(|s| (s.index, s.attempts + 1)).collect()
    }

    /// The shard whose current attempt is task `task_id`.
    pub fn shard_of(&self, task_id: &str) -> Option<u32> {
        self.shards
            .iter()
            .find(|s| matches!(&s.state, ShardState::Launched { task_id: current, .. } if current == task_id))
            .map(|s| s.index)
    }

    /// Attempt `attempt` of waiting shard `shard` was launched as `task_id` where `placed`
    /// says.
    pub fn launched(&mut self, shard: u32, attempt: u32, task_id: String, placed: String) {
        if let Some(s) = self.shards.get_mut(shard as usize).filter(|s| s.state == ShardState::Waiting) {
            s.attempts = attempt;
            s.state = ShardState::Launched { task_id, placed };
        }
    }

    /// The current attempt `task_id` finished with `primes`; false if it is no shard's current
    /// attempt.
    pub fn finished(&mut self, task_id: &str, primes: u64) -> bool {
        let Some(shard) = self.shard_of(task_id) else { return false };
        let s = &mut self.shards[shard as usize];
        if let ShardState::Launched { placed, .. } = &s.state {
            s.state = ShardState::Done { primes, placed: placed.clone() };
        }
        true
    }

    /// The current attempt `task_id` failed: the shard waits for another attempt, or has
    /// none left.
    pub fn failed(&mut self, task_id: &str) -> AfterFailure {
        let Some(shard) = self.shard_of(task_id) else { return AfterFailure::NotCurrent };
        let s = &mut self.shards[shard as usize];
        if s.attempts < self.max_attempts {
            s.state = ShardState::Waiting;
            AfterFailure::Retry { shard, next_attempt: s.attempts + 1 }
        } else {
            s.state = ShardState::Failed;
            AfterFailure::GaveUp { shard, attempts: s.attempts }
        }
    }

    /// Where the current attempt `task_id` was launched.
    pub fn placement_of(&self, task_id: &str) -> Option<&str> {
        self.shards.iter().find_map(|s| match &s.state {
            ShardState::Launched { task_id: current, placed } if current == task_id => Some(placed.as_str()),
            _ => None,
        })
    }

    /// How many shards are done.
    pub fn done(&self) -> usize {
        self.shards.iter().filter(|s| matches!(s.state, ShardState::Done { .. })).count()
    }

    pub fn all_done(&self) -> bool {
        self.done() == self.shards.len()
    }

    /// The sum of the done shards' counts.
    pub fn total(&self) -> u64 {
        self.shards
            .iter()
            .filter_map(|s| if let ShardState::Done { primes, .. } = s.state { Some(primes) } else { None })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(shards: u32, max_attempts: u32) -> Plan {
        Plan {
            shards,
            numbers_per_shard: 1000,
            resources: Resources { cpu: 0.1, ram_mb: 32, disk_mb: 16, gpu: 0 },
            max_attempts,
            injected_failures: BTreeMap::from([(1, 2)]),
        }
    }

    #[test]
    fn shards_cover_the_range_end_to_end_and_only_injected_attempts_fail() {
        let plan = plan(3, 3);
        assert_eq!([plan.range(0), plan.range(2)], [(0, 1000), (2000, 3000)]);
        assert_eq!(plan.whole_range(), (0, 3000));
        assert!(plan.command(0, 1).starts_with("primes=$(seq 0 999 | factor"));
        assert!(plan.command(1, 2).contains("exit 3"), "shard 1 fails its first two attempts");
        assert!(!plan.command(1, 3).contains("exit 3"));
        assert!(!plan.command(2, 1).contains("exit 3"));
        assert_eq!(Plan::task_id(4, 2), "shard-4-attempt-2");
    }

    #[test]
    fn the_result_is_the_last_primes_line_of_the_output() {
        assert_eq!(parse_result("shard 0: 168 primes in [0, 1000)\nprimes=168\n"), Ok(168));
        assert_eq!(parse_result("primes=1\nprimes=2"), Ok(2));
        assert!(parse_result("nothing here\n").unwrap_err().contains("no primes=COUNT line"));
        assert!(parse_result("primes=many\n").unwrap_err().contains("not a count"));
    }

    #[test]
    fn a_failure_is_written_shard_or_shard_and_times() {
        assert_eq!("3".parse(), Ok(InjectedFailure { shard: 3, times: 1 }));
        assert_eq!("3:2".parse(), Ok(InjectedFailure { shard: 3, times: 2 }));
        assert!("x:2".parse::<InjectedFailure>().unwrap_err().contains("the shard in 'x:2'"));
        assert!("1:".parse::<InjectedFailure>().is_err());
        assert!("1:0".parse::<InjectedFailure>().unwrap_err().contains("makes no attempt fail"));
    }

    #[test]
    fn a_failed_attempt_is_retried_until_the_attempts_run_out() {
        let mut progress = Progress::new(&plan(2, 2));
        assert_eq!(progress.waiting(), [(0, 1), (1, 1)]);
        progress.launched(0, 1, "shard-0-attempt-1".into(), "a".into());
        progress.launched(1, 1, "shard-1-attempt-1".into(), "b".into());
        assert!(progress.waiting().is_empty());
        assert_eq!(progress.placement_of("shard-1-attempt-1"), Some("b"));
        assert_eq!(progress.failed("shard-1-attempt-1"), AfterFailure::Retry { shard: 1, next_attempt: 2 });
        assert_eq!(progress.failed("shard-1-attempt-1"), AfterFailure::NotCurrent, "a repeat changes nothing");
        assert_eq!(progress.waiting(), [(1, 2)]);
        progress.launched(1, 2, "shard-1-attempt-2".into(), "a".into());
        assert_eq!(progress.failed("shard-1-attempt-2"), AfterFailure::GaveUp { shard: 1, attempts: 2 });
        assert!(progress.waiting().is_empty(), "a shard that gave up waits for nothing");
        assert!(!progress.all_done());
    }

    #[test]
    fn the_total_sums_the_finished_shards_once_each() {
        let mut progress = Progress::new(&plan(2, 1));
        progress.launched(0, 1, "shard-0-attempt-1".into(), "a".into());
        progress.launched(1, 1, "shard-1-attempt-1".into(), "b".into());
        assert!(progress.finished("shard-0-attempt-1", 168));
        assert!(!progress.finished("shard-0-attempt-1", 168), "a repeat is no shard's current attempt");
        assert!(!progress.all_done());
        assert!(progress.finished("shard-1-attempt-1", 135));
        assert!(progress.all_done());
        assert_eq!(progress.total(), 303);
        assert_eq!(progress.shards()[1].state, ShardState::Done { primes: 135, placed: "b".into() });
    }
}

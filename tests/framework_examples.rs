//! The Rust example framework end to end: `atoll-example-fanout` (built here) against a real
//! scheduler and two agents. It must gather every shard's count of primes through the
//! scheduler's logs (checked against a sieve run here), spread shards over both agents, launch
//! again a shard made to fail once, and tear its framework down when done; and a shard that
//! fails every attempt must fail the run with a message that names it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::time::Duration;

use atoll_tests::{Cluster, build_binary, framework_client, output_within};

static FANOUT: OnceLock<PathBuf> = OnceLock::new();

/// The example, built once per test binary as the harness builds `atoll`.
fn fanout_binary() -> &'static Path {
    FANOUT.get_or_init(|| build_binary("atoll-example-fanout", "atoll-example-fanout", false))
}

/// What a run of the fan-out printed, and how it ended.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs the fan-out against `cluster` with `args`, failing the test if it runs past `limit`.
fn fanout(cluster: &Cluster, name: &str, args: &[&str], limit: Duration) -> Run {
    let mut command = Command::new(fanout_binary());
    command
        .args(["--scheduler", &cluster.url, "--role", "www-data", "--name", name, "--give-up-after", "20"])
        .args(args)
        .env("RUST_LOG", "info");
    let output = output_within(&mut command, limit).unwrap_or_else(|so_far| {
        panic!(
            "the fan-out {args:?} did not end within {limit:?}; it wrote:\n{}\nthe scheduler's log:\n{}",
            String::from_utf8_lossy(&so_far.stderr),
            cluster.scheduler.as_ref().map(|s| s.log()).unwrap_or_default()
        )
    });
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("the fan-out writes UTF-8");
    Run { status: output.status, stdout: text(output.stdout), stderr: text(output.stderr) }
}

/// How many primes lie in `[start, end)`, by a sieve of Eratosthenes: the fan-out's answer,
/// found another way.
fn primes_in(start: u64, end: u64) -> u64 {
    let end = end as usize;
    let mut composite = vec![false; end.max(2)];
    composite[0] = true;
    composite[1] = true;
    let mut n = 2;
    while n * n < end {
        if !composite[n] {
            (n * n..end).step_by(n).for_each(|multiple| composite[multiple] = true);
        }
        n += 1;
    }
    (start as usize..end).filter(|&n| !composite[n]).count() as u64
}

/// A shard's line of the report: `shard I: COUNT primes in [START, END), attempt A, on agent
/// ID (HOST)`, as (I, COUNT, START, END, A, HOST).
fn shard_line(line: &str) -> Option<(u64, u64, u64, u64, u64, String)> {
    let rest = line.strip_prefix("shard ")?;
    let (index, rest) = rest.split_once(": ")?;
    let (count, rest) = rest.split_once(" primes in [")?;
    let (start, rest) = rest.split_once(", ")?;
    let (end, rest) = rest.split_once("), attempt ")?;
    let (attempt, rest) = rest.split_once(", on agent ")?;
    let host = rest.split_once(" (")?.1.strip_suffix(')')?;
    let number = |text: &str| text.parse::<u64>().ok();
    Some((number(index)?, number(count)?, number(start)?, number(end)?, number(attempt)?, host.to_owned()))
}

/// The names of the frameworks the scheduler knows.
fn frameworks(cluster: &Cluster) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(framework_client::frameworks(&cluster.url)).into_iter().map(|f| f.name).collect()
}

#[test]
fn the_fanout_gathers_every_shard_over_both_agents_and_launches_a_failed_shard_again() {
    let cluster = Cluster::start(10);
    const SHARDS: u64 = 6;
    const NUMBERS: u64 = 20_000;
    // 0.4 cpu a shard: two fit on an agent's one cpu, so the first offers take two shards each.
    let args = ["--shards", "6", "--numbers-per-shard", "20000", "--cpus", "0.4", "--ram", "32", "--disk", "16"];
    let run = fanout(
        &cluster,
        "fanout-ok",
        &[&args[..], &["--fail-shard", "2", "--max-attempts", "3"]].concat(),
        Duration::from_secs(180),
    );
    assert!(run.status.success(), "the fan-out failed ({}):\n{}{}", run.status, run.stdout, run.stderr);

    let shards: Vec<_> = run.stdout.lines().filter_map(shard_line).collect();
    assert_eq!(shards.len() as u64, SHARDS, "one line per shard:\n{}", run.stdout);
    for (index, (shard, count, start, end, attempt, _)) in shards.iter().enumerate() {
        assert_eq!(*shard, index as u64, "shards in order:\n{}", run.stdout);
        assert_eq!((*start, *end), (*shard * NUMBERS, (*shard + 1) * NUMBERS));
        assert_eq!(*count, primes_in(*start, *end), "shard {shard}'s count, read from its stdout");
        let expected_attempt = if *shard == 2 { 2 } else { 1 };
        assert_eq!(*attempt, expected_attempt, "shard {shard}'s attempts:\n{}\n{}", run.stdout, run.stderr);
    }
    let total = primes_in(0, SHARDS * NUMBERS);
    assert!(
        run.stdout.contains(&format!("total: {total} primes in [0, {}) from {SHARDS} shards", SHARDS * NUMBERS)),
        "the total is {total}:\n{}",
        run.stdout
    );
    let hosts: std::collections::BTreeSet<&str> = shards.iter().map(|s| s.5.as_str()).collect();
    assert_eq!(hosts, ["agent-1", "agent-2"].into(), "shards ran on both agents:\n{}", run.stdout);
    assert!(
        run.stderr.contains("shard 2: shard-2-attempt-1 failed on agent") && run.stderr.contains("exit code 3"),
        "the failed first attempt of shard 2, and its exit code, are told:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("launching attempt 2 of 3"), "{}", run.stderr);
    assert!(
        !frameworks(&cluster).iter().any(|name| name == "fanout-ok"),
        "the finished fan-out tore its framework down: {:?}",
        frameworks(&cluster)
    );
}

#[test]
fn a_shard_that_fails_every_attempt_fails_the_fanout_naming_the_shard() {
    let cluster = Cluster::start(10);
    let args = ["--shards", "3", "--numbers-per-shard", "1000", "--fail-shard", "1:2", "--max-attempts", "2"];
    let run = fanout(&cluster, "fanout-fails", &args, Duration::from_secs(180));
    assert_eq!(run.status.code(), Some(1), "the fan-out should fail:\n{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("the fan-out failed: shard 1 failed all 2 attempts; the last, shard-1-attempt-2 on agent"),
        "the shard and its attempts are named:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("FAILED with exit code 3"), "its last failure is told:\n{}", run.stderr);
    assert!(!run.stdout.contains("total:"), "no result is claimed:\n{}", run.stdout);
    assert!(
        !frameworks(&cluster).iter().any(|name| name == "fanout-fails"),
        "the failed fan-out tore its framework down: {:?}",
        frameworks(&cluster)
    );
}

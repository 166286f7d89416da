//! Benchmark: a rolling update of 100 instances of a trivial service (`exec sleep 600`) with
//! `batch_size 10` and `watch_secs 0` on `atoll dev --agents 4`, against the same 100 instances
//! killed and created afresh.
//!
//! Starts the release binary as `atoll dev --agents 4`, creates the job and waits until it
//! runs, then alternates, `ROUNDS` times each: `atoll update start JOB FILE --bind version=N
//! --wait` (timed from the client's start to its exit, which waits until ROLLED_FORWARD), and
//! `atoll job killall JOB` followed by `atoll job create JOB FILE --wait-until RUNNING` (timed
//! the same way, both commands together).
//!
//! The client asks for news every 200 ms, so its time comes in steps of about 0.21 s (0.62 s,
//! 0.83 s, 1.04 s): a rollout a few milliseconds longer can cost a whole step. Each update's
//! own duration as the scheduler recorded it (created to ROLLED_FORWARD, from `atoll update
//! info --json`) is printed beside it, to the millisecond.
//!
//! Run: `cargo bench -p atoll-tests --bench update_rollout` (ATOLL_BENCH_INSTANCES changes the
//! 100, ATOLL_BENCH_ROUNDS the 3 rounds).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use atoll_tests::{build_atoll, start_dev};

const KEY: &str = "devcluster/bench/devel/rollout";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// Runs `atoll ARGS --scheduler URL`, failing the bench if it fails; returns how long it took.
fn timed(atoll: &Path, url: &str, args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = Command::new(atoll).args(args).args(["--scheduler", url]).output().expect("run atoll");
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "atoll {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    took
}

/// How long the latest update of `KEY` took as the scheduler recorded it: from its creation to
/// its last change of state.
fn scheduler_took(atoll: &Path, url: &str) -> Duration {
    let output = Command::new(atoll)
        .args(["update", "info", KEY, "--json", "--scheduler", url])
        .output()
        .expect("run atoll update info");
    assert!(output.status.success(), "atoll update info failed: {}", String::from_utf8_lossy(&output.stderr));
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).expect("update info as JSON");
    let ms = |field: &str| info[field].as_u64().unwrap_or_else(|| panic!("update info without {field}"));
    Duration::from_millis(ms("updated_ms").saturating_sub(ms("created_ms")))
}

fn main() {
    let instances = env_number("ATOLL_BENCH_INSTANCES", 100);
    let rounds = env_number("ATOLL_BENCH_ROUNDS", 3);
    let atoll = build_atoll(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("rollout.rhai");
    std::fs::write(
        &file,
        format!(
            "let sleeper = Process(#{{ name: \"sleeper\", cmdline: \"exec sleep 600 # {{{{version}}}}\" }});\n\
             let task = SequentialTask(#{{ processes: [sleeper], resources: Resources(#{{ cpu: 0.01, ram: 1 * MB, disk: 1 * MB }}) }});\n\
             let jobs = [ Service(#{{ cluster: \"devcluster\", role: \"bench\", environment: \"devel\", name: \"rollout\",\n\
                 instances: {instances}, task: task, update_config: UpdateConfig(#{{ batch_size: 10, watch_secs: 0 }}) }}) ];\n"
        ),
    )
    .expect("write job file");
    let file = file.to_str().expect("utf-8 path");
    let (dev, url) = start_dev(&atoll, dir.path(), 4);
    let create = ["job", "create", KEY, file, "--wait-until", "RUNNING", "--wait-timeout-secs", "300"];
    timed(&atoll, &url, &[&create[..], &["--bind", "version=0"]].concat());

    let mut updates = Vec::new();
    let mut rollouts = Vec::new();
    let mut recreates = Vec::new();
    for round in 1..=rounds {
        let version = format!("version={round}");
        let update = ["update", "start", KEY, file, "--bind", &version, "--wait", "--wait-timeout-secs", "300"];
        updates.push(timed(&atoll, &url, &update));
        rollouts.push(scheduler_took(&atoll, &url));
        let killed = timed(&atoll, &url, &["job", "killall", KEY, "--wait-timeout-secs", "300"]);
        let created = timed(&atoll, &url, &[&create[..], &["--bind", &version]].concat());
        recreates.push(killed + created);
    }
    let _ = Command::new(&atoll).args(["job", "killall", KEY, "--scheduler", &url]).output();
    dev.stop();

    let seconds =
        |runs: &[Duration]| runs.iter().map(|d| format!("{:.2} s", d.as_secs_f64())).collect::<Vec<_>>().join(", ");
    println!(
        "update_rollout: {instances} instances on 4 agents, batch_size 10, watch_secs 0: update start --wait {}",
        seconds(&updates)
    );
    let exact =
        |runs: &[Duration]| runs.iter().map(|d| format!("{:.3} s", d.as_secs_f64())).collect::<Vec<_>>().join(", ");
    println!(
        "update_rollout: the same updates as the scheduler recorded them (created to ROLLED_FORWARD): {}",
        exact(&rollouts)
    );
    println!(
        "update_rollout: the same instances killed and created afresh (killall + create --wait-until RUNNING): {}",
        seconds(&recreates)
    );
}

//! Benchmark: `atoll dev --agents 4`, one job of 1,000 instances of `exec sleep 600`, from
//! `atoll job create` to every instance RUNNING (the target is under 5 s).
//!
//! Starts the release binary as `atoll dev --agents 4` on a free loopback port, writes the job
//! file, and times `atoll job create JOB FILE --wait-until RUNNING` from the client's start to
//! its exit. The client prints each instance's state as its polls (every 20 ms) see it; this
//! bench stamps those lines as they arrive, so it also shows when the last instance was seen
//! PENDING, ASSIGNED, STARTING and RUNNING: where the time goes. Then it kills the job and
//! stops `atoll dev`.
//!
//! Run: `cargo bench -p atoll-tests --bench dev_launch` (set ATOLL_BENCH_INSTANCES to change
//! the 1,000).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use atoll_tests::{build_atoll, start_dev};

/// The states the client reports on the way to RUNNING, in order.
const STAGES: [&str; 4] = ["PENDING", "ASSIGNED", "STARTING", "RUNNING"];

fn main() {
    let instances: usize = std::env::var("ATOLL_BENCH_INSTANCES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let atoll = build_atoll(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("launch.rhai");
    std::fs::write(
        &file,
        format!(
            "let sleeper = Process(#{{ name: \"sleeper\", cmdline: \"exec sleep 600\" }});\n\
             let task = SequentialTask(#{{ processes: [sleeper], resources: Resources(#{{ cpu: 0.001, ram: 1 * MB, disk: 1 * MB }}) }});\n\
             let jobs = [ Service(#{{ cluster: \"devcluster\", role: \"bench\", environment: \"devel\", name: \"launch\", instances: {instances}, task: task }}) ];\n"
        ),
    )
    .expect("write job file");
    let (dev, url) = start_dev(&atoll, dir.path(), 4);

    let key = "devcluster/bench/devel/launch";
    let started = Instant::now();
    let mut create = Command::new(&atoll)
        .args(["job", "create", key, file.to_str().expect("utf-8 path"), "--wait-until", "RUNNING"])
        .args(["--wait-timeout-secs", "120", "--scheduler", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run atoll job create");
    // The furthest stage each instance was seen in, and when each stage was first reached by
    // every instance.
    let mut furthest = vec![None::<usize>; instances];
    let mut all_reached: [Option<Duration>; 4] = [None; 4];
    let mut other_lines = Vec::new();
    for line in BufReader::new(create.stderr.take().expect("piped stderr")).lines() {
        let line = line.expect("read the client's output");
        let Some((instance, stage)) = parse_state_line(&line, key) else {
            other_lines.push(line);
            continue;
        };
        if let Some(seen) = furthest.get_mut(instance) {
            *seen = Some(seen.map_or(stage, |s| s.max(stage)));
        }
        for (reached, when) in all_reached.iter_mut().enumerate() {
            if when.is_none() && furthest.iter().all(|s| s.is_some_and(|s| s >= reached)) {
                *when = Some(started.elapsed());
            }
        }
    }
    let status = create.wait().expect("wait for atoll job create");
    let elapsed = started.elapsed();
    assert!(status.success(), "job create failed: {}\n{}", other_lines.join("\n"), dev.log());

    let _ = Command::new(&atoll).args(["job", "killall", key, "--scheduler", &url]).output();
    dev.stop();

    let seconds = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
    println!(
        "dev_launch: {instances} instances on 4 agents, job create to all RUNNING in {:.2} s (target < 5 s)",
        elapsed.as_secs_f64()
    );
    let stages: Vec<String> =
        STAGES.iter().zip(all_reached).map(|(stage, when)| format!("{stage} {}", seconds(when))).collect();
    println!("dev_launch: every instance seen at least {}", stages.join(", "));
}

/// `  KEY/INSTANCE: STATE` as the client prints it, as (instance, stage index).
fn parse_state_line(line: &str, key: &str) -> Option<(usize, usize)> {
    let rest = line.trim().strip_prefix(key)?.strip_prefix('/')?;
    let (instance, state) = rest.split_once(": ")?;
    let state = state.split_whitespace().next()?;
    let stage = STAGES.iter().position(|s| *s == state)?;
    Some((instance.parse().ok()?, stage))
}

//! Benchmark: how long one instance takes from `atoll job create` to RUNNING on `atoll dev`.
//!
//! Starts the release binary as `atoll dev` on a free loopback port, then for each of N jobs
//! times `atoll job create JOB FILE --wait-until RUNNING` from the client's start to its exit:
//! client start-up, job file evaluation, gRPC, the durable commit, placement, the agent's
//! launch, the executor's start and the status report back. Prints min, median, p90 and max.
//!
//! Run: `cargo bench -p atoll-tests --bench create_to_running` (N=20; set ATOLL_BENCH_JOBS).

use std::process::Command;
use std::time::{Duration, Instant};

use atoll_tests::{build_atoll, start_dev};

fn main() {
    let jobs: usize = std::env::var("ATOLL_BENCH_JOBS").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    let atoll = build_atoll(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bench.rhai");
    std::fs::write(
        &file,
        format!(
            "let jobs = [];\n\
             for i in 0..{jobs} {{\n\
               let sleeper = Process(#{{ name: \"sleeper\", cmdline: \"sleep 600\" }});\n\
               let task = SequentialTask(#{{ processes: [sleeper], resources: Resources(#{{ cpu: 0.01, ram: 1 * MB, disk: 1 * MB }}) }});\n\
               jobs.push(Service(#{{ cluster: \"devcluster\", role: \"bench\", environment: \"devel\", name: `job-${{i}}`, task: task }}));\n\
             }}\n"
        ),
    )
    .expect("write job file");
    let (dev, url) = start_dev(&atoll, dir.path(), 1);

    let mut samples = Vec::new();
    for i in 0..jobs {
        let key = format!("devcluster/bench/devel/job-{i}");
        let started = Instant::now();
        let output = Command::new(&atoll)
            .args(["job", "create", &key, file.to_str().unwrap(), "--wait-until", "RUNNING", "--scheduler", &url])
            .output()
            .expect("run atoll job create");
        let elapsed = started.elapsed();
        assert!(output.status.success(), "create failed: {}", String::from_utf8_lossy(&output.stderr));
        samples.push(elapsed);
    }
    for i in 0..jobs {
        let key = format!("devcluster/bench/devel/job-{i}");
        let _ = Command::new(&atoll).args(["job", "killall", &key, "--scheduler", &url]).output();
    }
    drop(dev);

    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "create_to_running: {} jobs, min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        samples.len(),
        ms(samples[0]),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(samples[samples.len() - 1])
    );
}

//! Benchmark: the weight of an agent and its executors (issue 4's targets: an executor under
//! 10 MB RSS; an idle agent with 200 running tasks under 5% of one core).
//!
//! Starts the release binary as a scheduler and one agent (separate processes, loopback),
//! creates one job of N instances of `sleep 3600`, waits until every instance runs, then
//! samples the agent's CPU time over 10 s (from /proc/PID/stat) and every executor's resident
//! memory (VmRSS from /proc/PID/status) and proportional set size (Pss from
//! /proc/PID/smaps_rollup: the executors share the binary's pages, so Pss is what each one adds).
//!
//! Run: `cargo bench -p atoll-tests --bench agent_weight` (N=200; set ATOLL_BENCH_TASKS).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use atoll_tests::{Daemon, build_atoll, eventually, executor_status, free_port};

fn main() {
    let tasks: u32 = std::env::var("ATOLL_BENCH_TASKS").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let atoll = build_atoll(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let data = dir.path().join("scheduler");
    let work = dir.path().join("agent");
    let grpc = format!("127.0.0.1:{port}");
    let _scheduler = Daemon::start_program(
        &atoll,
        "scheduler",
        dir.path(),
        &["scheduler", "--data-dir", data.to_str().unwrap(), "--grpc", &grpc],
    );
    let agent = Daemon::start_program(
        &atoll,
        "agent",
        dir.path(),
        &[
            "agent",
            "--scheduler",
            &url,
            "--work-dir",
            work.to_str().unwrap(),
            "--hostname",
            "bench-agent",
            "--resources",
            "cpus:64;mem:262144;disk:262144;ports:[40000-40999]",
            "--on-exit",
            "kill",
        ],
    );
    let file = dir.path().join("idle.rhai");
    std::fs::write(
        &file,
        format!(
            "let p = Process(#{{ name: \"idle\", cmdline: \"exec sleep 3600\" }});\n\
             let t = SequentialTask(#{{ processes: [p], resources: Resources(#{{ cpu: 0.01, ram: MB, disk: MB }}) }});\n\
             let jobs = [ Service(#{{ cluster: \"devcluster\", role: \"bench\", environment: \"devel\", name: \"idle\", instances: {tasks}, task: t }}) ];\n"
        ),
    )
    .expect("write job file");
    let job = "devcluster/bench/devel/idle";
    eventually("the scheduler to serve", Duration::from_secs(30), || {
        Command::new(&atoll)
            .args(["job", "list", "devcluster", "--scheduler", &url])
            .output()
            .ok()?
            .status
            .success()
            .then_some(())
    });
    let started = Instant::now();
    let created = Command::new(&atoll)
        .args(["job", "create", job, file.to_str().unwrap(), "--wait-until", "RUNNING", "--scheduler", &url])
        .output()
        .expect("run atoll job create");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    println!("agent_weight: {tasks} tasks RUNNING {:.1} s after job create", started.elapsed().as_secs_f64());

    std::thread::sleep(Duration::from_secs(2));
    let agent_pid = agent.pid().as_raw();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(agent_pid);
    let window = Duration::from_secs(10);
    std::thread::sleep(window);
    let used = (cpu_ticks(agent_pid) - before) as f64 / ticks_per_second;
    println!(
        "agent_weight: idle agent with {tasks} tasks: {:.2}% of one core over {} s",
        100.0 * used / window.as_secs_f64(),
        window.as_secs()
    );

    let rss: Vec<u64> = executor_pids(&work).iter().filter_map(|pid| rss_kib(*pid)).collect();
    assert_eq!(rss.len() as u32, tasks, "one live executor per task");
    let max = *rss.iter().max().expect("executors");
    let mean = rss.iter().sum::<u64>() / rss.len() as u64;
    println!("agent_weight: executor RSS: mean {:.1} MB, max {:.1} MB", mean as f64 / 1024.0, max as f64 / 1024.0);
    let pss: Vec<u64> =
        executor_pids(&work).iter().filter_map(|pid| memory_kib(*pid, "smaps_rollup", "Pss:")).collect();
    let pss_mean = pss.iter().sum::<u64>() / pss.len().max(1) as u64;
    println!("agent_weight: executor Pss: mean {:.1} MB over {} executors", pss_mean as f64 / 1024.0, pss.len());
    println!("agent_weight: agent RSS {:.1} MB", rss_kib(agent_pid).unwrap_or(0) as f64 / 1024.0);

    let _ = Command::new(&atoll).args(["job", "killall", job, "--scheduler", &url]).output();
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let after_name = stat.rsplit_once(')').expect("stat has a name").1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat; after the name, state is index 0, so utime is 11 and stime 12.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn rss_kib(pid: i32) -> Option<u64> {
    memory_kib(pid, "status", "VmRSS:")
}

/// The kB figure of the line starting with `key` in `/proc/PID/FILE`.
fn memory_kib(pid: i32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The executor pids from every sandbox's status file.
fn executor_pids(work: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(work.join("sandboxes")) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| executor_status(&entry.path()))
        .filter_map(|status| status["executor_pid"].as_i64())
        .map(|pid| pid as i32)
        .collect()
}

//! The soak, shared by the short test (`tests/soak_short.rs`, in CI) and the long bench
//! (`benches/soak.rs`, 30 minutes): `atoll dev` under a churn of jobs (created, updated when
//! they exist, killed; some failing on purpose), sampled as it goes: the dev process's memory,
//! file descriptors and threads, the agents' sandboxes and the data directory's size. What
//! must stay flat stays flat.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::crash_loops::Random;
use crate::{printed, start_dev};

/// One sample of the dev process and its directories.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Duration,
    pub rss_kb: u64,
    pub fds: u64,
    pub threads: u64,
    pub sandboxes: u64,
    pub data_kb: u64,
}

/// What a soak did, and its samples.
#[derive(Debug, Default)]
pub struct Soak {
    pub creates: u64,
    pub updates: u64,
    pub kills: u64,
    pub samples: Vec<Sample>,
}

/// Names of the jobs the churn works on; the odd ones fail a few seconds after they start.
const JOBS: usize = 8;

fn job_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("churn.rhai");
    std::fs::write(
        &file,
        format!(
            r#"let jobs = [];
for i in 0..{JOBS} {{
  let cmd = if i % 2 == 1 {{ "echo v{{{{version}}}}; sleep 3; exit 1" }} else {{ "echo v{{{{version}}}}; exec sleep 600" }};
  let p = Process(#{{ name: "churn", cmdline: cmd }});
  let t = SequentialTask(#{{ processes: [p], resources: Resources(#{{ cpu: 0.01, ram: 4 * MB, disk: 1 * MB }}) }});
  jobs.push(Service(#{{ cluster: "devcluster", role: "soak", environment: "devel", name: `churn-${{i}}`, instances: 2, task: t,
                        update_config: UpdateConfig(#{{ batch_size: 2, watch_secs: 1 }}) }}));
}}
"#
        ),
    )
    .expect("write the job file");
    file
}

fn status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(field)?.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

fn size_kb(path: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => pending.push(entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total / 1024
}

fn sample(pid: u32, data: &Path, started: Instant) -> Sample {
    let sandboxes = std::fs::read_dir(data.join("agents"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|agent| std::fs::read_dir(agent.path().join("sandboxes")).map_or(0, |s| s.count() as u64))
        .sum();
    Sample {
        at: started.elapsed(),
        rss_kb: status_field(pid, "VmRSS:"),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |fds| fds.count() as u64),
        threads: status_field(pid, "Threads:"),
        sandboxes,
        data_kb: size_kb(&data.join("scheduler")),
    }
}

/// Runs `atoll dev --agents 2` from `atoll` for `length` under churn, sampling every `every`.
pub fn soak(atoll: &Path, length: Duration, every: Duration, seed: u64) -> Soak {
    let dir = tempfile::tempdir().expect("temp dir");
    let (dev, url) = start_dev(atoll, dir.path(), 2);
    let pid = dev.pid().as_raw() as u32;
    let data = dir.path().join("dev");
    let file = job_file(dir.path());
    let mut random = Random::new(seed);
    let mut soak = Soak::default();
    let mut live = [false; JOBS];
    let started = Instant::now();
    let mut next_sample = Duration::ZERO;
    let mut version = 0;
    while started.elapsed() < length {
        if started.elapsed() >= next_sample {
            soak.samples.push(sample(pid, &data, started));
            next_sample += every;
        }
        let n = random.between(0, JOBS as u64 - 1) as usize;
        let key = format!("devcluster/soak/devel/churn-{n}");
        version += 1;
        let bind = format!("version={version}");
        let run =
            |args: &[&str]| Command::new(atoll).args(args).args(["--scheduler", &url]).output().expect("run atoll");
        let output = if !live[n] {
            soak.creates += 1;
            live[n] = true;
            run(&["job", "create", &key, file.to_str().expect("utf-8"), "--bind", &bind])
        } else if random.between(0, 2) == 0 {
            soak.kills += 1;
            live[n] = false;
            run(&["job", "killall", &key])
        } else {
            soak.updates += 1;
            run(&["update", "start", &key, file.to_str().expect("utf-8"), "--bind", &bind])
        };
        // An update refused while one is under way is part of the churn; anything else is not.
        let said = printed(&output);
        assert!(
            output.status.success() || said.contains("is already being updated"),
            "{said}\nthe dev log:\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(random.between(50, 400)));
    }
    soak.samples.push(sample(pid, &data, started));
    for (n, live) in live.iter().enumerate() {
        if *live {
            let _ = Command::new(atoll)
                .args(["job", "killall", &format!("devcluster/soak/devel/churn-{n}"), "--scheduler", &url])
                .output();
        }
    }
    dev.stop();
    soak
}

impl Soak {
    /// The samples as a table.
    pub fn table(&self) -> String {
        let mut out = String::from("   at s   rss MB   fds  threads  sandboxes  data MB\n");
        for s in &self.samples {
            out.push_str(&format!(
                "{:>7.0}  {:>7.1}  {:>4}  {:>7}  {:>9}  {:>7.1}\n",
                s.at.as_secs_f64(),
                s.rss_kb as f64 / 1024.0,
                s.fds,
                s.threads,
                s.sandboxes,
                s.data_kb as f64 / 1024.0
            ));
        }
        out
    }
}

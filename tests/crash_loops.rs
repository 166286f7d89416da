//! Crash loops, shared by the short test (`tests/crash.rs`, in CI) and the long bench
//! (`benches/crash_loops.rs`): a scheduler killed with SIGKILL at random points while clients
//! write, and agents killed with SIGKILL again and again under running and finishing tasks.
//! Each loop checks what the system promises: every acknowledged write is there after the
//! restart, nothing half-written is visible, no task restarts, and every task's states reach
//! the scheduler once each, in order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atoll_model::{JobSpec, ProcessSpec, Resources, TaskSpec};
use atoll_proto::v1::{self, scheduler_service_client::SchedulerServiceClient};
use serde_json::Value;

use crate::{Cluster, Daemon, eventually, free_port, printed, start_scheduler_on};

/// A small deterministic random stream (xorshift64*), so a failing loop replays from its seed.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed.max(1))
    }

    /// A number in `range`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (high - low + 1)
    }
}

/// Instances of every job the writers create: a job seen with fewer was half-written.
const INSTANCES: u32 = 3;

/// What the writers know of each job they touched.
#[derive(Debug, Default)]
struct Ledger {
    /// Created, and the create was acknowledged; not killed since.
    present: BTreeSet<String>,
    /// Killed, and the kill was acknowledged.
    absent: BTreeSet<String>,
    /// A create or kill that got no answer: either outcome is allowed, but never half of one.
    in_doubt: BTreeSet<String>,
}

/// What a run of scheduler crash loops did.
#[derive(Debug, Default)]
pub struct SchedulerCrashes {
    pub loops: usize,
    pub acknowledged_creates: usize,
    pub acknowledged_kills: usize,
    pub unanswered: usize,
    /// Jobs checked after restarts, summed over the loops.
    pub checked: usize,
}

fn job_config(name: &str) -> v1::JobConfig {
    let task =
        TaskSpec::new(vec![ProcessSpec::new("p", "sleep 1")], Resources { cpu: 0.1, ram_mb: 8, disk_mb: 8, gpu: 0 });
    let mut spec = JobSpec::new(format!("devcluster/www-data/devel/{name}").parse().expect("a job key"), task);
    spec.instances = INSTANCES;
    v1::JobConfig::from(&spec)
}

/// `loops` times: starts the scheduler `atoll` on one data directory, checks the ledger
/// against what it lists, has four clients create and kill jobs, and kills the scheduler with
/// SIGKILL after a random time, mid-write.
pub fn scheduler_crash_loops(atoll: &Path, loops: usize, seed: u64) -> SchedulerCrashes {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut random = Random::new(seed);
    let mut report = SchedulerCrashes { loops, ..SchedulerCrashes::default() };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    for round in 0..loops {
        let scheduler = start_scheduler_on(atoll, &format!("scheduler-{round}"), dir.path(), &data, port, false, &[]);
        let listed = runtime.block_on(listed_jobs(&url));
        report.checked += check_ledger(&ledger.lock().expect("ledger"), &listed, seed, round, &scheduler);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|client| {
                let (url, ledger, stop) = (url.clone(), ledger.clone(), stop.clone());
                runtime.spawn(write(url, format!("r{round}-c{client}"), ledger, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(random.between(50, 600)));
        scheduler.crash();
        stop.store(true, Ordering::SeqCst);
        for writer in writers {
            runtime.block_on(writer).expect("a writer");
        }
    }
    // The last loop's writes too: one more start, checked, and stopped.
    let scheduler = start_scheduler_on(atoll, "scheduler-last", dir.path(), &data, port, false, &[]);
    let listed = runtime.block_on(listed_jobs(&url));
    report.checked += check_ledger(&ledger.lock().expect("ledger"), &listed, seed, loops, &scheduler);
    scheduler.crash();
    let ledger = ledger.lock().expect("ledger");
    report.acknowledged_creates = ledger.present.len() + ledger.absent.len();
    report.acknowledged_kills = ledger.absent.len();
    report.unanswered = ledger.in_doubt.len();
    report
}

/// Every job the scheduler lists: name, (instances, pending).
async fn listed_jobs(url: &str) -> BTreeMap<String, (u32, u32)> {
    let mut client = SchedulerServiceClient::connect(url.to_owned()).await.expect("connect");
    let request = v1::ListJobsRequest { cluster: "devcluster".into(), ..Default::default() };
    let jobs = client.list_jobs(request).await.expect("list jobs").into_inner().jobs;
    jobs.into_iter().map(|j| (j.key.map(|k| k.name).unwrap_or_default(), (j.instances, j.pending))).collect()
}

/// Checks the restarted scheduler's jobs against the ledger; returns how many were checked.
fn check_ledger(
    ledger: &Ledger,
    listed: &BTreeMap<String, (u32, u32)>,
    seed: u64,
    round: usize,
    scheduler: &Daemon,
) -> usize {
    let context = || format!("seed {seed}, loop {round}; the scheduler's log:\n{}", scheduler.log());
    for name in &ledger.present {
        assert!(listed.contains_key(name), "acknowledged create of {name} lost ({})", context());
    }
    for name in &ledger.absent {
        assert!(!listed.contains_key(name), "acknowledged kill of {name} undone ({})", context());
    }
    for (name, (instances, pending)) in listed {
        assert!(
            ledger.present.contains(name) || ledger.in_doubt.contains(name),
            "{name} is listed but was never created or its kill was acknowledged ({})",
            context()
        );
        // Nothing half-written: a job is there with all its tasks, or not at all.
        assert_eq!((*instances, *pending), (INSTANCES, INSTANCES), "{name} is half there ({})", context());
    }
    listed.len()
}

/// One client: creates jobs named `PREFIX-N` and kills every third one it created, recording
/// each answer (or its absence), until `stop` is set or the scheduler stops answering.
async fn write(url: String, prefix: String, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let Ok(mut client) = SchedulerServiceClient::connect(url).await else { return };
    let mut created = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let name = format!("{prefix}-{n}");
        let answer = client.create_job(v1::CreateJobRequest { job: Some(job_config(&name)) }).await;
        let answered = {
            let mut ledger = ledger.lock().expect("ledger");
            match answer {
                Ok(_) => {
                    ledger.present.insert(name.clone());
                    true
                }
                Err(_) => {
                    ledger.in_doubt.insert(name.clone());
                    false
                }
            }
        };
        if !answered {
            return;
        }
        created.push(name);
        if n % 3 == 2 {
            let victim = created.remove(0);
            let key = job_config(&victim).key;
            let answer =
                client.kill_tasks(v1::KillTasksRequest { job: key, instances: Vec::new(), kill_all: true }).await;
            let answered = {
                let mut ledger = ledger.lock().expect("ledger");
                ledger.present.remove(&victim);
                let answered = answer.is_ok();
                if answered {
                    ledger.absent.insert(victim);
                } else {
                    ledger.in_doubt.insert(victim);
                }
                answered
            };
            if !answered {
                return;
            }
        }
    }
}

/// What a run of agent crash loops did.
#[derive(Debug, Default)]
pub struct AgentCrashes {
    pub loops: usize,
    pub services_kept: usize,
    pub batch_finished: usize,
    pub ends_found_after_restart: usize,
    /// Ends a start found that an earlier start had found too (killed before the scheduler's
    /// acknowledgement reached it).
    pub ends_found_again: usize,
}

/// A service of 3 instances and a batch job of 6 whose tasks run 2 to 7 s on a cluster of two
/// agents; `loops` times both agents are killed with SIGKILL and started again after a random
/// pause. Then: every service task is the one first started, RUNNING; every batch task ran
/// once and FINISHED; each task's history has each state once, in order (a STARTING not yet
/// delivered when its agent died folds into RUNNING), its end recorded once however often a
/// restarted agent found it.
pub fn agent_crash_loops(loops: usize, seed: u64) -> AgentCrashes {
    let mut cluster = Cluster::start(60);
    let mut random = Random::new(seed);
    let file = cluster.dir.path().join("crash.rhai");
    std::fs::write(
        &file,
        r#"let steady = Process(#{ name: "steady", cmdline: "exec sleep 600" });
let short = Process(#{ name: "short", cmdline: "sleep $(( {{mesos.instance}} + 2 ))" });
let small = Resources(#{ cpu: 0.05, ram: 8 * MB, disk: 8 * MB });
let jobs = [
  Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "steady", instances: 3,
             task: SequentialTask(#{ processes: [steady], resources: small }) }),
  Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "short", instances: 6,
         task: SequentialTask(#{ processes: [short], resources: small }) }),
];
"#,
    )
    .expect("write the job file");
    let steady = "devcluster/www-data/devel/steady";
    let short = "devcluster/www-data/devel/short";
    let created = cluster.job(&["create", steady, file.to_str().expect("utf-8"), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let created = cluster.job(&["create", short, file.to_str().expect("utf-8")]);
    assert!(created.status.success(), "{}", printed(&created));
    // Every batch task launched before the first crash: a crash in the middle of a launch is
    // reported LOST and run again, by design, which is not what these loops look at.
    eventually("every batch task to run", Duration::from_secs(30), || {
        let status = cluster.status(short);
        let instances = status["instances"].as_array().cloned().unwrap_or_default();
        let launched = |i: &Value| i["status"] == "RUNNING" || i["status"] == "FINISHED";
        (instances.len() == 6 && instances.iter().all(launched)).then_some(())
    });
    let first_runs: Vec<Value> = ids(&cluster.status(steady));
    for _ in 0..loops {
        for name in ["agent-1", "agent-2"] {
            cluster.crash_agent(name);
        }
        std::thread::sleep(Duration::from_millis(random.between(0, 700)));
        for index in [1, 2] {
            cluster.restart_agent(index);
        }
        std::thread::sleep(Duration::from_millis(random.between(200, 1_200)));
    }
    let context = |cluster: &Cluster| {
        let logs: Vec<String> = cluster.agents.iter().map(|a| format!("{}:\n{}", a.name, a.log())).collect();
        format!("seed {seed}; {}", logs.join("\n"))
    };
    let finished = eventually("the batch job to finish", Duration::from_secs(60), || {
        let status = cluster.status(short);
        let instances = status["instances"].as_array().cloned().unwrap_or_default();
        (instances.len() == 6 && instances.iter().all(|i| i["status"] == "FINISHED")).then_some(status)
    });
    let now = cluster.status(steady);
    assert_eq!(ids(&now), first_runs, "a service task was restarted ({})", context(&cluster));
    for (job, status) in [(steady, &now), (short, &finished)] {
        for instance in status["instances"].as_array().expect("instances") {
            assert!(
                instance["history"].as_array().is_none_or(Vec::is_empty),
                "{job}: an instance ran more than once: {instance} ({})",
                context(&cluster)
            );
        }
    }
    for instance in 0..6 {
        let events =
            crate::atoll(&["task", "events", &format!("{short}/{instance}"), "--json", "--scheduler", &cluster.url]);
        let events: Value = serde_json::from_slice(&events.stdout).expect("task events --json");
        let states: Vec<String> = events["runs"][0]["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["state"].as_str().unwrap_or_default().to_owned())
            .collect();
        // Each state once, in order. A STARTING that an agent killed before it could deliver
        // it is folded into the RUNNING its successor reports (ASSIGNED to RUNNING is legal,
        // as in Aurora); RUNNING and the end are never missed and never doubled.
        let order = ["INIT", "PENDING", "ASSIGNED", "STARTING", "RUNNING", "FINISHED"];
        let expected: Vec<&str> =
            order.into_iter().filter(|s| *s != "STARTING" || states.iter().any(|x| x == s)).collect();
        assert_eq!(states, expected, "{short}/{instance}: each state once, in order ({})", context(&cluster));
    }
    // Every start of an agent logged to a file of its own: an end found by one start and
    // delivered is never found again by a later one.
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(cluster.dir.path()).expect("the cluster's directory").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("agent-") && name.ends_with(".log")) {
            continue;
        }
        let log = without_colours(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        for line in log.lines().filter(|l| l.contains("found a task that ended while the agent was away")) {
            let task = line.split_whitespace().find_map(|word| word.strip_prefix("task=")).unwrap_or(line);
            *found.entry(task.to_owned()).or_default() += 1;
        }
    }
    // Delivery is at least once: a start killed before the scheduler's acknowledgement reached
    // it leaves the end to be found again by the next. Each end is recorded once all the same
    // (the histories above); how many were found again is reported.
    let found_again = found.values().map(|times| times - 1).sum();
    let _ = cluster.job(&["killall", steady]);
    AgentCrashes {
        loops,
        services_kept: first_runs.len(),
        // Finished, each in one run (checked above for every instance).
        batch_finished: finished["instances"]
            .as_array()
            .map_or(0, |all| all.iter().filter(|i| i["status"] == "FINISHED").count()),
        ends_found_after_restart: found.len(),
        ends_found_again: found_again,
    }
}

/// Each instance's task id, from `job status --json`.
fn ids(status: &Value) -> Vec<Value> {
    status["instances"].as_array().map(|i| i.iter().map(|i| i["task_id"].clone()).collect()).unwrap_or_default()
}

/// `text` without ANSI colour sequences (`ESC [ … m`), as the agents' logs have them.
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for end in chars.by_ref() {
                if end == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

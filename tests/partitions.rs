//! A real partition on one machine (root: network namespaces): agent-1 runs in a network
//! namespace of its own, joined to the scheduler by a veth pair, and is cut off by taking the
//! link down, then rejoined. Checked: a job whose `partition_policy` waits is PARTITIONED, never
//! replaced, and RUNNING again, the same run, once the agent is back; a job without one is LOST
//! and replaced on agent-2, and its old copy, still running on agent-1, is killed after the
//! heal; no instance ever has two active tasks; and new work for agent-1 is placed there only
//! once the old copy's room is free (the orphan holds it meanwhile).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use atoll_tests::{
    Daemon, atoll_as, atoll_binary, eventually, executor_status, free_port, group_alive, kill_sandbox_processes,
    printed, start_scheduler_on,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const USER: &str = "alice-token";
const AGENT: &str = "agent-token";

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(output.status.success(), "ip {}: {}", args.join(" "), printed(&output));
}

/// A network namespace joined to this one by a veth pair: `host_ip` on this side, `inner_ip`
/// inside. Removed, with the pair, when dropped.
struct Namespace {
    name: String,
    host_link: String,
    host_ip: String,
    inner_ip: String,
}

impl Namespace {
    fn new() -> Namespace {
        let tag = std::process::id() % 100_000;
        let subnet = 1 + std::process::id() % 250;
        let ns = Namespace {
            name: format!("atoll-p{tag}"),
            host_link: format!("atph{tag}"),
            host_ip: format!("10.213.{subnet}.1"),
            inner_ip: format!("10.213.{subnet}.2"),
        };
        let inner_link = format!("atpn{tag}");
        let _ = Command::new("ip").args(["netns", "del", &ns.name]).output();
        ip(&["netns", "add", &ns.name]);
        ip(&["link", "add", &ns.host_link, "type", "veth", "peer", "name", &inner_link]);
        ip(&["link", "set", &inner_link, "netns", &ns.name]);
        ip(&["addr", "add", &format!("{}/30", ns.host_ip), "dev", &ns.host_link]);
        ip(&["link", "set", &ns.host_link, "up"]);
        ip(&["netns", "exec", &ns.name, "ip", "addr", "add", &format!("{}/30", ns.inner_ip), "dev", &inner_link]);
        ip(&["netns", "exec", &ns.name, "ip", "link", "set", &inner_link, "up"]);
        ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]);
        ns
    }

    fn cut(&self) {
        ip(&["link", "set", &self.host_link, "down"]);
    }

    fn heal(&self) {
        ip(&["link", "set", &self.host_link, "up"]);
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_link]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Kills whatever tasks the agents left in `dirs`, even when the test fails.
struct Leftovers(Vec<PathBuf>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for dir in &self.0 {
            for entry in std::fs::read_dir(dir.join("sandboxes")).into_iter().flatten().flatten() {
                kill_sandbox_processes(&entry.path());
            }
        }
    }
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn job_file(dir: &Path) -> PathBuf {
    let file = dir.join("jobs.rhai");
    std::fs::write(
        &file,
        r#"let sleeper = Process(#{ name: "sleeper", cmdline: "exec sleep 600" });
// The mover's old copy takes its time to stop (SIGTERM ignored, SIGKILL after 2 s), so placing
// beside it too early would be seen.
let stubborn = Process(#{ name: "stubborn", cmdline: "trap '' TERM; while true; do sleep 1; done" });
let task = |cpu| SequentialTask(#{ processes: [sleeper], resources: Resources(#{ cpu: cpu, ram: 16 * MB, disk: 16 * MB }) });
let slow_to_stop = SequentialTask(#{ processes: [stubborn], finalization_wait: 2,
                                     resources: Resources(#{ cpu: 0.4, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [
  Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "waiter", task: task.call(0.3),
             constraints: #{ host: "agent-1" }, partition_policy: PartitionPolicy(#{ reschedule: false }) }),
  Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "mover", task: slow_to_stop }),
  Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "filler", task: task.call(0.4),
             constraints: #{ host: "agent-1" } }),
];
"#,
    )
    .unwrap();
    file
}

#[test]
fn a_partitioned_agent_keeps_what_waits_for_it_and_its_replaced_copies_die_when_it_is_back() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "partitions are made with network namespaces, which need root: run this test as root (CI does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new();
    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "[users.alice]\ntoken_sha256 = \"{}\"\nroles = [\"www-data\"]\n\n[users.agents]\ntoken_sha256 = \"{}\"\nagent = true\n",
            digest(USER),
            digest(AGENT)
        ),
    )
    .unwrap();
    let token_file = dir.path().join("agent.token");
    std::fs::write(&token_file, AGENT).unwrap();
    let port = free_port();
    let data = dir.path().join("scheduler");
    let extra = ["--cluster", "devcluster", "--agent-timeout-secs", "3", "--auth", auth.to_str().unwrap()];
    let _scheduler = start_scheduler_on(atoll_binary(), "scheduler", dir.path(), &data, port, true, &extra);
    let local = format!("http://127.0.0.1:{port}");
    let work = |n: u32| dir.path().join(format!("agent-{n}"));
    let _leftovers = Leftovers(vec![work(1), work(2)]);
    let agent_args = |n: u32, scheduler: &str| -> Vec<String> {
        let first = 12_000 + (port % 1000) as u32 * 20 + 10 * n;
        [
            "agent",
            "--scheduler",
            scheduler,
            "--work-dir",
            work(n).to_str().unwrap(),
            "--hostname",
            &format!("agent-{n}"),
            "--attributes",
            &format!("host:agent-{n}"),
            "--resources",
            &format!("cpus:1;mem:512;disk:512;ports:[{first}-{}]", first + 9),
            "--token-file",
            token_file.to_str().unwrap(),
            "--no-switch-user",
            "--no-isolation",
            "--on-exit",
            "kill",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let through_link = format!("http://{}:{port}", ns.host_ip);
    let mut inside: Vec<String> = vec!["netns".into(), "exec".into(), ns.name.clone()];
    inside.push(atoll_binary().display().to_string());
    inside.extend(agent_args(1, &through_link));
    let inside: Vec<&str> = inside.iter().map(String::as_str).collect();
    let _agent_1 = Daemon::start_program(Path::new("ip"), "agent-1", dir.path(), &inside);

    let as_user = |args: &[&str]| atoll_as(USER, &[args, &["--scheduler", &local]].concat());
    let status = |job: &str| -> Value {
        let output = as_user(&["job", "status", &format!("devcluster/www-data/devel/{job}"), "--json"]);
        assert!(output.status.success(), "{}", printed(&output));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()["instances"].clone()
    };
    let file = job_file(dir.path());
    for job in ["waiter", "mover"] {
        let key = format!("devcluster/www-data/devel/{job}");
        let created = as_user(&["job", "create", &key, file.to_str().unwrap(), "--wait-until", "RUNNING"]);
        assert!(created.status.success(), "{}", printed(&created));
        assert_eq!(status(job)[0]["host"], "agent-1", "{job} starts on the only agent");
    }
    let agent_2_args = agent_args(2, &local);
    let agent_2_args: Vec<&str> = agent_2_args.iter().map(String::as_str).collect();
    let _agent_2 = Daemon::start("agent-2", dir.path(), &agent_2_args);
    let waiter = status("waiter")[0].clone();
    let mover = status("mover")[0].clone();
    let mover_sandbox = PathBuf::from(mover["sandbox"].as_str().unwrap());
    let mover_group = executor_status(&mover_sandbox).unwrap()["process_groups"][0].as_i64().unwrap() as i32;

    ns.cut();
    eventually("the waiter to be PARTITIONED", Duration::from_secs(30), || {
        (status("waiter")[0]["status"] == "PARTITIONED").then_some(())
    });
    eventually("the mover to run again on agent-2", Duration::from_secs(30), || {
        let now = status("mover")[0].clone();
        (now["status"] == "RUNNING" && now["host"] == "agent-2").then_some(())
    });
    assert!(group_alive(mover_group), "the old copy runs on behind the partition");
    let filler = "devcluster/www-data/devel/filler";
    let created = as_user(&["job", "create", filler, file.to_str().unwrap()]);
    assert!(created.status.success(), "{}", printed(&created));

    ns.heal();
    let back = eventually("the waiter to be RUNNING again", Duration::from_secs(60), || {
        let now = status("waiter")[0].clone();
        (now["status"] == "RUNNING").then_some(now)
    });
    assert_eq!(back["task_id"], waiter["task_id"], "the same run, never replaced");
    eventually("the old copy of the mover to be killed", Duration::from_secs(30), || {
        (!group_alive(mover_group)).then_some(())
    });
    let placed = eventually("the filler to run on agent-1", Duration::from_secs(30), || {
        let now = status("filler")[0].clone();
        (now["status"] == "RUNNING").then_some(now)
    });
    assert_eq!(placed["host"], "agent-1");

    // The filler fits only beside the waiter, not beside the old mover too (0.3 + 0.4 + 0.4 >
    // 1 cpu): it was placed once the old copy had ended, never while both ran.
    let events = as_user(&["task", "events", &format!("{filler}/0"), "--json"]);
    let events: Value = serde_json::from_slice(&events.stdout).unwrap();
    let assigned_ms = events["runs"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["state"] == "ASSIGNED")
        .and_then(|e| e["at_ms"].as_u64())
        .expect("the filler was assigned");
    let copy_ended = std::fs::metadata(mover_sandbox.join(".executor/status.jsonl")).unwrap().modified().unwrap();
    let copy_ended_ms = copy_ended.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(
        assigned_ms + 50 >= copy_ended_ms,
        "the filler was placed at {assigned_ms} ms, before the old copy ended at {copy_ended_ms} ms"
    );

    // One active task per instance throughout: the waiter kept its run, the mover has its new
    // one only.
    for job in ["waiter", "mover", "filler"] {
        let instances = status(job);
        assert_eq!(instances.as_array().unwrap().len(), 1, "{job}: {instances}");
        assert_eq!(instances[0]["status"], "RUNNING", "{job}: {instances}");
    }
    assert_eq!(status("mover")[0]["host"], "agent-2");
}

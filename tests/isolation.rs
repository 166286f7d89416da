//! Task isolation through the real binary on this host's cgroups: each task's group carries its
//! cpu and memory limits and goes away with the task; a task past its memory limit ends FAILED
//! "Memory limit exceeded"; a task past its disk limit is killed and reported with that reason.

use std::path::Path;
use std::time::Duration;

use atoll_tests::{Cluster, eventually, executor_status, printed};

fn job_file(cluster: &Cluster, name: &str, cmdline: &str, ram_mb: u32, disk_mb: u32) -> String {
    let path = cluster.dir.path().join(format!("{name}.rhai"));
    std::fs::write(
        &path,
        format!(
            r#"let p = Process(#{{ name: "{name}", cmdline: "{cmdline}" }});
let t = SequentialTask(#{{ processes: [p], resources: Resources(#{{ cpu: 0.5, ram: {ram_mb} * MB, disk: {disk_mb} * MB }}) }});
let jobs = [ Job(#{{ cluster: "devcluster", role: "www-data", environment: "devel", name: "{name}", task: t }}) ];
"#
        ),
    )
    .expect("write job file");
    path.display().to_string()
}

#[test]
fn a_task_runs_in_its_own_group_with_its_limits_which_goes_away_with_it() {
    let cluster = Cluster::start(10);
    let file = job_file(&cluster, "limited", "sleep 600", 64, 16);
    let job = "devcluster/www-data/devel/limited";
    let created = cluster.job(&["create", job, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let task = cluster.status(job)["instances"][0].clone();
    let task_id = task["task_id"].as_str().unwrap();
    let memory = Path::new("/sys/fs/cgroup/memory").join(cluster.cgroup_parent()).join(task_id);
    let cpu = Path::new("/sys/fs/cgroup/cpu").join(cluster.cgroup_parent()).join(task_id);
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default().trim().to_owned();
    assert_eq!(read(&memory.join("memory.limit_in_bytes")), (64u64 << 20).to_string());
    assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "50000");
    let sandbox = task["sandbox"].as_str().unwrap();
    let status = executor_status(Path::new(sandbox)).expect("the executor's status");
    let executor = status["executor_pid"].as_i64().unwrap();
    for dir in [&memory, &cpu] {
        let procs = read(&dir.join("cgroup.procs"));
        assert!(!procs.lines().any(|pid| pid == executor.to_string()), "the executor stays outside: {procs}");
        let started = status["process_groups"][0].as_i64().unwrap();
        assert!(procs.lines().any(|pid| pid == started.to_string()), "the process it started is in: {procs}");
    }

    let killed = cluster.job(&["killall", job]);
    assert!(killed.status.success(), "{}", printed(&killed));
    eventually("the group to be removed", Duration::from_secs(10), || {
        (!memory.exists() && !cpu.exists()).then_some(())
    });
}

#[test]
fn a_task_past_its_memory_limit_fails_with_memory_limit_exceeded() {
    let cluster = Cluster::start(10);
    let hog = "python3 -c 'b = bytearray(300 * 1024 * 1024); import time; time.sleep(60)'";
    let file = job_file(&cluster, "hog", hog, 32, 16);
    let job = "devcluster/www-data/devel/hog";
    let created = cluster.job(&["create", job, &file]);
    assert!(created.status.success(), "{}", printed(&created));
    let end = cluster.ended(job);
    assert_eq!(end["status"], "FAILED", "{end}");
    assert!(end["message"].as_str().unwrap_or_default().starts_with("Memory limit exceeded"), "{end}");
}

#[test]
fn a_task_past_its_disk_limit_is_killed_and_says_why() {
    let cluster = Cluster::start(10);
    let file = job_file(&cluster, "filler", "head -c 8388608 /dev/zero > big; sleep 600", 64, 2);
    let job = "devcluster/www-data/devel/filler";
    let created = cluster.job(&["create", job, &file]);
    assert!(created.status.success(), "{}", printed(&created));
    let end = cluster.ended(job);
    assert_eq!(end["status"], "FAILED", "{end}");
    let message = end["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Disk limit exceeded: the sandbox uses"), "{end}");
    assert!(message.ends_with("of its 2 MB"), "{end}");
}

//! Full disks (root: small tmpfs mounts, filled up). The scheduler's data directory: a change
//! the disk cannot take fails with a message naming the disk, nothing of it goes out, and the
//! scheduler stops saying why; started again once there is room, it has every acknowledged
//! job, reads its store whole and takes new ones. An agent's work directory: a task that cannot
//! get its sandbox fails naming the disk, the agent lives on, and runs tasks again once there
//! is room.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use atoll_tests::{Cluster, atoll, atoll_binary, eventually, free_port, printed, start_scheduler_on};

/// A tmpfs of `megabytes` mounted at `path`, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path, megabytes: u32) -> SmallDisk {
        assert!(
            nix::unistd::geteuid().is_root(),
            "full-disk tests mount small tmpfs file systems, which needs root: run them as root (CI does)"
        );
        std::fs::create_dir_all(path).unwrap();
        let size = format!("size={megabytes}m");
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(path).output().unwrap();
        assert!(mounted.status.success(), "mount: {}", printed(&mounted));
        SmallDisk(path.to_owned())
    }

    /// Fills the disk to the last byte with a file of its own.
    fn fill(&self) {
        let filled = Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", self.filler().display()))
            .output()
            .unwrap();
        assert!(!filled.status.success(), "dd stops at a full disk: {}", printed(&filled));
    }

    fn make_room(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }

    fn filler(&self) -> PathBuf {
        self.0.join("filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

fn job_file(dir: &Path, name: &str, host: Option<&str>) -> PathBuf {
    let file = dir.join(format!("{name}.rhai"));
    let constraint = host.map(|h| format!(", constraints: #{{ host: \"{h}\" }}")).unwrap_or_default();
    std::fs::write(
        &file,
        format!(
            r#"let p = Process(#{{ name: "p", cmdline: "exec sleep 600" }});
let t = SequentialTask(#{{ processes: [p], resources: Resources(#{{ cpu: 0.05, ram: 8 * MB, disk: 1 * MB }}) }});
let jobs = [ Service(#{{ cluster: "devcluster", role: "www-data", environment: "devel", name: "{name}", task: t{constraint} }}) ];
"#
        ),
    )
    .unwrap();
    file
}

#[test]
fn a_full_data_directory_stops_the_scheduler_cleanly_and_it_recovers_once_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("disk"), 16);
    let data = dir.path().join("disk/data");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let start = |name: &str| start_scheduler_on(atoll_binary(), name, dir.path(), &data, port, false, &[]);
    let mut scheduler = start("scheduler");
    let create = |name: &str| {
        let file = job_file(dir.path(), name, None);
        atoll(&[
            "job",
            "create",
            &format!("devcluster/www-data/devel/{name}"),
            file.to_str().unwrap(),
            "--scheduler",
            &url,
        ])
    };
    let first = create("before");
    assert!(first.status.success(), "{}", printed(&first));
    disk.fill();
    let mut acknowledged = vec!["before".to_owned()];
    let refusal = (0..500)
        .find_map(|n| {
            let name = format!("full-{n}");
            let created = create(&name);
            if created.status.success() {
                acknowledged.push(name);
                None
            } else {
                Some(created)
            }
        })
        .expect("a change the full disk cannot take");
    let said = printed(&refusal);
    assert!(said.contains("No space left on device") && said.contains("is stopping"), "{said}");
    assert!(!said.contains("Os {"), "the disk's error in words, not a debug dump: {said}");
    let status = scheduler.wait(Duration::from_secs(30));
    assert!(!status.success(), "the scheduler stops with an error");
    let log = scheduler.log();
    assert!(log.contains("the data directory's disk did not take a change"), "{log}");

    disk.make_room();
    let _scheduler = start("scheduler-again");
    let listed = atoll(&["job", "list", "devcluster", "--json", "--scheduler", &url]);
    assert!(listed.status.success(), "the store reads whole: {}", printed(&listed));
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for name in &acknowledged {
        assert!(
            listed.contains(&format!("devcluster/www-data/devel/{name}\"")),
            "{name} acknowledged, so kept: {listed}"
        );
    }
    let after = create("after");
    assert!(after.status.success(), "new changes are taken: {}", printed(&after));
}

#[test]
fn a_full_work_directory_fails_the_task_naming_the_disk_and_the_agent_runs_tasks_once_there_is_room() {
    let cluster = Cluster::start(10);
    let disk = SmallDisk::mount(&cluster.dir.path().join("agent-3-disk"), 8);
    let work = cluster.dir.path().join("agent-3-disk/work");
    let mut agent = cluster.start_extra_agent("agent-3", &work, "cpus:1;mem:512;disk:512", &["--on-exit", "kill"]);
    eventually("agent-3 to register", Duration::from_secs(20), || agent.log().contains("registered").then_some(()));
    disk.fill();
    let job = "devcluster/www-data/devel/cramped";
    let file = job_file(cluster.dir.path(), "cramped", Some("agent-3"));
    let created = cluster.job(&["create", job, file.to_str().unwrap()]);
    assert!(created.status.success(), "{}", printed(&created));
    let failed = eventually("the task to fail", Duration::from_secs(30), || {
        let status = cluster.status(job);
        let entry = status["instances"][0].clone();
        let runs = [vec![entry.clone()], entry["history"].as_array().cloned().unwrap_or_default()].concat();
        runs.into_iter().find(|run| run["status"] == "FAILED")
    });
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(message.contains("No space left on device"), "the disk named: {failed}");
    assert!(agent.is_running(), "the agent lives on: {}", agent.log());

    disk.make_room();
    eventually("a run once there is room", Duration::from_secs(60), || {
        (cluster.status(job)["instances"][0]["status"] == "RUNNING").then_some(())
    });
    let _ = cluster.job(&["killall", job]);
}

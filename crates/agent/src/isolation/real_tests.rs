//! Integration tests on this host's real cgroups (v1 here; v2 paths are checked where a host has
//! them). They need root and skip, saying why, only when no cgroup memory hierarchy is mounted or
//! it is not writable. They move only `sleep` and `python3` children they spawn themselves into
//! groups named `test-<pid>-…` under the `atoll` parent, and a [`Cleanup`] guard kills those
//! children and removes the groups however a test ends.

use std::error::Error;
use std::fs;
use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

type TestResult = Result<(), Box<dyn Error>>;

const MIB: u64 = 1024 * 1024;

/// The host's isolator, or `None` (with the reason printed) where these tests cannot run.
fn real_isolator(test: &str) -> Result<Option<CgroupfsIsolator>, IsolationError> {
    let base = Path::new(DEFAULT_BASE);
    if !base.join("memory").is_dir() && !base.join("cgroup.controllers").is_file() {
        eprintln!("skipping {test}: no cgroup memory hierarchy under {DEFAULT_BASE}");
        return Ok(None);
    }
    match detect_at(base, DEFAULT_PARENT) {
        Ok(Some(isolator)) => Ok(Some(isolator.with_timeouts(Duration::from_secs(10), Duration::from_secs(2)))),
        Ok(None) => {
            eprintln!("skipping {test}: no usable cgroup layout under {DEFAULT_BASE}");
            Ok(None)
        }
        Err(e) if e.io_error().is_some_and(|io| io.kind() == io::ErrorKind::PermissionDenied) => {
            eprintln!("skipping {test}: {e}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Kills the test's children and removes its group when the test ends, passed or failed.
struct Cleanup {
    group: TaskGroup,
    children: Vec<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.group.kill_all();
        let _ = self.group.remove();
    }
}

fn create(isolator: &CgroupfsIsolator, name: &str, limits: &Limits) -> Result<Cleanup, IsolationError> {
    let task_id = format!("test-{}-{name}", std::process::id());
    Ok(Cleanup { group: isolator.create(&task_id, limits)?, children: Vec::new() })
}

/// The group's directory in the hierarchy of `controller` (v1), or its only directory (v2).
fn dir_with(isolator: &CgroupfsIsolator, group: &TaskGroup, controller: &str) -> PathBuf {
    match isolator.version() {
        CgroupVersion::V1 { controllers } => {
            controllers.get(controller).map(|m| m.join(DEFAULT_PARENT).join(group.task_id())).unwrap_or_default()
        }
        CgroupVersion::V2 { root } => root.join(DEFAULT_PARENT).join(group.task_id()),
    }
}

fn read_trimmed(path: &Path) -> io::Result<String> {
    Ok(fs::read_to_string(path)?.trim().to_owned())
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(None)
}

#[test]
fn real_check_host_finds_the_hosts_cgroups() -> TestResult {
    if real_isolator("real_check_host_finds_the_hosts_cgroups")?.is_none() {
        return Ok(());
    }
    match check_host(Path::new(DEFAULT_BASE), DEFAULT_PARENT) {
        HostIsolation::Available(isolator) => {
            let expected = CgroupVersion::detect(Path::new(DEFAULT_BASE)).ok_or("no layout detected")?;
            assert_eq!(isolator.version(), &expected);
            let v1_memory = Path::new(DEFAULT_BASE).join("memory/memory.limit_in_bytes").is_file();
            assert_eq!(isolator.version().name(), if v1_memory { "v1" } else { "v2" });
            eprintln!("check_host: {}", isolator.describe());
        }
        HostIsolation::Unavailable { reason } => panic!("{reason}"),
    }
    Ok(())
}

#[test]
fn real_group_limits_processes_kill_and_remove() -> TestResult {
    let Some(isolator) = real_isolator("real_group_limits_processes_kill_and_remove")? else { return Ok(()) };
    let mut cleanup = create(&isolator, "limits", &limits_of(0.5, 64 * MIB, Some(64)))?;
    let group = cleanup.group.clone();
    let (memory, cpu) = (dir_with(&isolator, &group, "memory"), dir_with(&isolator, &group, "cpu"));
    match isolator.version() {
        CgroupVersion::V1 { .. } => {
            assert_eq!(read_trimmed(&memory.join("memory.limit_in_bytes"))?, "67108864");
            if memory.join("memory.memsw.limit_in_bytes").exists() {
                assert_eq!(read_trimmed(&memory.join("memory.memsw.limit_in_bytes"))?, "67108864");
            }
            assert_eq!(read_trimmed(&cpu.join("cpu.cfs_quota_us"))?, "50000");
            assert_eq!(read_trimmed(&cpu.join("cpu.cfs_period_us"))?, "100000");
            assert_eq!(read_trimmed(&cpu.join("cpu.shares"))?, "512");
            let pids = dir_with(&isolator, &group, "pids");
            if pids.is_dir() {
                assert_eq!(read_trimmed(&pids.join("pids.max"))?, "64");
            }
        }
        CgroupVersion::V2 { .. } => {
            assert_eq!(read_trimmed(&memory.join("memory.max"))?, "67108864");
            assert_eq!(read_trimmed(&memory.join("cpu.max"))?, "50000 100000");
            assert_eq!(read_trimmed(&memory.join("pids.max"))?, "64");
        }
    }

    let child = Command::new("sleep").arg("30").spawn()?;
    let pid = child.id();
    cleanup.children.push(child);
    group.add_process(pid)?;
    assert_eq!(group.pids()?, [pid]);
    assert_eq!(read_trimmed(&memory.join("cgroup.procs"))?, pid.to_string());
    // The kernel's own view of the child's membership.
    let membership = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let (line_marker, has_cpuacct) = match isolator.version() {
        CgroupVersion::V1 { controllers } => (":memory:", controllers.contains_key("cpuacct")),
        CgroupVersion::V2 { .. } => ("0::", true),
    };
    let expected = format!("/{DEFAULT_PARENT}/{}", group.task_id());
    assert!(membership.lines().any(|l| l.contains(line_marker) && l.ends_with(&expected)), "{membership}");
    assert!(group.memory_usage_bytes()?.is_some());
    assert_eq!(group.cpu_usage_nanos()?.is_some(), has_cpuacct);
    assert!(!group.oom_killed()?);
    assert_eq!(isolator.open(group.task_id())?.map(|g| g.dirs()), Some(group.dirs()));
    assert!(isolator.task_ids()?.contains(&group.task_id().to_owned()));

    // An occupied group cannot be removed: the kernel keeps saying busy until remove gives up.
    let error = group.remove().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.starts_with(&format!("cannot remove directory {}", memory.display())), "{error}");

    // kill_all returns once the group is empty, before the test has even reaped its child.
    group.kill_all()?;
    assert!(group.pids()?.is_empty());
    let status = cleanup.children[0].wait()?;
    assert_eq!(status.signal(), Some(9));

    group.remove()?;
    assert!(group.dirs().iter().all(|d| !d.exists()), "{:?}", group.dirs());
    assert!(isolator.open(group.task_id())?.is_none());
    Ok(())
}

#[test]
fn real_memory_hog_is_oom_killed() -> TestResult {
    let Some(isolator) = real_isolator("real_memory_hog_is_oom_killed")? else { return Ok(()) };
    let mut cleanup = create(&isolator, "oom", &limits_of(1.0, 32 * MIB, None))?;
    let group = cleanup.group.clone();
    let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    // The hog waits for a line on stdin, so it allocates only once it is in the group.
    let script = "import sys, time\nsys.stdin.readline()\nb = b'x' * (200 * 1024 * 1024)\ntime.sleep(10)\n";
    let child = Command::new(python).args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
    let pid = child.id();
    cleanup.children.push(child);
    group.add_process(pid)?;
    assert!(!group.oom_killed()?);
    let hog = &mut cleanup.children[0];
    hog.stdin.take().ok_or("no stdin")?.write_all(b"go\n")?;
    let status = wait_with_timeout(hog, Duration::from_secs(30))?.ok_or("the hog was not killed within 30 s")?;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    assert!(group.oom_killed()?);
    let memory = dir_with(&isolator, &group, "memory");
    let evidence = ["memory.oom_control", "memory.events", "memory.failcnt", "memory.max_usage_in_bytes"]
        .iter()
        .filter_map(|f| {
            fs::read_to_string(memory.join(f)).ok().map(|t| format!("{f}: {}", t.trim().replace('\n', ", ")))
        })
        .collect::<Vec<_>>();
    eprintln!("OOM evidence for {}: {}", group.task_id(), evidence.join("; "));
    group.kill_all()?;
    group.remove()?;
    Ok(())
}

fn limits_of(cpu: f64, memory_bytes: u64, pids: Option<u64>) -> Limits {
    Limits { cpu, memory_bytes, pids }
}

#[test]
fn real_group_entry_puts_each_started_process_in_the_group_and_leaves_the_starter_out() -> TestResult {
    let Some(isolator) = real_isolator("real_group_entry_puts_each_started_process_in_the_group")? else {
        return Ok(());
    };
    let cleanup = create(&isolator, "entry", &Limits { cpu: 0.5, memory_bytes: 64 * MIB, pids: None })?;
    let entry = atoll_sandbox::ChildSetup::open(&cleanup.group.dirs(), None)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (pid, members) = runtime.block_on(async {
        let mut command = tokio::process::Command::new("sleep");
        command.arg("30").kill_on_drop(true);
        entry.apply(command.as_std_mut());
        let mut child = command.spawn()?;
        let pid = child.id().ok_or("the child has a pid")?;
        let members = cleanup.group.pids()?;
        child.kill().await?;
        Ok::<_, Box<dyn Error>>((pid, members))
    })?;
    assert_eq!(members, [pid], "the child, and only the child, is in the group");
    for dir in cleanup.group.dirs() {
        let procs = read_trimmed(&dir.join("cgroup.procs"))?;
        assert!(!procs.lines().any(|p| p == std::process::id().to_string()), "the starter stays out of {dir:?}");
    }
    Ok(())
}

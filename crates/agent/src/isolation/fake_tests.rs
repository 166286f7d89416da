//! Unit tests on fake cgroup trees in a temporary directory that imitate a v1 host (one
//! hierarchy per controller) and a v2 host (one unified hierarchy). A fake tree has no kernel
//! behind it: writes create files, `cgroup.procs` only ever grows, and nothing is enforced.
//! The only processes signalled are `sleep` children these tests spawn themselves.

use std::error::Error;
use std::fs;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use tempfile::TempDir;

use super::detect::unavailable_reason;
use super::group::{parse_memory_events, parse_oom_control};
use super::*;

type TestResult = Result<(), Box<dyn Error>>;

const MIB: u64 = 1024 * 1024;

fn limits(cpu: f64, memory_bytes: u64, pids: Option<u64>) -> Limits {
    Limits { cpu, memory_bytes, pids }
}

fn read(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
}

/// A v1 tree with the given controller directories and an `atoll` parent in each; the memory
/// parent has `memory.memsw.limit_in_bytes` when `memsw` (swap accounting on).
fn fake_v1(controllers: &[&str], memsw: bool) -> Result<(TempDir, CgroupfsIsolator), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    for controller in controllers {
        fs::create_dir_all(dir.path().join(controller).join("atoll"))?;
        fs::write(dir.path().join(controller).join("cgroup.procs"), "")?;
    }
    if memsw {
        fs::write(dir.path().join("memory/atoll/memory.memsw.limit_in_bytes"), "9223372036854771712\n")?;
    }
    let version = CgroupVersion::from_layout(dir.path()).ok_or("fake v1 tree not recognised")?;
    let isolator =
        CgroupfsIsolator::new(version, "atoll")?.with_timeouts(Duration::from_millis(200), Duration::from_millis(50));
    Ok((dir, isolator))
}

/// A v2 tree whose root offers cpu, memory and pids; the parent has `cgroup.kill` when `kill`.
fn fake_v2(controllers: &str, kill: bool) -> Result<(TempDir, CgroupfsIsolator), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    fs::write(dir.path().join("cgroup.controllers"), controllers)?;
    fs::write(dir.path().join("cgroup.subtree_control"), "")?;
    fs::create_dir(dir.path().join("atoll"))?;
    fs::write(dir.path().join("atoll/memory.swap.max"), "max\n")?;
    if kill {
        fs::write(dir.path().join("atoll/cgroup.kill"), "")?;
    }
    let version = CgroupVersion::from_layout(dir.path()).ok_or("fake v2 tree not recognised")?;
    let isolator =
        CgroupfsIsolator::new(version, "atoll")?.with_timeouts(Duration::from_millis(200), Duration::from_millis(50));
    Ok((dir, isolator))
}

/// A `sleep` child that is killed and reaped however the test ends.
struct Sleeper(Child);

impl Sleeper {
    fn spawn() -> io::Result<Sleeper> {
        Command::new("sleep").arg("30").spawn().map(Sleeper)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn limits_convert_cores_to_shares_quota_and_weight() {
    let half = limits(0.5, MIB, None);
    assert_eq!((half.cpu_shares(), half.cpu_quota_us(), half.cpu_weight()), (512, 50_000, 20));
    let two = limits(2.0, MIB, None);
    assert_eq!((two.cpu_shares(), two.cpu_quota_us(), two.cpu_weight()), (2048, 200_000, 79));
    let tiny = limits(0.001, MIB, None);
    assert_eq!((tiny.cpu_shares(), tiny.cpu_quota_us(), tiny.cpu_weight()), (2, 1000, 1));
    let resources = atoll_model::Resources { cpu: 1.5, ram_mb: 128, disk_mb: 10, gpu: 0 };
    assert_eq!(Limits::from_resources(&resources), limits(1.5, 128 * MIB, None));
    for bad in [limits(0.0, MIB, None), limits(f64::NAN, MIB, None), limits(1.0, 0, None), limits(1.0, MIB, Some(0))] {
        assert!(matches!(bad.validate(), Err(IsolationError::InvalidLimits(_))), "{bad:?}");
    }
}

#[test]
fn v1_create_writes_limits_in_each_hierarchy() -> TestResult {
    let (dir, isolator) = fake_v1(&["memory", "cpu", "cpuacct", "pids"], true)?;
    let group = isolator.create("t1", &limits(0.5, 50 * MIB, Some(100)))?;
    let base = dir.path();
    assert_eq!(read(&base.join("memory/atoll/t1/memory.limit_in_bytes"))?, "52428800\n");
    assert_eq!(read(&base.join("memory/atoll/t1/memory.memsw.limit_in_bytes"))?, "52428800\n");
    assert_eq!(read(&base.join("cpu/atoll/t1/cpu.cfs_period_us"))?, "100000\n");
    assert_eq!(read(&base.join("cpu/atoll/t1/cpu.cfs_quota_us"))?, "50000\n");
    assert_eq!(read(&base.join("cpu/atoll/t1/cpu.shares"))?, "512\n");
    assert_eq!(read(&base.join("pids/atoll/t1/pids.max"))?, "100\n");
    let expected: Vec<PathBuf> =
        ["memory", "cpu", "cpuacct", "pids"].iter().map(|c| base.join(c).join("atoll/t1")).collect();
    assert_eq!(group.dirs(), expected);
    assert!(expected.iter().all(|d| d.is_dir()));
    assert_eq!(isolator.describe(), "cgroup v1 (cpu, cpuacct, memory, pids) under atoll");

    // Creating again is idempotent and may raise the limit (memsw is raised first, both end equal).
    isolator.create("t1", &limits(0.5, 100 * MIB, None))?;
    assert_eq!(read(&base.join("memory/atoll/t1/memory.limit_in_bytes"))?, "104857600\n");
    assert_eq!(read(&base.join("memory/atoll/t1/memory.memsw.limit_in_bytes"))?, "104857600\n");
    Ok(())
}

#[test]
fn v1_without_swap_accounting_cpuacct_or_pids() -> TestResult {
    let (dir, isolator) = fake_v1(&["memory", "cpu"], false)?;
    let group = isolator.create("t1", &limits(1.0, 64 * MIB, Some(10)))?;
    assert_eq!(read(&dir.path().join("memory/atoll/t1/memory.limit_in_bytes"))?, "67108864\n");
    assert!(!dir.path().join("memory/atoll/t1/memory.memsw.limit_in_bytes").exists());
    assert_eq!(group.dirs().len(), 2);
    assert_eq!(group.cpu_usage_nanos()?, None, "no cpuacct hierarchy, no cpu usage");
    Ok(())
}

#[test]
fn v2_create_enables_controllers_and_writes_limits() -> TestResult {
    let (dir, isolator) = fake_v2("cpuset cpu io memory pids\n", true)?;
    let group = isolator.create("t1", &limits(0.5, 50 * MIB, Some(100)))?;
    let (root, task) = (dir.path(), dir.path().join("atoll/t1"));
    assert_eq!(read(&root.join("cgroup.subtree_control"))?, "+cpu +memory +pids\n");
    assert_eq!(read(&root.join("atoll/cgroup.subtree_control"))?, "+cpu +memory +pids\n");
    assert_eq!(read(&task.join("memory.max"))?, "52428800\n");
    assert_eq!(read(&task.join("memory.swap.max"))?, "0\n");
    assert_eq!(read(&task.join("cpu.max"))?, "50000 100000\n");
    assert_eq!(read(&task.join("cpu.weight"))?, "20\n");
    assert_eq!(read(&task.join("pids.max"))?, "100\n");
    assert_eq!(group.dirs(), [task]);
    assert!(isolator.describe().starts_with("cgroup v2 at "));

    let (_dir, no_memory) = fake_v2("cpu io pids\n", false)?;
    let error = no_memory.create("t1", &limits(0.5, MIB, None)).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.starts_with("the cgroup memory controller is not available under "), "{error}");
    Ok(())
}

#[test]
fn add_process_writes_cgroup_procs_in_every_hierarchy() -> TestResult {
    let (dir, v1) = fake_v1(&["memory", "cpu", "cpuacct", "pids"], false)?;
    let group = v1.create("t1", &limits(1.0, MIB, None))?;
    group.add_process(4242)?;
    group.add_process(4343)?;
    for controller in ["memory", "cpu", "cpuacct", "pids"] {
        assert_eq!(read(&dir.path().join(controller).join("atoll/t1/cgroup.procs"))?, "4242\n4343\n");
    }
    assert_eq!(group.pids()?, [4242, 4343]);

    let (dir, v2) = fake_v2("cpu memory\n", false)?;
    let group = v2.create("t1", &limits(1.0, MIB, None))?;
    group.add_process(4242)?;
    assert_eq!(read(&dir.path().join("atoll/t1/cgroup.procs"))?, "4242\n");
    assert_eq!(group.pids()?, [4242]);
    Ok(())
}

#[test]
fn oom_detection_parses_both_formats() -> TestResult {
    let path = Path::new("memory.oom_control");
    assert!(!parse_oom_control(path, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")?);
    assert!(parse_oom_control(path, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")?);
    assert!(parse_oom_control(path, "oom_kill_disable 0\nunder_oom 1\n")?, "pre-4.13 kernels");
    assert!(parse_oom_control(path, "oom_kill x\n").is_err());
    let path = Path::new("memory.events");
    assert!(!parse_memory_events(path, "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\noom_group_kill 0\n")?);
    assert!(parse_memory_events(path, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")?);

    let (dir, v1) = fake_v1(&["memory", "cpu"], false)?;
    let group = v1.create("t1", &limits(1.0, MIB, None))?;
    let oom_control = dir.path().join("memory/atoll/t1/memory.oom_control");
    assert!(group.oom_killed().is_err(), "missing file is an error");
    fs::write(&oom_control, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")?;
    assert!(group.oom_killed()?);
    let (dir, v2) = fake_v2("cpu memory\n", false)?;
    let group = v2.create("t1", &limits(1.0, MIB, None))?;
    fs::write(dir.path().join("atoll/t1/memory.events"), "oom 0\noom_kill 0\n")?;
    assert!(!group.oom_killed()?);
    Ok(())
}

#[test]
fn usage_parsing_and_errors_naming_the_file() -> TestResult {
    let (dir, v1) = fake_v1(&["memory", "cpu", "cpuacct"], false)?;
    let group = v1.create("t1", &limits(1.0, MIB, None))?;
    fs::write(dir.path().join("memory/atoll/t1/memory.usage_in_bytes"), "1234567\n")?;
    fs::write(dir.path().join("cpuacct/atoll/t1/cpuacct.usage"), "987654321\n")?;
    assert_eq!(group.memory_usage_bytes()?, Some(1_234_567));
    assert_eq!(group.cpu_usage_nanos()?, Some(987_654_321));
    let usage = dir.path().join("memory/atoll/t1/memory.usage_in_bytes");
    fs::write(&usage, "lots\n")?;
    let error = group.memory_usage_bytes().err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(error, format!("cannot parse {}: unexpected content \"lots\\n\"", usage.display()));

    let (dir, v2) = fake_v2("cpu memory\n", false)?;
    let group = v2.create("t1", &limits(1.0, MIB, None))?;
    fs::write(dir.path().join("atoll/t1/memory.current"), "4096\n")?;
    fs::write(dir.path().join("atoll/t1/cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")?;
    assert_eq!(group.memory_usage_bytes()?, Some(4096));
    assert_eq!(group.cpu_usage_nanos()?, Some(1_500_000));
    Ok(())
}

#[test]
fn write_errors_name_the_value_and_file() -> TestResult {
    let (dir, v1) = fake_v1(&["memory", "cpu"], false)?;
    let limit = dir.path().join("memory/atoll/t1/memory.limit_in_bytes");
    fs::create_dir_all(&limit)?; // a directory where the control file should be: the write fails
    let error = v1.create("t1", &limits(1.0, 50 * MIB, None)).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.starts_with(&format!("cannot write 52428800 to {}: ", limit.display())), "{error}");
    Ok(())
}

#[test]
fn kill_all_signals_listed_pids_and_waits_for_an_empty_group() -> TestResult {
    for v2 in [false, true] {
        let (dir, isolator) = if v2 { fake_v2("cpu memory\n", true)? } else { fake_v1(&["memory", "cpu"], false)? };
        let group = isolator.create("t1", &limits(1.0, MIB, None))?;
        for group_dir in group.dirs() {
            fs::write(group_dir.join("cgroup.procs"), "")?; // as the kernel would have made it
        }
        group.kill_all()?; // empty: returns at once
        let mut sleeper = Sleeper::spawn()?;
        group.add_process(sleeper.0.id())?;
        // The fake's cgroup.procs never empties, so kill_all gives up; the process is dead though.
        match group.kill_all() {
            Err(IsolationError::KillTimeout { pids, .. }) => assert_eq!(pids, [sleeper.0.id()]),
            other => panic!("expected a kill timeout, got {other:?}"),
        }
        assert_eq!(sleeper.0.wait()?.signal(), Some(9));
        if v2 {
            assert_eq!(read(&dir.path().join("atoll/t1/cgroup.kill"))?, "1\n");
        }
    }
    Ok(())
}

#[test]
fn remove_open_and_task_ids() -> TestResult {
    let (dir, isolator) = fake_v1(&["memory", "cpu", "pids"], false)?;
    let group = isolator.create("t1", &limits(1.0, MIB, Some(5)))?;
    isolator.create("t2", &limits(1.0, MIB, None))?;
    assert_eq!(isolator.task_ids()?, ["t1", "t2"]);
    assert!(isolator.open("t1")?.is_some());
    assert!(isolator.open("t3")?.is_none());

    // A fake group directory still holds its files, so rmdir fails and says where.
    let error = group.remove().err().map(|e| e.to_string()).unwrap_or_default();
    let memory_dir = dir.path().join("memory/atoll/t1");
    assert!(error.starts_with(&format!("cannot remove directory {}: ", memory_dir.display())), "{error}");
    for group_dir in group.dirs() {
        for entry in fs::read_dir(&group_dir)? {
            fs::remove_file(entry?.path())?;
        }
    }
    group.remove()?;
    assert!(group.dirs().iter().all(|d| !d.exists()));
    group.remove()?; // already gone: fine
    assert_eq!(isolator.task_ids()?, ["t2"]);
    assert!(isolator.open("t1")?.is_none());
    Ok(())
}

#[test]
fn names_must_be_single_safe_components() -> TestResult {
    let (_dir, isolator) = fake_v1(&["memory", "cpu"], false)?;
    for bad in ["", ".", "..", "a/b", ".probe-1", "x y", &"a".repeat(201)] {
        assert!(matches!(isolator.create(bad, &limits(1.0, MIB, None)), Err(IsolationError::InvalidName(_))), "{bad}");
        assert!(isolator.open(bad).is_err(), "{bad}");
    }
    isolator.create("www-data-prod-hello-0-1f2e_3.d", &limits(1.0, MIB, None))?;
    assert!(CgroupfsIsolator::new(isolator.version().clone(), "../escape").is_err());
    Ok(())
}

#[test]
fn check_host_on_fake_trees() -> TestResult {
    let (dir, _) = fake_v1(&["memory", "cpu", "cpuacct", "pids"], true)?;
    match check_host(dir.path(), DEFAULT_PARENT) {
        HostIsolation::Available(isolator) => assert_eq!(isolator.version().name(), "v1"),
        HostIsolation::Unavailable { reason } => panic!("{reason}"),
    }
    assert_eq!(fs::read_dir(dir.path().join("memory/atoll"))?.count(), 1, "only memsw; the probe group is gone");

    let empty = tempfile::tempdir()?;
    let HostIsolation::Unavailable { reason } = check_host(empty.path(), DEFAULT_PARENT) else {
        panic!("an empty dir has no cgroups")
    };
    assert_eq!(
        reason,
        format!(
            "no cgroup hierarchy with a memory controller is mounted under {}; pass --no-isolation to run tasks without limits",
            empty.path().display()
        )
    );

    let (broken, _) = fake_v1(&["memory", "cpu"], false)?;
    fs::remove_dir(broken.path().join("cpu/atoll"))?;
    fs::write(broken.path().join("cpu/atoll"), "")?; // the parent cannot be made
    let HostIsolation::Unavailable { reason } = check_host(broken.path(), DEFAULT_PARENT) else {
        panic!("the parent is a file")
    };
    let parent = broken.path().join("cpu/atoll");
    assert!(reason.starts_with(&format!("cgroups cannot be used: cannot create directory {}: ", parent.display())));
    assert!(reason.ends_with("; pass --no-isolation to run tasks without limits"), "{reason}");

    let denied = IsolationError::Io {
        op: "create directory",
        path: PathBuf::from("/sys/fs/cgroup/memory/atoll"),
        source: io::Error::from_raw_os_error(13),
    };
    assert_eq!(
        unavailable_reason(&denied),
        "cgroups are not writable at /sys/fs/cgroup/memory/atoll: Permission denied (os error 13); \
         run the agent as root or pass --no-isolation to run tasks without limits"
    );
    Ok(())
}

#[test]
fn no_isolation_does_nothing() -> TestResult {
    let group = NoIsolation.create("t1", &limits(0.5, MIB, None))?;
    assert!(!group.is_isolated());
    assert_eq!(group.task_id(), "t1");
    group.add_process(4242)?;
    assert_eq!(group.pids()?, Vec::<u32>::new());
    assert_eq!((group.memory_usage_bytes()?, group.cpu_usage_nanos()?, group.oom_killed()?), (None, None, false));
    group.kill_all()?;
    group.remove()?;
    assert!(NoIsolation.open("t1")?.is_some_and(|g| !g.is_isolated()));
    assert!(NoIsolation.task_ids()?.is_empty());
    assert!(NoIsolation.create("t1", &limits(0.0, MIB, None)).is_err());
    assert!(NoIsolation.describe().contains("--no-isolation"));
    Ok(())
}

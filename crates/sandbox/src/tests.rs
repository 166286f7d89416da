//! The sandbox files against their layout, their formats and the golden files of earlier
//! releases.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use atoll_model::{JobKey, ProcessSpec, Resources, TaskConfig, TaskId, TaskSpec, TaskState};

use super::*;

fn launch() -> LaunchFile {
    let spec = TaskSpec {
        name: "hello".into(),
        processes: vec![ProcessSpec::new("hello", "echo hello")],
        order: vec![],
        resources: Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
        max_failures: 1,
        max_concurrency: 0,
        finalization_wait: 30,
        user: None,
    };
    let launch = Launch {
        task_id: TaskId("www-data-devel-hello-0-abc".into()),
        job: JobKey::new("devcluster", "www-data", "devel", "hello").expect("valid key"),
        instance: 0,
        ports: BTreeMap::from([("http".to_owned(), 31000)]),
        config: TaskConfig::new(spec),
        config_version: Some("ab".repeat(32).parse().expect("a config id")),
    };
    LaunchFile::new(launch, "host1".into(), Vec::new(), None, None, None)
}

fn status(state: TaskState) -> ExecutorStatus {
    ExecutorStatus {
        format_version: STATUS_FORMAT,
        state,
        message: "running".into(),
        exit_code: None,
        executor_pid: 42,
        process_groups: vec![100, 200],
    }
}

#[test]
fn lays_out_files_under_the_root() {
    let sandbox = Sandbox::new("/sb");
    assert_eq!(sandbox.root(), Path::new("/sb"));
    assert_eq!(sandbox.launch_file(), Path::new("/sb/.executor/launch.json"));
    assert_eq!(sandbox.status_file(), Path::new("/sb/.executor/status.jsonl"));
    assert_eq!(sandbox.process_log_dir("web", 2), Path::new("/sb/.logs/web/2"));
    assert_eq!(sandbox.acknowledged_file(), Path::new("/sb/.executor/acknowledged"));
    assert_eq!(sandbox.executor_output(logs::Stream::Stderr), Path::new("/sb/.executor/stderr"));
}

#[test]
fn an_acknowledged_end_is_recorded_by_its_state() {
    let (_dir, sandbox) = sandbox_with_executor_dir();
    assert!(!sandbox.is_acknowledged());
    sandbox.write_acknowledged(TaskState::Finished).expect("record");
    assert!(sandbox.is_acknowledged());
    assert_eq!(fs::read_to_string(sandbox.acknowledged_file()).expect("read"), "FINISHED");
}

#[test]
fn launch_file_round_trips_and_creates_its_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(dir.path().join("task"));
    sandbox.write_launch(&launch()).expect("write launch");
    assert_eq!(sandbox.read_launch().expect("read launch"), launch());
}

#[test]
fn status_is_none_before_the_first_write_then_round_trips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(dir.path());
    assert_eq!(sandbox.read_status().expect("read status"), None);
    sandbox.write_status(&status(TaskState::Running)).expect("write status");
    assert_eq!(sandbox.read_status().expect("read status"), Some(status(TaskState::Running)));
}

#[test]
fn status_writes_append_lines_and_the_last_complete_one_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(dir.path());
    sandbox.write_status(&status(TaskState::Running)).expect("first write");
    let inode = |path: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).expect("status file"));
    let first_inode = inode(&sandbox.status_file());
    let mut finished = status(TaskState::Finished);
    finished.exit_code = Some(0);
    finished.process_groups.clear();
    sandbox.write_status(&finished).expect("second write");
    assert_eq!(sandbox.read_status().expect("read status"), Some(finished.clone()));
    assert_eq!(inode(&sandbox.status_file()), first_inode, "appended, not replaced");
    assert_eq!(fs::read_to_string(sandbox.status_file()).expect("read").lines().count(), 2);

    // A line still being written is not read.
    let mut file = fs::OpenOptions::new().append(true).open(sandbox.status_file()).expect("open");
    file.write_all(br#"{"state":"KIL"#).expect("append a partial line");
    assert_eq!(sandbox.read_status().expect("read status"), Some(finished));
}

#[test]
fn a_long_status_file_is_compacted_to_its_last_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(dir.path());
    let mut last = status(TaskState::Running);
    for n in 0..2000 {
        last.process_groups = vec![n];
        sandbox.write_status(&last).expect("write");
    }
    let size = fs::metadata(sandbox.status_file()).expect("status file").len();
    assert!(size <= STATUS_COMPACT_BYTES, "{size} bytes");
    assert_eq!(sandbox.read_status().expect("read status"), Some(last));
    let names: Vec<_> = fs::read_dir(dir.path().join(".executor"))
        .expect("list executor dir")
        .map(|entry| entry.expect("dir entry").file_name())
        .collect();
    assert_eq!(names, vec!["status.jsonl"], "no temporary file is left behind");
}

/// A sandbox in a fresh directory, with its `.executor` directory made.
fn sandbox_with_executor_dir() -> (tempfile::TempDir, Sandbox) {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join(".executor")).expect("create the executor directory");
    let sandbox = Sandbox::new(dir.path());
    (dir, sandbox)
}

#[test]
fn a_status_that_cannot_be_appended_is_an_error_naming_the_file() {
    let (_dir, sandbox) = sandbox_with_executor_dir();
    // Every write to /dev/full fails as a full disk does.
    std::os::unix::fs::symlink("/dev/full", sandbox.status_file()).expect("symlink");
    let message = sandbox.write_status(&status(TaskState::Running)).expect_err("disk full").to_string();
    assert!(message.starts_with("could not append to "), "{message}");
    assert!(message.contains("status.jsonl: No space left on device"), "{message}");
}

#[test]
fn a_malformed_status_line_names_the_file() {
    let (_dir, sandbox) = sandbox_with_executor_dir();
    fs::write(sandbox.status_file(), "not json\n").expect("write");
    let message = sandbox.read_status().expect_err("malformed").to_string();
    assert!(message.contains("status.jsonl is not valid JSON for an executor status"), "{message}");
}

#[test]
fn malformed_launch_file_names_the_path() {
    let (_dir, sandbox) = sandbox_with_executor_dir();
    fs::write(sandbox.launch_file(), "{ not json").expect("write garbage");
    let error = sandbox.read_launch().expect_err("garbage must not parse").to_string();
    assert!(error.contains(&sandbox.launch_file().display().to_string()), "{error}");
    assert!(error.contains("not valid JSON for a launch file"), "{error}");
}

/// The sandbox files of an earlier release (`testdata/<release>`) in a fresh sandbox.
fn golden(release: &str) -> (tempfile::TempDir, Sandbox) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(release).join(".executor");
    let (dir, sandbox) = sandbox_with_executor_dir();
    for entry in fs::read_dir(&golden).expect("list the golden files") {
        let file = entry.expect("a golden file").file_name();
        fs::copy(golden.join(&file), dir.path().join(".executor").join(&file)).expect("copy a golden file");
    }
    (dir, sandbox)
}

/// The sandbox files the release before launch format 2 wrote (`testdata/sandbox-v1`).
#[test]
fn the_files_of_the_release_before_are_read() {
    let (_dir, sandbox) = golden("sandbox-v1");
    let file = sandbox.read_launch().expect("a format-1 launch file");
    assert_eq!((file.format_version, file.launch.config_version), (1, None));
    assert_eq!(file.launch.job.to_string(), "devcluster/www-data/prod/web");
    assert!(file.launch.config.announce.is_some() && !file.cgroups.is_empty() && file.registry.is_some());
    assert_eq!(file.launch.config.task.processes.len(), 2);
    let status = sandbox.read_status().expect("format-1 status lines").expect("a last line");
    assert_eq!((status.format_version, status.state), (1, TaskState::Killed));
    assert!(sandbox.is_acknowledged());
    // Written again by this build, it carries its format and reads back the same.
    let mut upgraded = file.clone();
    upgraded.format_version = LAUNCH_FORMAT;
    sandbox.write_launch(&upgraded).expect("write");
    assert_eq!(sandbox.read_launch().expect("read"), upgraded);
    let raw = fs::read_to_string(sandbox.launch_file()).expect("read");
    assert!(raw.contains(&format!("\"format_version\": {LAUNCH_FORMAT}")), "{raw}");
}

#[test]
fn a_launch_file_in_format_2_is_read_with_its_config_version() {
    let (_dir, sandbox) = golden("sandbox-v2");
    let file = sandbox.read_launch().expect("a format-2 launch file");
    let version = file.launch.config_version.expect("format 2 names the config version").to_string();
    assert_eq!(
        (file.format_version, version.as_str()),
        (2, "5d1e0c9a4b7f3e2d8c6a1f0e9b8d7c6a5f4e3d2c1b0a99887766554433221100")
    );
    // Every part format 2 carried is where the executor reads it now; the rest takes Aurora's
    // defaults.
    let config = &file.launch.config;
    assert_eq!(
        config.task.processes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["fetch_assets", "web_server"]
    );
    assert_eq!(config.health_check_config.interval_secs, 5.0);
    assert_eq!(config.lifecycle.http.as_ref().map(|http| http.graceful_shutdown_wait_secs), Some(10));
    assert_eq!(config.announce.as_ref().map(|announce| announce.primary_port.as_str()), Some("http"));
    let defaults = TaskConfig::new(config.task.clone());
    assert_eq!(
        (config.service, config.priority, &config.constraints),
        (defaults.service, defaults.priority, &defaults.constraints)
    );
    assert_eq!(file.launch.ports.get("health"), Some(&31000));
    assert_eq!(file.run_context().task_id, "www-data-prod-web-1-18bcfe56800-2");
}

/// The launch file the release before launch format 4 wrote (`testdata/sandbox-v3`): the task
/// ran in the sandbox itself, as the executor's user.
#[test]
fn a_launch_file_in_format_3_runs_its_task_in_the_sandbox_as_the_executors_user() {
    let (_dir, sandbox) = golden("sandbox-v3");
    let file = sandbox.read_launch().expect("a format-3 launch file");
    assert_eq!((file.format_version, &file.user), (3, &None));
    assert_eq!(file.launch.config.task.user.as_deref(), Some("www-data"));
    assert_eq!(file.cgroups.len(), 2);
    assert_eq!(sandbox.prepare_task_home(&file).expect("the sandbox"), sandbox.root());
    assert!(!sandbox.root().join(TASK_HOME).exists(), "no task home is made for an older file");
}

/// The launch file the release before launch format 5 wrote (`testdata/sandbox-v4`): its
/// executor ran as the task's user and never watched for its agent.
#[test]
fn a_launch_file_in_format_4_has_a_user_and_no_agent_watch() {
    let (_dir, sandbox) = golden("sandbox-v4");
    let file = sandbox.read_launch().expect("a format-4 launch file");
    assert_eq!(file.format_version, 4);
    assert_eq!(file.user.as_ref().map(|u| (u.name.as_str(), u.uid)), Some(("www-data", 33)));
    assert_eq!(file.agent_watch, None);
}

/// The launch file the release before launch format 6 wrote (`testdata/sandbox-v5`, `atoll
/// dev` running `examples/hello_world.rhai`): it watches its agent and names no custom
/// executor.
#[test]
fn a_launch_file_in_format_5_has_an_agent_watch_and_no_custom_executor() {
    let (_dir, sandbox) = golden("sandbox-v5");
    let file = sandbox.read_launch().expect("a format-5 launch file");
    assert_eq!(file.format_version, 5);
    assert_eq!(file.launch.job.name, "hello");
    assert_eq!(file.agent_watch.map(|w| w.pulse_file), Some("/var/lib/atoll-agent/agent.pulse".into()));
    assert_eq!(file.launch.config.custom_executor, None);
}

#[test]
fn a_task_home_is_its_own_directory_closed_to_others_and_a_run_context_names_the_tasks_user() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(dir.path().join("task"));
    let mut file = launch();
    assert_eq!(file.run_context().user, "www-data", "the role when the task names no user");
    file.launch.config.task.user = Some("nobody".into());
    assert_eq!(file.run_context().user, "nobody");
    let home = sandbox.prepare_task_home(&file).expect("a home");
    assert_eq!(home, sandbox.root().join("sandbox"));
    let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700);
    sandbox.write_launch(&file).expect("write");
    assert_eq!(mode(&sandbox.root().join(".executor")), 0o700, "the executor's files are its user's alone");
    assert_eq!(mode(sandbox.root()) & 0o011, 0o011, "others pass through the sandbox to the task's home");
    assert_eq!(sandbox.prepare_task_home(&file).expect("made again"), home, "preparing twice is fine");
}

/// As root the task's home and log files become the task's user's; as anyone else giving them
/// away fails and says so (CI runs as root and sees the first).
#[test]
fn a_task_home_and_its_log_files_belong_to_the_tasks_user() {
    use std::os::unix::fs::MetadataExt;
    let (_dir, sandbox) = sandbox_with_executor_dir();
    let mut file = launch();
    file.user = Some(TaskUser { name: "nobody".into(), uid: 65534, gid: 65534, groups: vec![65534] });
    let log_dir = sandbox.process_log_dir("hello", 0);
    logs::create_run_dir(&log_dir).expect("a run directory");
    let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!((mode(&log_dir), mode(log_dir.parent().expect("the process's"))), (0o711, 0o711));
    let log_file = log_dir.join("stdout");
    let opened = logs::open_log_file(&log_file, false, file.user.as_ref());
    let home = sandbox.prepare_task_home(&file);
    if nix::unistd::geteuid().is_root() {
        opened.expect("a log file");
        let home = home.expect("a home");
        for path in [&home, &log_file] {
            let metadata = fs::metadata(path).expect("metadata");
            assert_eq!((metadata.uid(), metadata.gid()), (65534, 65534), "{}", path.display());
        }
        assert_eq!(mode(&log_file), 0o600);
    } else {
        assert!(opened.expect_err("only root gives files away").to_string().starts_with("could not chown"));
        assert!(home.expect_err("only root gives files away").to_string().starts_with("could not chown"));
    }
}

#[test]
fn a_log_file_that_is_a_link_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("elsewhere");
    fs::write(&target, "keep").expect("write");
    let link = dir.path().join("stdout");
    std::os::unix::fs::symlink(&target, &link).expect("link");
    let error = logs::open_log_file(&link, true, None).expect_err("a link").to_string();
    assert!(error.starts_with(&format!("could not open {}", link.display())), "{error}");
    assert_eq!(fs::read_to_string(&target).expect("read"), "keep", "the link's target is untouched");
}

#[test]
fn files_from_a_newer_atoll_are_refused_with_their_path() {
    let (_dir, sandbox) = sandbox_with_executor_dir();
    let mut newer = launch();
    newer.format_version = LAUNCH_FORMAT + 1;
    sandbox.write_launch(&newer).expect("write");
    let error = sandbox.read_launch().expect_err("newer").to_string();
    let expected = format!(
        "launch.json is a launch file in format {}, newer than this Atoll reads ({LAUNCH_FORMAT})",
        LAUNCH_FORMAT + 1
    );
    assert!(error.contains(&expected), "{error}");
    let mut status = status(TaskState::Running);
    status.format_version = STATUS_FORMAT + 1;
    sandbox.write_status(&status).expect("write");
    let error = sandbox.read_status().expect_err("newer").to_string();
    assert!(error.contains("status.jsonl is an executor status in format 2"), "{error}");
}

#[test]
fn missing_launch_file_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(dir.path());
    let error = sandbox.read_launch().expect_err("no launch file").to_string();
    assert!(error.starts_with(&format!("could not read {}", sandbox.launch_file().display())), "{error}");
}

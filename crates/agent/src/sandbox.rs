//! The on-disk contract between the agent and a task's executor.
//!
//! Every task runs in its own sandbox directory. The agent writes the launch file
//! (`<root>/.executor/launch.json`: what to run), starts `atoll executor --sandbox <root>`, and
//! polls the status file (`<root>/.executor/status.jsonl`: what the executor reported, one JSON
//! line per status, the last complete line the current one). Each run of each process logs to
//! `<root>/.logs/<process>/<run>/stdout` and `stderr`, runs counted from 0.
//!
//! The launch file is written atomically (temporary file, then rename). The status file is only
//! appended to, each line with one write(2), so a reader sees whole lines plus at most a partial
//! last line, which it ignores; past [`STATUS_COMPACT_BYTES`] it is replaced, atomically, by its
//! last line. Appending rather than replacing the file per status keeps a burst of launches from
//! freeing thousands of inodes, which ext4 then steps over one by one as it allocates new ones.
//! Neither file is fsynced: they describe processes on this host, which a host crash ends anyway
//! (its tasks become LOST and are rescheduled), while an agent or executor that restarts reads
//! them back from the page cache.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use atoll_model::config::{Announcer, HealthCheckConfig, LifecycleConfig};
use atoll_model::template::RunContext;
use atoll_model::{JobKey, TaskSpec, TaskState};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The launch file format this build writes: 2 added `format_version` and `config_version`;
/// format 1 (no `format_version`) was written before tasks carried config versions.
pub const LAUNCH_FORMAT: u32 = 2;
/// The status line format this build writes; format 1 lines have no `format_version`.
pub const STATUS_FORMAT: u32 = 1;

fn format_1() -> u32 {
    1
}

/// Everything the executor needs to run one task, written by the agent before it starts the executor.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LaunchFile {
    /// The file's format; a newer one than [`LAUNCH_FORMAT`] is refused.
    #[serde(default = "format_1")]
    pub format_version: u32,
    /// The id of the config version the task runs; absent from format 1.
    #[serde(default)]
    pub config_version: Option<String>,
    pub task_id: String,
    pub job: JobKey,
    pub instance: u32,
    pub hostname: String,
    /// The named ports allocated to the task, for `{{thermos.ports[NAME]}}` and `PORT_<NAME>`.
    pub ports: BTreeMap<String, u16>,
    pub spec: TaskSpec,
    /// How the executor decides the task is healthy (and so RUNNING).
    #[serde(default)]
    pub health_check: HealthCheckConfig,
    /// The HTTP endpoints the kill sequence calls first.
    #[serde(default)]
    pub lifecycle: LifecycleConfig,
    #[serde(default)]
    pub announce: Option<Announcer>,
    /// The directories of the task's control groups, which the executor joins before it starts
    /// any process; empty on hosts without isolation.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// Where the task announces itself when its job has an announcer.
    #[serde(default)]
    pub registry: Option<RegistryTarget>,
}

/// A service registry a task announces itself in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RegistryTarget {
    /// The scheduler serving the embedded registry, `http://HOST:PORT`.
    pub scheduler: String,
    /// The ServerSet root, `/aurora` by default.
    pub root: String,
    /// A ZooKeeper ensemble (`HOST:PORT[,HOST:PORT…][/chroot]`) to announce in instead.
    #[serde(default)]
    pub zookeeper: Option<String>,
}

impl LaunchFile {
    /// The run-time template bindings of this task: its id, user (the role), instance, host and
    /// ports.
    pub fn run_context(&self) -> RunContext<'_> {
        RunContext {
            task_id: &self.task_id,
            user: &self.job.role,
            instance: self.instance,
            hostname: &self.hostname,
            ports: &self.ports,
        }
    }
}

/// What the executor last reported about its task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExecutorStatus {
    /// The line's format; a newer one than [`STATUS_FORMAT`] is refused.
    #[serde(default = "format_1")]
    pub format_version: u32,
    pub state: TaskState,
    pub message: String,
    /// Set once the task has ended: 0 when it finished, the failed process's code when it failed.
    pub exit_code: Option<i32>,
    pub executor_pid: u32,
    /// Process group ids of the task's live processes, so the agent can kill them if the
    /// executor dies.
    pub process_groups: Vec<i32>,
}

/// A sandbox file that could not be read, written or understood.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("{} is not valid JSON for {what}: {source}", path.display())]
    Malformed { what: &'static str, path: PathBuf, source: serde_json::Error },
    #[error("{} is {what} in format {found}, newer than this Atoll reads ({known}); upgrade the agent", path.display())]
    NewerFormat { what: &'static str, path: PathBuf, found: u32, known: u32 },
}

/// A task's sandbox directory and the layout of the files in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    pub fn new(root: impl Into<PathBuf>) -> Sandbox {
        Sandbox { root: root.into() }
    }

    /// The sandbox directory; the task's processes run here.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/.executor/launch.json`
    pub fn launch_file(&self) -> PathBuf {
        self.executor_dir().join("launch.json")
    }

    /// `<root>/.executor/status.jsonl`
    pub fn status_file(&self) -> PathBuf {
        self.executor_dir().join("status.jsonl")
    }

    /// `<root>/.logs/<process>/<run>`, holding that run's `stdout` and `stderr`.
    pub fn process_log_dir(&self, process: &str, run: u32) -> PathBuf {
        self.root.join(".logs").join(process).join(run.to_string())
    }

    /// Writes the launch file, creating the sandbox directories it needs.
    pub fn write_launch(&self, launch: &LaunchFile) -> Result<(), SandboxError> {
        write_atomically(&self.launch_file(), &to_json(launch))
    }

    /// The launch file, in any format up to [`LAUNCH_FORMAT`].
    pub fn read_launch(&self) -> Result<LaunchFile, SandboxError> {
        let path = self.launch_file();
        let bytes = fs::read(&path).map_err(io_error("read", &path))?;
        let launch: LaunchFile = parse(&path, &bytes, "a launch file")?;
        known_format(path, "a launch file", launch.format_version, LAUNCH_FORMAT)?;
        Ok(launch)
    }

    /// Appends a status to the status file as one line, written with a single write(2);
    /// compacts the file to that line once it has grown past [`STATUS_COMPACT_BYTES`].
    pub fn write_status(&self, status: &ExecutorStatus) -> Result<(), SandboxError> {
        let path = self.status_file();
        let mut line = serde_json::to_vec(status).expect("a status has string keys and no fallible fields");
        line.push(b'\n');
        let open = || fs::OpenOptions::new().create(true).append(true).open(&path);
        let opened = match open() {
            // The agent made the directory with the launch file; make it only if it is missing.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let dir = self.executor_dir();
                fs::create_dir_all(&dir).map_err(io_error("create directory", &dir))?;
                open()
            }
            opened => opened,
        };
        let mut file = opened.map_err(io_error("open", &path))?;
        let before = file.metadata().map_err(io_error("read the size of", &path))?.len();
        if let Err(error) = file.write_all(&line) {
            // A line cut short (a full disk) is taken back, so the next one starts cleanly.
            let _ = file.set_len(before);
            return Err(io_error("append to", &path)(error));
        }
        if before + line.len() as u64 > STATUS_COMPACT_BYTES {
            write_atomically(&path, &line)?;
        }
        Ok(())
    }

    /// The last status written, or `None` if the executor has not completed one yet.
    pub fn read_status(&self) -> Result<Option<ExecutorStatus>, SandboxError> {
        let path = self.status_file();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error("read", &path)(error)),
        };
        let Some(line) = last_complete_line(&bytes) else { return Ok(None) };
        let status: ExecutorStatus = parse(&path, line, "an executor status")?;
        known_format(path, "an executor status", status.format_version, STATUS_FORMAT)?;
        Ok(Some(status))
    }

    fn executor_dir(&self) -> PathBuf {
        self.root.join(".executor")
    }
}

/// The size past which the status file is compacted to its last line.
pub const STATUS_COMPACT_BYTES: u64 = 64 * 1024;

/// The last line that ends in a newline, without it.
fn last_complete_line(bytes: &[u8]) -> Option<&[u8]> {
    let complete = &bytes[..bytes.iter().rposition(|&b| b == b'\n')?];
    let start = complete.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Some(&complete[start..])
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("sandbox files have string keys and no fallible fields")
}

fn parse<T: DeserializeOwned>(path: &Path, bytes: &[u8], what: &'static str) -> Result<T, SandboxError> {
    serde_json::from_slice(bytes).map_err(|source| SandboxError::Malformed { what, path: path.to_owned(), source })
}

/// Refuses a file in a format newer than this build reads.
fn known_format(path: PathBuf, what: &'static str, found: u32, known: u32) -> Result<(), SandboxError> {
    if found > known {
        return Err(SandboxError::NewerFormat { what, path, found, known });
    }
    Ok(())
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SandboxError {
    let path = path.to_owned();
    move |source| SandboxError::Io { action, path, source }
}

/// Writes `contents` to a temporary file next to `path` and renames it over `path`.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), SandboxError> {
    let dir = path.parent().expect("sandbox files live in a directory");
    fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary).map_err(io_error("create", &temporary))?;
    file.write_all(contents).map_err(io_error("write", &temporary))?;
    fs::rename(&temporary, path).map_err(io_error("rename into place", path))
}

#[cfg(test)]
mod tests {
    use atoll_model::{ProcessSpec, Resources};

    use super::*;

    fn launch() -> LaunchFile {
        LaunchFile {
            format_version: LAUNCH_FORMAT,
            config_version: Some("ab".repeat(32)),
            task_id: "www-data-devel-hello-0-abc".into(),
            job: JobKey::new("devcluster", "www-data", "devel", "hello").expect("valid key"),
            instance: 0,
            hostname: "host1".into(),
            ports: BTreeMap::from([("http".to_owned(), 31000)]),
            spec: TaskSpec {
                name: "hello".into(),
                processes: vec![ProcessSpec::new("hello", "echo hello")],
                order: vec![],
                resources: Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
                max_failures: 1,
                max_concurrency: 0,
                finalization_wait: 30,
                user: None,
            },
            health_check: Default::default(),
            lifecycle: Default::default(),
            announce: None,
            cgroups: Vec::new(),
            registry: None,
        }
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

    /// The sandbox files the release before launch format 2 wrote (`testdata/sandbox-v1`).
    fn golden_v1() -> (tempfile::TempDir, Sandbox) {
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sandbox-v1/.executor");
        let (dir, sandbox) = sandbox_with_executor_dir();
        for file in ["launch.json", "status.jsonl", "acknowledged"] {
            fs::copy(golden.join(file), dir.path().join(".executor").join(file)).expect("copy a golden file");
        }
        (dir, sandbox)
    }

    #[test]
    fn the_files_of_the_release_before_are_read() {
        let (_dir, sandbox) = golden_v1();
        let launch = sandbox.read_launch().expect("a format-1 launch file");
        assert_eq!((launch.format_version, launch.config_version.as_deref()), (1, None));
        assert_eq!(launch.job.to_string(), "devcluster/www-data/prod/web");
        assert!(launch.announce.is_some() && !launch.cgroups.is_empty() && launch.registry.is_some());
        assert_eq!(launch.spec.processes.len(), 2);
        let status = sandbox.read_status().expect("format-1 status lines").expect("a last line");
        assert_eq!((status.format_version, status.state), (1, TaskState::Killed));
        // Written again by this build, it carries its format and reads back the same.
        let mut upgraded = launch.clone();
        upgraded.format_version = LAUNCH_FORMAT;
        sandbox.write_launch(&upgraded).expect("write");
        assert_eq!(sandbox.read_launch().expect("read"), upgraded);
        let raw = fs::read_to_string(sandbox.launch_file()).expect("read");
        assert!(raw.contains("\"format_version\": 2"), "{raw}");
    }

    #[test]
    fn files_from_a_newer_atoll_are_refused_with_their_path() {
        let (_dir, sandbox) = sandbox_with_executor_dir();
        let mut newer = launch();
        newer.format_version = LAUNCH_FORMAT + 1;
        sandbox.write_launch(&newer).expect("write");
        let error = sandbox.read_launch().expect_err("newer").to_string();
        assert!(error.contains("launch.json is a launch file in format 3, newer than this Atoll reads (2)"), "{error}");
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
}

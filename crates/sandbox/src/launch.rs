//! The launch file, `<root>/.executor/launch.json`: what to run, written by the agent before it
//! starts the executor.
//!
//! It is the task's [`Launch`] as the scheduler sent it, whole, plus the facts only the host
//! knows: its name, the task's control groups, the user it runs as and the registry the task
//! announces itself in.
//!
//! Formats: 1 (no `format_version`) carried the task spec and, beside it, the health check,
//! lifecycle and announcer; 2 added `format_version` and `config_version`; 3 carries the task's
//! whole config (`config`) in their place; 4 adds the task's `user` and runs the task in its own
//! directory, [`TASK_HOME`], rather than in the sandbox itself; 5 adds the `agent_watch`, the
//! agent's pulse and how long the executor waits for an agent that stopped; 6 may carry a
//! framework task's `config.custom_executor`, which the executor serves the executor API for,
//! passing framework messages through the sandbox's inbox and outbox. Files in formats 1
//! and 2 are read into the current shape, the rest of their config at its defaults, as the
//! executors that wrote them ran it; files before format 4 ran as the executor's user, and
//! before format 5 waited for their agent for ever.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use atoll_model::config::{Announcer, HealthCheckConfig, LifecycleConfig};
use atoll_model::template::RunContext;
use atoll_model::{ConfigId, JobKey, TaskConfig, TaskId, TaskSpec};
use serde::{Deserialize, Serialize};

use crate::{
    Sandbox, SandboxError, TASK_HOME, TaskUser, create_private_dir, format_1, io_error, known_format, parse, to_json,
    write_atomically,
};

/// The launch file format this build writes; see the module's documentation for the others.
pub const LAUNCH_FORMAT: u32 = 6;

/// What the launch file is, in messages.
const WHAT: &str = "a launch file";

/// One task as the scheduler launches it: an instance of a job, the ports it was given and the
/// config version it runs, whole. The scheduler builds it once, from the task's own config
/// version (never its job's current one, which an update may have changed); the agent receives
/// it whole and writes it into the launch file with only the host's facts added.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Launch {
    pub task_id: TaskId,
    pub job: JobKey,
    pub instance: u32,
    /// The named ports allocated to the task, for `{{thermos.ports[NAME]}}` and `PORT_<NAME>`.
    pub ports: BTreeMap<String, u16>,
    /// The task's config: its processes and resources, how the executor decides it is healthy
    /// (and so RUNNING), the HTTP endpoints a kill calls first, its announcer, and the rest.
    pub config: TaskConfig,
    /// The id of the config version the task runs; absent from format 1.
    #[serde(default)]
    pub config_version: Option<ConfigId>,
}

/// Everything the executor needs to run one task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LaunchFile {
    /// The file's format; a newer one than [`LAUNCH_FORMAT`] is refused.
    pub format_version: u32,
    #[serde(flatten)]
    pub launch: Launch,
    /// The name tasks and clients reach this host by.
    pub hostname: String,
    /// The directories of the task's control groups, which every process the executor starts
    /// enters before it runs anything; empty on hosts without isolation.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// The user every process of the task runs as; `None`: the executor's own user (an agent
    /// that runs every task as itself, and files before format 4).
    #[serde(default)]
    pub user: Option<TaskUser>,
    /// Where the task announces itself when its job has an announcer.
    #[serde(default)]
    pub registry: Option<RegistryTarget>,
    /// How the executor knows its agent is there; `None` (files before format 5): it never
    /// looks.
    #[serde(default)]
    pub agent_watch: Option<AgentWatch>,
}

/// The agent's side of executor recovery, as Mesos' `--recovery_timeout`: the agent touches
/// its pulse file every few seconds while it runs; an executor that sees the file unchanged
/// for the recovery timeout (its agent gone and not back) ends its task, LOST, and exits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AgentWatch {
    /// The file whose modification time is the agent's last pulse.
    pub pulse_file: PathBuf,
    pub recovery_timeout_secs: u64,
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
    /// The launch file of `launch` on this host, in this build's format.
    pub fn new(
        launch: Launch,
        hostname: String,
        cgroups: Vec<PathBuf>,
        user: Option<TaskUser>,
        registry: Option<RegistryTarget>,
        agent_watch: Option<AgentWatch>,
    ) -> LaunchFile {
        LaunchFile { format_version: LAUNCH_FORMAT, launch, hostname, cgroups, user, registry, agent_watch }
    }

    /// The run-time template bindings of this task: its id, user (the task's, or the role),
    /// instance, host and ports.
    pub fn run_context(&self) -> RunContext<'_> {
        RunContext {
            task_id: &self.launch.task_id.0,
            user: self.launch.config.task.user.as_deref().unwrap_or(&self.launch.job.role),
            instance: self.launch.instance,
            hostname: &self.hostname,
            ports: &self.launch.ports,
        }
    }

    /// Reads a launch file in any format up to [`LAUNCH_FORMAT`]: the format first, then the
    /// shape that format has.
    fn parse(path: &Path, bytes: &[u8]) -> Result<LaunchFile, SandboxError> {
        #[derive(Deserialize)]
        struct Format {
            #[serde(default = "format_1")]
            format_version: u32,
        }
        let format: Format = parse(path, bytes, WHAT)?;
        known_format(path, WHAT, format.format_version, LAUNCH_FORMAT)?;
        if format.format_version >= 3 {
            parse(path, bytes, WHAT)
        } else {
            parse::<LaunchFileWithoutConfig>(path, bytes, WHAT).map(LaunchFile::from)
        }
    }
}

/// A launch file in format 1 or 2, which carried the parts of the config the executor used.
#[derive(Deserialize)]
struct LaunchFileWithoutConfig {
    #[serde(default = "format_1")]
    format_version: u32,
    #[serde(default)]
    config_version: Option<ConfigId>,
    task_id: TaskId,
    job: JobKey,
    instance: u32,
    hostname: String,
    ports: BTreeMap<String, u16>,
    spec: TaskSpec,
    #[serde(default)]
    health_check: HealthCheckConfig,
    #[serde(default)]
    lifecycle: LifecycleConfig,
    #[serde(default)]
    announce: Option<Announcer>,
    #[serde(default)]
    cgroups: Vec<PathBuf>,
    #[serde(default)]
    registry: Option<RegistryTarget>,
}

impl From<LaunchFileWithoutConfig> for LaunchFile {
    fn from(file: LaunchFileWithoutConfig) -> LaunchFile {
        let config = TaskConfig {
            health_check_config: file.health_check,
            lifecycle: file.lifecycle,
            announce: file.announce,
            ..TaskConfig::new(file.spec)
        };
        let launch = Launch {
            task_id: file.task_id,
            job: file.job,
            instance: file.instance,
            ports: file.ports,
            config,
            config_version: file.config_version,
        };
        LaunchFile {
            format_version: file.format_version,
            launch,
            hostname: file.hostname,
            cgroups: file.cgroups,
            user: None,
            registry: file.registry,
            agent_watch: None,
        }
    }
}

impl Sandbox {
    /// Writes the launch file, creating the sandbox directories it needs.
    pub fn write_launch(&self, launch: &LaunchFile) -> Result<(), SandboxError> {
        write_atomically(&self.launch_file(), &to_json(launch))
    }

    /// Makes the directory `file`'s task runs in and calls `HOME` and returns it: [`TASK_HOME`],
    /// 0700 and the task's user's; for a file before format 4, the sandbox itself.
    pub fn prepare_task_home(&self, file: &LaunchFile) -> Result<PathBuf, SandboxError> {
        if file.format_version < 4 {
            return Ok(self.root().to_owned());
        }
        let home = self.root().join(TASK_HOME);
        create_private_dir(&home)?;
        if let Some(user) = &file.user {
            std::os::unix::fs::chown(&home, Some(user.uid), Some(user.gid)).map_err(io_error("chown", &home))?;
        }
        fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).map_err(io_error("chmod", &home))?;
        Ok(home)
    }

    /// The launch file, in any format up to [`LAUNCH_FORMAT`].
    pub fn read_launch(&self) -> Result<LaunchFile, SandboxError> {
        let path = self.launch_file();
        let bytes = fs::read(&path).map_err(io_error("read", &path))?;
        LaunchFile::parse(&path, &bytes)
    }
}

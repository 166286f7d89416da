//! The job-level configuration objects besides the task, with Aurora's names and defaults:
//! update policy, health checks, lifecycle, announcer, process loggers, metadata, SLA and
//! partition policies, containers and the cron collision policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;

/// Where a process's output goes (`Logger.destination`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogDestination {
    #[default]
    File,
    Console,
    Both,
    None,
}

/// Whether logs are rotated (`Logger.mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogMode {
    #[default]
    Standard,
    Rotate,
}

/// `RotatePolicy`: rotate at `log_size` bytes, keeping `backups` old files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotatePolicy {
    pub log_size: u64,
    pub backups: u32,
}

impl Default for RotatePolicy {
    fn default() -> RotatePolicy {
        RotatePolicy { log_size: 100 * MIB, backups: 5 }
    }
}

/// `Logger`: how a process's stdout and stderr are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logger {
    pub destination: LogDestination,
    pub mode: LogMode,
    pub rotate: RotatePolicy,
}

/// How an update rolls through a job's instances (`update_strategy`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStrategy {
    /// Keep `batch_size` instances updating at once.
    Queue { batch_size: u32 },
    /// Update in groups of `batch_size`, each finished before the next starts.
    Batch { batch_size: u32, autopause_after_batch: bool },
    /// Groups of the given sizes; the last size repeats.
    VariableBatch { batch_sizes: Vec<u32>, autopause_after_batch: bool },
}

/// `UpdateConfig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateConfig {
    pub batch_size: u32,
    pub watch_secs: u32,
    pub max_per_shard_failures: u32,
    pub max_total_failures: u32,
    pub rollback_on_failure: bool,
    pub wait_for_batch_completion: bool,
    pub pulse_interval_secs: Option<u32>,
    pub sla_aware: bool,
    pub update_strategy: Option<UpdateStrategy>,
}

impl Default for UpdateConfig {
    fn default() -> UpdateConfig {
        UpdateConfig {
            batch_size: 1,
            watch_secs: 45,
            max_per_shard_failures: 0,
            max_total_failures: 0,
            rollback_on_failure: true,
            wait_for_batch_completion: false,
            pulse_interval_secs: None,
            sla_aware: false,
            update_strategy: None,
        }
    }
}

/// `HttpHealthChecker`: GET `endpoint` on the `health` port; healthy when the body is
/// `expected_response` (case-insensitive, trimmed) and, unless it is 0, the status is
/// `expected_response_code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpHealthChecker {
    pub endpoint: String,
    pub expected_response: String,
    pub expected_response_code: u32,
}

impl Default for HttpHealthChecker {
    fn default() -> HttpHealthChecker {
        HttpHealthChecker { endpoint: "/health".into(), expected_response: "ok".into(), expected_response_code: 0 }
    }
}

/// `HealthCheckerConfig`: one of an HTTP or a shell checker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthChecker {
    Http(HttpHealthChecker),
    /// `ShellHealthChecker`: healthy when `shell_command` exits 0.
    Shell {
        shell_command: String,
    },
}

impl Default for HealthChecker {
    fn default() -> HealthChecker {
        HealthChecker::Http(HttpHealthChecker::default())
    }
}

/// `HealthCheckConfig`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckConfig {
    pub health_checker: HealthChecker,
    pub initial_interval_secs: f64,
    pub interval_secs: f64,
    pub max_consecutive_failures: u32,
    pub min_consecutive_successes: u32,
    pub timeout_secs: f64,
}

impl Default for HealthCheckConfig {
    fn default() -> HealthCheckConfig {
        HealthCheckConfig {
            health_checker: HealthChecker::default(),
            initial_interval_secs: 15.0,
            interval_secs: 10.0,
            max_consecutive_failures: 0,
            min_consecutive_successes: 1,
            timeout_secs: 1.0,
        }
    }
}

/// `HttpLifecycleConfig`: the graceful shutdown endpoints on port `port`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpLifecycleConfig {
    pub port: String,
    pub graceful_shutdown_endpoint: String,
    pub shutdown_endpoint: String,
    pub graceful_shutdown_wait_secs: u32,
    pub shutdown_wait_secs: u32,
}

impl Default for HttpLifecycleConfig {
    fn default() -> HttpLifecycleConfig {
        HttpLifecycleConfig {
            port: "health".into(),
            graceful_shutdown_endpoint: "/quitquitquit".into(),
            shutdown_endpoint: "/abortabortabort".into(),
            graceful_shutdown_wait_secs: 5,
            shutdown_wait_secs: 5,
        }
    }
}

/// `LifecycleConfig`; HTTP lifecycle is on by default, as in Aurora.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfig {
    pub http: Option<HttpLifecycleConfig>,
}

impl Default for LifecycleConfig {
    fn default() -> LifecycleConfig {
        LifecycleConfig { http: Some(HttpLifecycleConfig::default()) }
    }
}

/// What an announcer portmap entry points at: another named port, or a static port number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortTarget {
    Named(String),
    Static(u16),
}

/// `Announcer`: publish the task as a ServerSet member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcer {
    pub primary_port: String,
    /// Extra endpoint names; Aurora's default maps `aurora` to the primary port.
    pub portmap: BTreeMap<String, PortTarget>,
    pub zk_path: Option<String>,
}

impl Default for Announcer {
    fn default() -> Announcer {
        Announcer {
            primary_port: "http".into(),
            portmap: BTreeMap::from([("aurora".to_owned(), PortTarget::Named("http".to_owned()))]),
            zk_path: None,
        }
    }
}

/// `Metadata`: a key and value shown with the job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub key: String,
    pub value: String,
}

/// The SLA policies, which bound how many instances maintenance may take down.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaPolicy {
    /// `CountSlaPolicy`: at least `count` instances running for `duration_secs`.
    Count { count: u32, duration_secs: u64 },
    /// `PercentageSlaPolicy`: at least `percentage` of instances running for `duration_secs`.
    Percentage { percentage: f64, duration_secs: u64 },
    /// `CoordinatorSlaPolicy`: ask `coordinator_url`, which answers `{status_key: true}`.
    Coordinator { coordinator_url: String, status_key: String },
}

/// `PartitionPolicy`: whether and after how long a partitioned task is rescheduled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionPolicy {
    pub reschedule: bool,
    pub delay_secs: u64,
}

impl Default for PartitionPolicy {
    fn default() -> PartitionPolicy {
        PartitionPolicy { reschedule: true, delay_secs: 0 }
    }
}

/// A Docker `Parameter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerParameter {
    pub name: String,
    pub value: String,
}

/// An image for the Mesos containerizer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MesosImage {
    Appc { name: String, image_id: String },
    Docker { name: String, tag: String },
}

/// Read-only or read-write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeMode {
    #[serde(rename = "RO")]
    Ro,
    #[serde(rename = "RW")]
    Rw,
}

/// A host path mounted into a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub container_path: String,
    pub host_path: String,
    pub mode: VolumeMode,
}

/// The container a task runs in. Accepted, validated and carried; running containers is later
/// work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    Docker { image: String, parameters: Vec<DockerParameter> },
    Mesos { image: Option<MesosImage>, volumes: Vec<Volume> },
}

/// What a cron trigger does while a previous run is still active.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CronCollisionPolicy {
    /// Kill the active run, then start the new one.
    #[default]
    KillExisting,
    /// Skip the new run.
    CancelNew,
    /// Deprecated in Aurora; refused at create.
    RunOverlap,
}

impl CronCollisionPolicy {
    pub fn name(self) -> &'static str {
        match self {
            CronCollisionPolicy::KillExisting => "KILL_EXISTING",
            CronCollisionPolicy::CancelNew => "CANCEL_NEW",
            CronCollisionPolicy::RunOverlap => "RUN_OVERLAP",
        }
    }

    /// Parses Aurora's policy names.
    pub fn parse(name: &str) -> Option<CronCollisionPolicy> {
        [CronCollisionPolicy::KillExisting, CronCollisionPolicy::CancelNew, CronCollisionPolicy::RunOverlap]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

//! Job, task and process specs: what a user asked for, with Aurora's field names and defaults.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::{
    Announcer, Container, CronCollisionPolicy, HealthCheckConfig, HealthChecker, LifecycleConfig, Logger, Metadata,
    PartitionPolicy, PortTarget, SlaPolicy, UpdateConfig,
};
use crate::constraint::{Constraint, ConstraintRule, DEDICATED_ATTRIBUTE};
use crate::key::JobKey;
use crate::template;

/// The resources one task instance reserves on an agent. `ram_mb` and `disk_mb` are mebibytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub cpu: f64,
    pub ram_mb: u64,
    pub disk_mb: u64,
    pub gpu: u64,
}

impl Resources {
    /// CPU in thousandths of a core, the unit placement does its arithmetic in.
    pub fn cpu_millis(&self) -> u64 {
        (self.cpu * 1000.0).round().max(0.0) as u64
    }
}

/// One process of a task: a command line run under `bash -c` in the task's sandbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessSpec {
    pub name: String,
    pub cmdline: String,
    /// Failed runs before the process is failed for good; 0 retries forever.
    pub max_failures: u32,
    /// A daemon is re-run after it exits 0.
    pub daemon: bool,
    /// An ephemeral process does not count towards the task's completion.
    pub ephemeral: bool,
    /// Seconds between the end of one run and the start of the next.
    pub min_duration: u64,
    /// A final process runs after all the others have ended.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub logger: Logger,
}

impl ProcessSpec {
    /// A process with Aurora's defaults for everything but the name and command line.
    pub fn new(name: &str, cmdline: &str) -> ProcessSpec {
        ProcessSpec {
            name: name.to_owned(),
            cmdline: cmdline.to_owned(),
            max_failures: 1,
            daemon: false,
            ephemeral: false,
            min_duration: 5,
            is_final: false,
            logger: Logger::default(),
        }
    }
}

/// The unit of scheduling: processes that run together in one sandbox on one agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub name: String,
    pub processes: Vec<ProcessSpec>,
    /// Ordering constraints: each list names processes that run one after another.
    pub order: Vec<Vec<String>>,
    pub resources: Resources,
    /// Permanently failed processes after which the task is failed; 0 never fails it.
    pub max_failures: u32,
    /// Processes run at once; 0 is unlimited.
    pub max_concurrency: u32,
    /// Seconds the task's processes get to exit after SIGTERM before SIGKILL.
    pub finalization_wait: u64,
    /// The user the processes run as; the role when unset.
    pub user: Option<String>,
}

impl TaskSpec {
    /// A task with Aurora's defaults: named after its first process, failing after one failed
    /// process, unlimited concurrency, 30 s to finalize.
    pub fn new(processes: Vec<ProcessSpec>, resources: Resources) -> TaskSpec {
        TaskSpec {
            name: processes.first().map(|p| p.name.clone()).unwrap_or_default(),
            processes,
            order: Vec::new(),
            resources,
            max_failures: 1,
            max_concurrency: 0,
            finalization_wait: 30,
            user: None,
        }
    }

    /// The processes each process must wait for, derived from the ordering constraints.
    pub fn predecessors(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut before: BTreeMap<&str, BTreeSet<&str>> =
            self.processes.iter().map(|p| (p.name.as_str(), BTreeSet::new())).collect();
        for chain in &self.order {
            for pair in chain.windows(2) {
                before.entry(pair[1].as_str()).or_default().insert(pair[0].as_str());
            }
        }
        before
    }
}

/// A job: `instances` copies of one task, under one key. The job-level fields (instance count,
/// cron schedule, update policy) are here; everything a task runs with is its [`TaskConfig`],
/// which each task carries on its own, so instances of one job may run different versions.
///
/// Serialized flat (the task config's fields beside the job's own), as jobs always were.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub key: JobKey,
    pub instances: u32,
    pub cron_schedule: Option<String>,
    pub cron_collision_policy: CronCollisionPolicy,
    /// The IANA time zone the cron schedule is read in; none: the scheduler's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_timezone: Option<String>,
    /// How late a missed cron run may still start, in seconds; none: the scheduler's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_starting_deadline_secs: Option<u64>,
    pub update_config: UpdateConfig,
    #[serde(flatten)]
    pub config: TaskConfig,
}

/// Everything one task instance runs with (Aurora's `TaskConfig`): the task itself and the
/// job fields that decide where it runs, how it is checked, announced and rescheduled.
/// Placement, launch and rescheduling read a task's own config, never its job's current one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    pub task: TaskSpec,
    /// A service's instances are restarted whenever they end.
    pub service: bool,
    pub contact: Option<String>,
    pub tier: Option<String>,
    pub priority: i32,
    pub production: bool,
    /// Runs of an ad-hoc instance that may fail before it is given up; -1 retries forever.
    pub max_task_failures: i32,
    pub constraints: Vec<Constraint>,
    pub metadata: Vec<Metadata>,
    pub health_check_config: HealthCheckConfig,
    pub lifecycle: LifecycleConfig,
    pub announce: Option<Announcer>,
    pub partition_policy: Option<PartitionPolicy>,
    pub sla_policy: Option<SlaPolicy>,
    pub container: Option<Container>,
    /// A framework's task run by its own executor, which speaks the executor API: the data its
    /// LAUNCH event carries. Jobs never have one (refused at create). Absent from stored
    /// configs before it, and left out when unset, so no config's content address changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_executor: Option<CustomExecutor>,
}

/// What a custom executor is launched with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomExecutor {
    /// The framework's `TaskInfo.data`.
    pub data: Vec<u8>,
}

impl TaskConfig {
    /// A config with Aurora's defaults for every field but the task.
    pub fn new(task: TaskSpec) -> TaskConfig {
        TaskConfig {
            task,
            service: false,
            contact: None,
            tier: None,
            priority: 0,
            production: false,
            max_task_failures: 1,
            constraints: Vec::new(),
            metadata: Vec::new(),
            health_check_config: HealthCheckConfig::default(),
            lifecycle: LifecycleConfig::default(),
            announce: None,
            partition_policy: None,
            sla_policy: None,
            container: None,
            custom_executor: None,
        }
    }

    /// Whether the task runs on hosts dedicated to its role.
    pub fn is_dedicated(&self) -> bool {
        self.constraints.iter().any(|c| matches!(c.rule, ConstraintRule::Dedicated(_)))
    }

    /// Every named port the job's tasks need: those its command lines and shell health check
    /// use through `{{thermos.ports[NAME]}}`, and its announcer's primary port and portmap
    /// targets (static ports and aliases excluded).
    pub fn requested_ports(&self) -> BTreeSet<String> {
        let mut ports: BTreeSet<String> =
            self.task.processes.iter().flat_map(|p| template::port_names(&p.cmdline)).collect();
        if let HealthChecker::Shell { shell_command } = &self.health_check_config.health_checker {
            ports.extend(template::port_names(shell_command));
        }
        if let Some(announce) = &self.announce {
            match announce.portmap.get(&announce.primary_port) {
                Some(PortTarget::Static(_)) => {}
                Some(PortTarget::Named(target)) => {
                    ports.insert(target.clone());
                }
                None => {
                    ports.insert(announce.primary_port.clone());
                }
            }
            for target in announce.portmap.values() {
                if let PortTarget::Named(name) = target
                    && !announce.portmap.contains_key(name)
                {
                    ports.insert(name.clone());
                }
            }
        }
        ports
    }
}

/// The most instances one job may have (Aurora's `-max_tasks_per_job`).
pub const MAX_INSTANCES_PER_JOB: u32 = 4000;

/// Bounds on a job's parts, so a request sent straight to the API cannot make the scheduler
/// store, hold and hand to every agent something no job file would make.
pub mod limits {
    /// Processes in one task.
    pub const PROCESSES: usize = 256;
    /// Bytes of one process's command line.
    pub const CMDLINE_BYTES: usize = 64 * 1024;
    /// Metadata entries, and constraints, of one job.
    pub const ENTRIES: usize = 256;
    /// Bytes of one metadata key or value, constraint, contact or other short text.
    pub const TEXT_BYTES: usize = 4096;
}

/// The tiers a job may name.
pub const TIERS: [&str; 3] = ["preferred", "preemptible", "revocable"];

impl JobSpec {
    /// A job with Aurora's defaults for every field but its key and task.
    pub fn new(key: JobKey, task: TaskSpec) -> JobSpec {
        JobSpec {
            key,
            instances: 1,
            cron_schedule: None,
            cron_collision_policy: CronCollisionPolicy::default(),
            cron_timezone: None,
            cron_starting_deadline_secs: None,
            update_config: UpdateConfig::default(),
            config: TaskConfig::new(task),
        }
    }

    /// Every named port the job's tasks need; see [`TaskConfig::requested_ports`].
    pub fn requested_ports(&self) -> BTreeSet<String> {
        self.config.requested_ports()
    }

    /// Checks the rules every job must meet, returning every broken rule, in Aurora's words
    /// where Aurora had them.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        self.validate_job_fields(&mut problems);
        self.validate_resources(&mut problems);
        self.validate_processes(&mut problems);
        self.validate_policies(&mut problems);
        self.validate_sizes(&mut problems);
        problems
    }

    fn validate_sizes(&self, problems: &mut Vec<String>) {
        use limits::*;
        let config = &self.config;
        let mut too_many = |what: &str, count: usize, most: usize| {
            if count > most {
                problems.push(format!("a job may have at most {most} {what}, not {count}"));
            }
        };
        too_many("processes", config.task.processes.len(), PROCESSES);
        too_many("metadata entries", config.metadata.len(), ENTRIES);
        too_many("constraints", config.constraints.len(), ENTRIES);
        for process in &config.task.processes {
            if process.cmdline.len() > CMDLINE_BYTES {
                problems.push(format!(
                    "the cmdline of process '{}' is {} bytes; at most {CMDLINE_BYTES} (put long scripts in a file the task fetches)",
                    process.name.chars().take(64).collect::<String>(),
                    process.cmdline.len()
                ));
            }
        }
        let texts = [
            ("contact", config.contact.as_deref()),
            ("tier", config.tier.as_deref()),
            ("cron_schedule", self.cron_schedule.as_deref()),
        ]
        .into_iter()
        .filter_map(|(what, text)| Some((what, text?)))
        .chain(
            config
                .metadata
                .iter()
                .flat_map(|m| [("a metadata key", m.key.as_str()), ("a metadata value", m.value.as_str())]),
        )
        .chain(config.task.processes.iter().map(|p| ("a process name", p.name.as_str())));
        for (what, text) in texts {
            if text.len() > TEXT_BYTES {
                problems.push(format!("{what} is {} bytes; at most {TEXT_BYTES}", text.len()));
            }
        }
    }

    fn validate_job_fields(&self, problems: &mut Vec<String>) {
        if self.instances == 0 || self.instances > MAX_INSTANCES_PER_JOB {
            problems
                .push(format!("Instance count must be between 1 and {MAX_INSTANCES_PER_JOB}, not {}", self.instances));
        }
        let env = &self.key.environment;
        let staging = env.strip_prefix("staging").is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
        if !staging && !["prod", "devel", "test"].contains(&env.as_str()) {
            problems.push(format!(
                "Environment name should be one of \"prod\", \"devel\", \"test\" or staging<number>! Got {env}"
            ));
        }
        if let Some(tier) = &self.config.tier
            && !TIERS.contains(&tier.as_str())
        {
            problems.push(format!("Unknown tier '{tier}'; tiers are {}", TIERS.join(", ")));
        }
        if self.config.max_task_failures < -1 || self.config.max_task_failures == 0 {
            problems.push(format!(
                "max_task_failures must be -1 (retry forever) or at least 1, not {}",
                self.config.max_task_failures
            ));
        }
        if self.config.service && self.cron_schedule.is_some() {
            problems.push("A service task may not be run on a cron schedule".to_owned());
        }
        // The schedule's syntax and its zone are checked by atoll-cron, where they are read.
        if self.cron_schedule.is_none() {
            for (field, set) in [
                ("cron_timezone", self.cron_timezone.is_some()),
                ("cron_starting_deadline_secs", self.cron_starting_deadline_secs.is_some()),
            ] {
                if set {
                    problems.push(format!("{field} applies only to a job with a cron_schedule"));
                }
            }
        }
        if self.cron_collision_policy == CronCollisionPolicy::RunOverlap {
            problems.push(
                "Invalid cron policy: RUN_OVERLAP is no longer supported; use KILL_EXISTING or CANCEL_NEW".into(),
            );
        }
        for constraint in &self.config.constraints {
            if let ConstraintRule::Dedicated(pool) = &constraint.rule {
                let role = pool.split('/').next().unwrap_or_default();
                if role != "*" && role != self.key.role {
                    problems.push(format!("Only {role} may use hosts dedicated for that role."));
                }
            }
            if constraint.attribute == DEDICATED_ATTRIBUTE && !matches!(constraint.rule, ConstraintRule::Dedicated(_)) {
                problems.push("A dedicated constraint names one 'role/name'".to_owned());
            }
        }
        let static_ports =
            self.config.announce.iter().flat_map(|a| a.portmap.values()).any(|t| matches!(t, PortTarget::Static(_)));
        if static_ports && !self.config.is_dedicated() {
            problems.push("Job must be dedicated in order to specify static ports!".to_owned());
        }
    }

    fn validate_resources(&self, problems: &mut Vec<String>) {
        let res = &self.config.task.resources;
        if res.ram_mb == 0 || res.disk_mb == 0 {
            problems.push(format!(
                "Must specify ram and disk resources, got ram:{} MB disk:{} MB",
                res.ram_mb, res.disk_mb
            ));
        }
        if res.cpu.is_nan() || res.cpu <= 0.0 || !res.cpu.is_finite() {
            problems.push(format!(
                "Task has invalid resources: cpu, ram and disk must all be positive, got cpu {}, ram {} MB, disk {} MB",
                res.cpu, res.ram_mb, res.disk_mb
            ));
        }
    }

    fn validate_processes(&self, problems: &mut Vec<String>) {
        if self.config.task.processes.is_empty() {
            problems.push("Task must have at least one process".to_owned());
        }
        let mut seen = BTreeSet::new();
        for process in &self.config.task.processes {
            if let Some(problem) = process_name_problem(&process.name) {
                problems.push(problem);
            }
            if !seen.insert(process.name.as_str()) {
                problems.push(format!("Duplicate process name '{}'", process.name));
            }
        }
        let by_name: BTreeMap<&str, &ProcessSpec> =
            self.config.task.processes.iter().map(|p| (p.name.as_str(), p)).collect();
        for chain in &self.config.task.order {
            for name in chain {
                if !by_name.contains_key(name.as_str()) {
                    problems.push(format!("Task has invalid plan: ordering names unknown process '{name}'"));
                }
            }
            for pair in chain.windows(2) {
                let (Some(before), Some(after)) = (by_name.get(pair[0].as_str()), by_name.get(pair[1].as_str())) else {
                    continue;
                };
                if before.daemon {
                    problems.push(format!(
                        "Task has invalid plan: Process {} may not depend upon daemon process {}",
                        after.name, before.name
                    ));
                }
                if before.ephemeral && !after.ephemeral {
                    problems.push(format!(
                        "Task has invalid plan: Non-ephemeral process {} may not depend upon ephemeral process {}",
                        after.name, before.name
                    ));
                }
                if before.is_final != after.is_final {
                    problems.push(format!(
                        "Task has invalid plan: Invalid process dependencies! {} and {} must both be final or neither",
                        before.name, after.name
                    ));
                }
            }
        }
        if has_cycle(&self.config.task.predecessors()) {
            problems.push("Task has invalid plan: Cycles detected in the task schedule!".to_owned());
        }
    }

    fn validate_policies(&self, problems: &mut Vec<String>) {
        let update = &self.update_config;
        if update.batch_size == 0 {
            problems.push("update_config batch_size must be at least 1".to_owned());
        }
        if update.max_total_failures >= self.instances && self.instances > 0 {
            problems.push(format!(
                "max_total_failures in update_config must be lesser than the job size. Based on your job size ({}) you should use max_total_failures <= {}.",
                self.instances,
                self.instances - 1
            ));
        }
        if let Some(pulse) = update.pulse_interval_secs
            && pulse < 60
        {
            problems.push(format!("update_config pulse_interval_secs must be at least 60, not {pulse}"));
        }
        if update.sla_aware && self.config.sla_policy.is_none() {
            problems.push("update_config sla_aware needs the job to have an sla_policy".to_owned());
        }
        match &update.update_strategy {
            Some(crate::config::UpdateStrategy::VariableBatch { batch_sizes, .. })
                if batch_sizes.is_empty() || batch_sizes.contains(&0) =>
            {
                problems
                    .push("VariableBatchUpdateStrategy batch_sizes must be a non-empty list of positive sizes".into());
            }
            Some(
                crate::config::UpdateStrategy::Queue { batch_size: 0 }
                | crate::config::UpdateStrategy::Batch { batch_size: 0, .. },
            ) => problems.push("update strategy batch_size must be at least 1".to_owned()),
            _ => {}
        }
        let health = &self.config.health_check_config;
        for (name, value) in [
            ("initial_interval_secs", health.initial_interval_secs),
            ("interval_secs", health.interval_secs),
            ("timeout_secs", health.timeout_secs),
        ] {
            if !(value.is_finite() && value > 0.0) {
                problems.push(format!("health_check_config {name} must be positive, not {value}"));
            }
        }
        if health.min_consecutive_successes == 0 {
            problems.push("health_check_config min_consecutive_successes must be at least 1".to_owned());
        }
        if let HealthChecker::Shell { shell_command } = &health.health_checker
            && shell_command.trim().is_empty()
        {
            problems.push("ShellHealthChecker shell_command must not be empty".to_owned());
        }
        match &self.config.sla_policy {
            Some(SlaPolicy::Count { count: 0, .. }) => problems.push("CountSlaPolicy count must be at least 1".into()),
            Some(SlaPolicy::Percentage { percentage, .. }) if !(*percentage > 0.0 && *percentage <= 100.0) => {
                problems.push(format!("PercentageSlaPolicy percentage must be in (0, 100], not {percentage}"));
            }
            Some(SlaPolicy::Coordinator { coordinator_url, .. }) if coordinator_url.trim().is_empty() => {
                problems.push("CoordinatorSlaPolicy coordinator_url must not be empty".into());
            }
            _ => {}
        }
        if let Some(Container::Docker { image, .. }) = &self.config.container
            && image.trim().is_empty()
        {
            problems.push("Docker image must not be empty".to_owned());
        }
        for entry in &self.config.metadata {
            if entry.key.trim().is_empty() {
                problems.push("Metadata key must not be empty".to_owned());
            }
        }
    }
}

fn process_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("Process name must not be empty".to_owned())
    } else if name.contains('/') || name.contains('\0') || name.starts_with('.') {
        Some(format!("Process name '{name}' must be a valid file name (no '/', no leading '.')"))
    } else {
        None
    }
}

fn has_cycle(before: &BTreeMap<&str, BTreeSet<&str>>) -> bool {
    // Kahn's algorithm: a cycle leaves nodes that never become free.
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = before.clone();
    loop {
        let free: Vec<&str> = remaining.iter().filter(|(_, deps)| deps.is_empty()).map(|(n, _)| *n).collect();
        if free.is_empty() {
            return !remaining.is_empty();
        }
        for name in free {
            remaining.remove(name);
            for deps in remaining.values_mut() {
                deps.remove(name);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn hello_job() -> JobSpec {
        let process = ProcessSpec::new("hello", "echo hello {{thermos.ports[http]}}");
        let mut task = TaskSpec::new(vec![process], Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 });
        task.order = vec![vec!["hello".into()]];
        let mut job = JobSpec::new("devcluster/www-data/devel/hello".parse().unwrap(), task);
        job.config.service = true;
        job
    }

    #[test]
    fn a_plain_job_is_valid_and_requests_its_template_ports() {
        let job = hello_job();
        assert_eq!(job.validate(), Vec::<String>::new());
        assert_eq!(job.requested_ports().into_iter().collect::<Vec<_>>(), vec!["http"]);
        assert_eq!(job.config.task.resources.cpu_millis(), 100);
    }

    #[test]
    fn validation_reports_every_problem_in_aurora_words() {
        let mut job = hello_job();
        job.cron_schedule = Some("* * * * *".into());
        job.config.task.resources.ram_mb = 0;
        job.config.task.processes.push(ProcessSpec::new("hello", "true"));
        let problems = job.validate();
        assert!(problems.contains(&"A service task may not be run on a cron schedule".to_owned()), "{problems:?}");
        assert!(
            problems.iter().any(|p| p.starts_with("Must specify ram and disk resources, got ram:0 MB")),
            "{problems:?}"
        );
        assert!(problems.contains(&"Duplicate process name 'hello'".to_owned()), "{problems:?}");
    }

    #[test]
    fn an_ordering_cycle_is_rejected() {
        let mut job = hello_job();
        job.config.task.processes.push(ProcessSpec::new("b", "true"));
        job.config.task.order = vec![vec!["hello".into(), "b".into()], vec!["b".into(), "hello".into()]];
        assert!(job.validate().contains(&"Task has invalid plan: Cycles detected in the task schedule!".to_owned()));
    }

    #[test]
    fn table_of_job_rules_in_auroras_words() {
        use crate::config::{Announcer, CronCollisionPolicy, PortTarget};
        type Change = fn(&mut JobSpec);
        let cases: Vec<(Change, &str)> = vec![
            (
                |j| j.config.task.processes[0].cmdline = "x".repeat(limits::CMDLINE_BYTES + 1),
                "the cmdline of process 'hello' is 65537 bytes; at most 65536",
            ),
            (|j| j.config.contact = Some("c".repeat(limits::TEXT_BYTES + 1)), "contact is 4097 bytes; at most 4096"),
            (
                |j| {
                    let process = j.config.task.processes[0].clone();
                    j.config.task.processes = (0..=limits::PROCESSES)
                        .map(|n| ProcessSpec { name: format!("p{n}"), ..process.clone() })
                        .collect();
                },
                "a job may have at most 256 processes, not 257",
            ),
            (
                |j| {
                    j.config.metadata =
                        vec![crate::config::Metadata { key: "k".into(), value: "v".into() }; limits::ENTRIES + 1]
                },
                "a job may have at most 256 metadata entries, not 257",
            ),
            (
                |j| j.key.environment = "qa".into(),
                "Environment name should be one of \"prod\", \"devel\", \"test\" or staging<number>! Got qa",
            ),
            (
                |j| j.config.tier = Some("gold".into()),
                "Unknown tier 'gold'; tiers are preferred, preemptible, revocable",
            ),
            (
                |j| j.cron_timezone = Some("Europe/Paris".into()),
                "cron_timezone applies only to a job with a cron_schedule",
            ),
            (|j| j.cron_collision_policy = CronCollisionPolicy::RunOverlap, "Invalid cron policy: RUN_OVERLAP"),
            (
                |j| j.update_config.max_total_failures = 1,
                "max_total_failures in update_config must be lesser than the job size",
            ),
            (|j| j.instances = 0, "Instance count must be between 1 and 4000, not 0"),
            (
                |j| {
                    let mut announce = Announcer::default();
                    announce.portmap.insert("admin".into(), PortTarget::Static(8080));
                    j.config.announce = Some(announce);
                },
                "Job must be dedicated in order to specify static ports!",
            ),
            (
                |j| j.config.constraints = vec![crate::Constraint::parse("dedicated", "other/pool").unwrap()],
                "Only other may use hosts dedicated for that role.",
            ),
            (
                |j| {
                    j.config.task.processes.push(ProcessSpec::new("after", "true"));
                    j.config.task.processes[0].daemon = true;
                    j.config.task.order = vec![vec!["hello".into(), "after".into()]];
                },
                "Task has invalid plan: Process after may not depend upon daemon process hello",
            ),
            (
                |j| {
                    j.config.task.processes.push(ProcessSpec::new("after", "true"));
                    j.config.task.processes[0].ephemeral = true;
                    j.config.task.order = vec![vec!["hello".into(), "after".into()]];
                },
                "Task has invalid plan: Non-ephemeral process after may not depend upon ephemeral process hello",
            ),
            (
                |j| j.config.health_check_config.interval_secs = 0.0,
                "health_check_config interval_secs must be positive",
            ),
            (
                |j| j.config.task.resources.cpu = 0.0,
                "Task has invalid resources: cpu, ram and disk must all be positive, got cpu 0,",
            ),
        ];
        for (change, expected) in cases {
            let mut job = hello_job();
            change(&mut job);
            let problems = job.validate();
            assert!(problems.iter().any(|p| p.starts_with(expected)), "expected '{expected}' in {problems:?}");
        }
    }

    #[test]
    fn a_dedicated_job_may_use_static_ports_and_staging_environments_are_fine() {
        use crate::config::{Announcer, PortTarget};
        let mut job = hello_job();
        job.key.environment = "staging2".into();
        let mut announce = Announcer::default();
        announce.portmap.insert("admin".into(), PortTarget::Static(8080));
        job.config.announce = Some(announce);
        job.config.constraints = vec![crate::Constraint::parse("dedicated", "www-data/web").unwrap()];
        assert_eq!(job.validate(), Vec::<String>::new());
    }

    #[test]
    fn requested_ports_come_from_commands_shell_checks_and_the_announcer() {
        use crate::config::{Announcer, HealthChecker, PortTarget};
        let mut job = hello_job();
        job.config.health_check_config.health_checker =
            HealthChecker::Shell { shell_command: "curl localhost:{{thermos.ports[health]}}/ok".into() };
        let mut announce = Announcer { primary_port: "thrift".into(), ..Announcer::default() };
        announce.portmap.insert("aurora".into(), PortTarget::Named("thrift".into()));
        announce.portmap.insert("admin".into(), PortTarget::Static(9990));
        announce.portmap.insert("debug".into(), PortTarget::Named("dbg".into()));
        job.config.announce = Some(announce);
        let ports: Vec<String> = job.requested_ports().into_iter().collect();
        assert_eq!(ports, vec!["dbg", "health", "http", "thrift"]);
    }
}

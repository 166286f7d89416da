//! Job, task and process specs: what a user asked for, with Aurora's field names and defaults.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

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
}

impl TaskSpec {
    /// The named ports the task's command lines use, through `{{thermos.ports[NAME]}}`.
    pub fn requested_ports(&self) -> BTreeSet<String> {
        self.processes.iter().flat_map(|p| template::port_names(&p.cmdline)).collect()
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

/// A job: `instances` copies of one task, under one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub key: JobKey,
    pub task: TaskSpec,
    pub instances: u32,
    /// A service's instances are restarted whenever they end.
    pub service: bool,
    pub contact: Option<String>,
    pub tier: Option<String>,
    pub priority: i32,
    pub production: bool,
    /// Runs of an ad-hoc instance that may fail before it is given up; -1 retries forever.
    pub max_task_failures: i32,
    pub cron_schedule: Option<String>,
}

/// The most instances one job may have (Aurora's `-max_tasks_per_job`).
pub const MAX_INSTANCES_PER_JOB: u32 = 4000;

impl JobSpec {
    /// Checks the rules every job must meet, returning every broken rule, in Aurora's words
    /// where Aurora had them.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.instances == 0 || self.instances > MAX_INSTANCES_PER_JOB {
            problems
                .push(format!("Instance count must be between 1 and {MAX_INSTANCES_PER_JOB}, not {}", self.instances));
        }
        if self.service && self.cron_schedule.is_some() {
            problems.push("A service task may not be run on a cron schedule".to_owned());
        }
        if self.max_task_failures < -1 || self.max_task_failures == 0 {
            problems.push(format!(
                "max_task_failures must be -1 (retry forever) or at least 1, not {}",
                self.max_task_failures
            ));
        }
        let res = &self.task.resources;
        if res.cpu.is_nan() || res.cpu <= 0.0 || !res.cpu.is_finite() {
            problems.push(format!("Task must have a positive cpu, not {}", res.cpu));
        }
        if res.ram_mb == 0 {
            problems.push("Task must have a positive ram".to_owned());
        }
        if res.disk_mb == 0 {
            problems.push("Task must have a positive disk".to_owned());
        }
        if self.task.processes.is_empty() {
            problems.push("Task must have at least one process".to_owned());
        }
        let mut seen = BTreeSet::new();
        for process in &self.task.processes {
            if let Some(problem) = process_name_problem(&process.name) {
                problems.push(problem);
            }
            if !seen.insert(process.name.as_str()) {
                problems.push(format!("Duplicate process name '{}'", process.name));
            }
        }
        for chain in &self.task.order {
            for name in chain {
                if !seen.contains(name.as_str()) {
                    problems.push(format!("Ordering names unknown process '{name}'"));
                }
            }
        }
        if has_cycle(&self.task.predecessors()) {
            problems.push("Task has invalid plan: the process ordering has a cycle".to_owned());
        }
        problems
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
        JobSpec {
            key: "devcluster/www-data/devel/hello".parse().unwrap(),
            task: TaskSpec {
                name: "hello".into(),
                processes: vec![ProcessSpec::new("hello", "echo hello {{thermos.ports[http]}}")],
                order: vec![vec!["hello".into()]],
                resources: Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
                max_failures: 1,
                max_concurrency: 0,
                finalization_wait: 30,
            },
            instances: 1,
            service: true,
            contact: None,
            tier: None,
            priority: 0,
            production: false,
            max_task_failures: 1,
            cron_schedule: None,
        }
    }

    #[test]
    fn a_plain_job_is_valid_and_requests_its_template_ports() {
        let job = hello_job();
        assert_eq!(job.validate(), Vec::<String>::new());
        assert_eq!(job.task.requested_ports().into_iter().collect::<Vec<_>>(), vec!["http"]);
        assert_eq!(job.task.resources.cpu_millis(), 100);
    }

    #[test]
    fn validation_reports_every_problem_in_aurora_words() {
        let mut job = hello_job();
        job.cron_schedule = Some("* * * * *".into());
        job.task.resources.ram_mb = 0;
        job.task.processes.push(ProcessSpec::new("hello", "true"));
        let problems = job.validate();
        assert!(problems.contains(&"A service task may not be run on a cron schedule".to_owned()), "{problems:?}");
        assert!(problems.contains(&"Task must have a positive ram".to_owned()), "{problems:?}");
        assert!(problems.contains(&"Duplicate process name 'hello'".to_owned()), "{problems:?}");
    }

    #[test]
    fn an_ordering_cycle_is_rejected() {
        let mut job = hello_job();
        job.task.processes.push(ProcessSpec::new("b", "true"));
        job.task.order = vec![vec!["hello".into(), "b".into()], vec!["b".into(), "hello".into()]];
        assert!(job.validate().iter().any(|p| p.contains("cycle")));
    }
}

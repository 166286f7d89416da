//! `Job(#{ ... })` and `Service(#{ ... })` (a Job with `service: true`): a task, its instance
//! count and its key. A built job is checked with [`JobSpec::validate`], and every problem is
//! reported separately at the constructor's call site.

use atoll_model::{JobKey, JobSpec, TaskSpec};
use rhai::{Dynamic, Engine, EvalAltResult, Position};

use super::fields::{FieldReader, ObjectSchema};
use super::register_constructor;

const JOB_FIELDS: &[&str] = &[
    "cluster",
    "role",
    "environment",
    "name",
    "task",
    "instances",
    "contact",
    "tier",
    "priority",
    "production",
    "max_task_failures",
    "cron_schedule",
    "service",
];
const JOB: ObjectSchema = ObjectSchema { name: "Job", fields: JOB_FIELDS };
const SERVICE: ObjectSchema = ObjectSchema { name: "Service", fields: JOB_FIELDS };

// Aurora's defaults.
const DEFAULT_INSTANCES: u32 = 1;
const DEFAULT_PRIORITY: i32 = 0;
const DEFAULT_PRODUCTION: bool = false;
const DEFAULT_MAX_TASK_FAILURES: i32 = 1;

/// Every rule a built job breaks. `Job(...)` fails with this as the value of its runtime error,
/// so that each problem becomes its own diagnostic at the call site.
#[derive(Clone, Debug)]
pub(crate) struct JobProblems(pub(crate) Vec<String>);

impl From<JobProblems> for Box<EvalAltResult> {
    fn from(problems: JobProblems) -> Self {
        // The engine fills in the call site's position.
        EvalAltResult::ErrorRuntime(Dynamic::from(problems), Position::NONE).into()
    }
}

pub(super) fn register(engine: &mut Engine) {
    register_constructor(engine, "Job", |engine, argument| job(engine, &JOB, false, argument));
    register_constructor(engine, "Service", |engine, argument| job(engine, &SERVICE, true, argument));
}

fn job(
    engine: &Engine,
    schema: &ObjectSchema,
    service_by_default: bool,
    argument: Dynamic,
) -> Result<JobSpec, Box<EvalAltResult>> {
    let mut fields = FieldReader::new(engine, schema, argument)?;
    let cluster = fields.string("cluster")?;
    let role = fields.string("role")?;
    let environment = fields.string("environment")?;
    let name = fields.optional_string("name")?;
    let task: TaskSpec = fields.object("task")?;
    // Aurora's default name is '{{task.name}}'.
    let name = name.unwrap_or_else(|| task.name.clone());

    let mut problems = Vec::new();
    let key = JobKey::new(&cluster, &role, &environment, &name).unwrap_or_else(|error| {
        problems.push(error.to_string());
        JobKey { cluster, role, environment, name }
    });
    let job = JobSpec {
        key,
        task,
        instances: fields.whole_number_or("instances", DEFAULT_INSTANCES)?,
        service: fields.bool_or("service", service_by_default)?,
        contact: fields.optional_string("contact")?,
        tier: fields.optional_string("tier")?,
        priority: fields.whole_number_or("priority", DEFAULT_PRIORITY)?,
        production: fields.bool_or("production", DEFAULT_PRODUCTION)?,
        max_task_failures: fields.whole_number_or("max_task_failures", DEFAULT_MAX_TASK_FAILURES)?,
        cron_schedule: fields.optional_string("cron_schedule")?,
    };
    problems.extend(job.validate());
    if problems.is_empty() { Ok(job) } else { Err(JobProblems(problems).into()) }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{diagnostics_of, job_file_with_task, job_of, jobs_of};

    const TASK: &str = r#"
let task = SequentialTask(#{ name: "t", processes: [Process(#{ name: "p", cmdline: "x" })],
                             resources: Resources(#{ cpu: 1, ram: MB, disk: MB }) });
"#;

    #[test]
    fn unset_fields_take_auroras_defaults_and_the_name_comes_from_the_task() {
        let job = job_of(&format!(
            "{TASK}let jobs = [Job(#{{ cluster: \"c\", role: \"r\", environment: \"test\", task: task }})];"
        ));
        assert_eq!(job.key.to_string(), "c/r/test/t");
        assert_eq!(
            (job.instances, job.service, job.priority, job.production, job.max_task_failures),
            (1, false, 0, false, 1)
        );
        assert_eq!((job.contact, job.tier, job.cron_schedule), (None, None, None));
    }

    #[test]
    fn every_field_can_be_set() {
        let job = job_of(&format!(
            r#"{TASK}let jobs = [Job(#{{ cluster: "c", role: "r", environment: "prod", name: "n", task: task,
                instances: 3, contact: "me@example.com", tier: "preferred", priority: 5, production: true,
                max_task_failures: -1, cron_schedule: "0 * * * *" }})];"#
        ));
        assert_eq!(job.key.to_string(), "c/r/prod/n");
        assert_eq!((job.instances, job.priority, job.production, job.max_task_failures), (3, 5, true, -1));
        assert_eq!(job.contact.as_deref(), Some("me@example.com"));
        assert_eq!(job.tier.as_deref(), Some("preferred"));
        assert_eq!(job.cron_schedule.as_deref(), Some("0 * * * *"));
    }

    #[test]
    fn a_service_is_a_job_with_service_set() {
        let jobs = jobs_of(&format!(
            r#"{TASK}let jobs = [
                Service(#{{ cluster: "c", role: "r", environment: "test", name: "s", task: task }}),
                Job(#{{ cluster: "c", role: "r", environment: "test", name: "j", task: task, service: true }}),
            ];"#
        ));
        assert!(jobs.iter().all(|job| job.service), "{jobs:#?}");
    }

    #[test]
    fn every_validation_problem_is_its_own_diagnostic_at_the_call_site() {
        let source = format!(
            "{TASK}\nlet jobs = [\n    Service(#{{ cluster: \"c\", role: \"r\", environment: \"test\", name: \"bad name\", task: task,\n        instances: 0, cron_schedule: \"* * * * *\", max_task_failures: 0 }})\n];"
        );
        let diagnostics = diagnostics_of(&source);
        assert_eq!(
            diagnostics,
            vec![
                "test.rhai:6:5: invalid job key 'c/r/test/bad name': the name 'bad name' contains ' '; use letters, digits, '-', '_' and '.'; a job key looks like CLUSTER/ROLE/ENV/NAME, e.g. devcluster/www-data/devel/hello",
                "test.rhai:6:5: Instance count must be between 1 and 4000, not 0",
                "test.rhai:6:5: A service task may not be run on a cron schedule",
                "test.rhai:6:5: max_task_failures must be -1 (retry forever) or at least 1, not 0",
            ]
        );
    }

    #[test]
    fn a_job_needs_its_key_fields_and_a_task() {
        let diagnostics = diagnostics_of(&job_file_with_task("3").replace("role: \"r\", ", ""));
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].ends_with("Job is missing required field 'role'"), "{diagnostics:?}");
        let diagnostics = diagnostics_of(&job_file_with_task("3"));
        assert!(diagnostics[0].ends_with("Job field 'task' must be a Task, not an integer"), "{diagnostics:?}");
    }
}

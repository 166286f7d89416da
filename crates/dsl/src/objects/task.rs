//! `Task(#{ ... })` and `SequentialTask(#{ ... })`: processes that run together in one sandbox,
//! and the resources they share.

use atoll_model::{ProcessSpec, Resources, TaskSpec};
use rhai::{Dynamic, Engine};

use super::fields::{FieldReader, ObjectSchema};
use super::order::OrderConstraint;
use super::{ObjectError, register_constructor};

const TASK_FIELDS: &[&str] =
    &["name", "processes", "constraints", "resources", "max_failures", "max_concurrency", "finalization_wait"];
const TASK: ObjectSchema = ObjectSchema { name: "Task", fields: TASK_FIELDS };
const SEQUENTIAL_TASK: ObjectSchema = ObjectSchema { name: "SequentialTask", fields: TASK_FIELDS };

// Aurora's defaults.
const DEFAULT_MAX_FAILURES: u32 = 1;
const DEFAULT_MAX_CONCURRENCY: u32 = 0;
const DEFAULT_FINALIZATION_WAIT: u64 = 30;

pub(super) fn register(engine: &mut Engine) {
    register_constructor(engine, "Task", task);
    register_constructor(engine, "SequentialTask", sequential_task);
}

/// A task whose processes run in parallel except as its `constraints` order them.
fn task(engine: &Engine, argument: Dynamic) -> Result<TaskSpec, ObjectError> {
    let mut fields = FieldReader::new(engine, &TASK, argument)?;
    let constraints: Vec<OrderConstraint> = fields.optional_list("constraints")?.unwrap_or_default();
    let order = constraints.into_iter().map(|constraint| constraint.names).collect();
    read_task(fields, order)
}

/// A task whose processes run one after another, in the order listed.
fn sequential_task(engine: &Engine, argument: Dynamic) -> Result<TaskSpec, ObjectError> {
    let fields = FieldReader::new(engine, &SEQUENTIAL_TASK, argument)?;
    if fields.is_given("constraints") {
        return Err(ObjectError::SequentialTaskWithConstraints);
    }
    let mut task = read_task(fields, Vec::new())?;
    let names: Vec<String> = task.processes.iter().map(|process| process.name.clone()).collect();
    if !names.is_empty() {
        task.order = vec![names];
    }
    Ok(task)
}

/// Reads every field but `constraints`, which the caller has turned into `order`.
fn read_task(mut fields: FieldReader<'_>, order: Vec<Vec<String>>) -> Result<TaskSpec, ObjectError> {
    let name = fields.optional_string("name")?;
    let processes: Vec<ProcessSpec> = fields.list("processes")?;
    let resources: Resources = fields.object("resources")?;
    Ok(TaskSpec {
        // Aurora's default is '{{processes[0].name}}'; with no processes validation complains.
        name: name.or_else(|| processes.first().map(|process| process.name.clone())).unwrap_or_default(),
        processes,
        order,
        resources,
        max_failures: fields.whole_number_or("max_failures", DEFAULT_MAX_FAILURES)?,
        max_concurrency: fields.whole_number_or("max_concurrency", DEFAULT_MAX_CONCURRENCY)?,
        finalization_wait: fields.whole_number_or("finalization_wait", DEFAULT_FINALIZATION_WAIT)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::test_support::{diagnostics_of, job_file_with_task, job_of};

    const PROCESSES: &str = r#"
let fetch = Process(#{ name: "fetch", cmdline: "curl -O x" });
let unpack = Process(#{ name: "unpack", cmdline: "tar xf x" });
let serve = Process(#{ name: "serve", cmdline: "./serve" });
let resources = Resources(#{ cpu: 1, ram: GB, disk: GB });
"#;

    fn job_file(task: &str) -> String {
        format!("{PROCESSES}{}", job_file_with_task(task))
    }

    #[test]
    fn a_sequential_task_orders_all_processes_as_listed() {
        let job = job_of(&job_file("SequentialTask(#{ processes: [fetch, unpack, serve], resources: resources })"));
        assert_eq!(job.task.order, vec![vec!["fetch", "unpack", "serve"]]);
        assert_eq!(job.task.name, "fetch");
    }

    #[test]
    fn unset_fields_take_auroras_defaults() {
        let job = job_of(&job_file("Task(#{ processes: [serve], resources: resources })"));
        assert_eq!(job.task.name, "serve");
        assert!(job.task.order.is_empty());
        assert_eq!((job.task.max_failures, job.task.max_concurrency, job.task.finalization_wait), (1, 0, 30));
    }

    #[test]
    fn order_constraints_take_processes_or_names() {
        let job = job_of(&job_file(
            r#"Task(#{ name: "web", processes: [fetch, unpack, serve], resources: resources,
                      constraints: [order(fetch, "unpack"), order(unpack, serve)], max_concurrency: 2 })"#,
        ));
        assert_eq!(job.task.name, "web");
        assert_eq!(job.task.order, vec![vec!["fetch", "unpack"], vec!["unpack", "serve"]]);
        assert_eq!(job.task.max_concurrency, 2);
    }

    #[test]
    fn a_sequential_task_refuses_constraints() {
        let diagnostics = diagnostics_of(&job_file(
            "SequentialTask(#{ processes: [fetch, serve], resources: resources, constraints: [order(fetch, serve)] })",
        ));
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].contains("SequentialTask orders all of its processes itself"), "{diagnostics:?}");
    }

    #[test]
    fn order_rejects_what_is_neither_a_process_nor_a_name() {
        let diagnostics = diagnostics_of(&job_file(
            "Task(#{ processes: [fetch], resources: resources, constraints: [order(fetch, 3)] })",
        ));
        assert_eq!(diagnostics.len(), 1);
        assert!(
            diagnostics[0].ends_with("order() takes processes or process names, but argument 2 is an integer"),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn list_fields_name_the_offending_element() {
        let diagnostics = diagnostics_of(&job_file(r#"Task(#{ processes: [fetch, "unpack"], resources: resources })"#));
        assert_eq!(diagnostics.len(), 1);
        assert!(
            diagnostics[0].ends_with(
                "Task field 'processes' must be an array of Process, not an array whose element 1 is a string"
            ),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn an_ordering_naming_an_unknown_process_fails_validation() {
        let diagnostics = diagnostics_of(&job_file(
            r#"Task(#{ processes: [fetch], resources: resources, constraints: [order(fetch, "nope")] })"#,
        ));
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].ends_with("Ordering names unknown process 'nope'"), "{diagnostics:?}");
    }
}

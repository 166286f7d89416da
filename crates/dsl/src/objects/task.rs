//! `Task(#{ ... })`, `SequentialTask(#{ ... })` and `SimpleTask(name, command)`: processes that
//! run together in one sandbox, and the resources they share.

use std::sync::Arc;

use atoll_model::{ProcessSpec, Resources, TaskSpec};
use rhai::{Dynamic, Engine};

use super::fields::{Field, FieldReader, ObjectSchema, default, not_allowed, replacing, required};
use super::kinds::{Described, ListOf, Text, object, whole};
use super::order::OrderConstraint;
use super::{Call, FunctionSchema, ObjectError, Parameters, register_constructor, register_function};
use crate::session::Session;
use crate::values::describe;

const TASK_FIELDS: [Field; 8] = [
    default("name", "the first process's name"),
    required("processes"),
    default("constraints", "[]"),
    required("resources"),
    default("max_failures", "1"),
    default("max_concurrency", "0"),
    default("finalization_wait", "30"),
    default("user", "the role"),
];
pub(super) const TASK: ObjectSchema = ObjectSchema {
    name: "Task",
    summary: "Processes that run together in one sandbox, in parallel except as `constraints: [order(...)]` orders them.",
    fields: &TASK_FIELDS,
};
pub(super) const SEQUENTIAL_TASK: ObjectSchema = ObjectSchema {
    name: "SequentialTask",
    summary: "A Task whose processes run one after another, in list order; it takes no `constraints`.",
    fields: &replacing(TASK_FIELDS, not_allowed("constraints")),
};
pub(super) const SIMPLE_TASK: FunctionSchema = FunctionSchema {
    name: "SimpleTask",
    summary: "A task of one process, both named `name`, with 1 cpu, 1 GB of ram and 1 GB of disk.",
    takes: "a name and a command line",
    form: "SimpleTask(name, command)",
    arities: 2..=2,
    parameters: Parameters::Named(&["name: String", "command: String"]),
};

/// How messages name the value of `constraints`.
const ORDERS: &str = "an array of order(...) constraints";
/// `SimpleTask`'s resources (Aurora's): one cpu, 1 GiB of ram and of disk, in mebibytes.
const SIMPLE_RESOURCES: Resources = Resources { cpu: 1.0, ram_mb: 1024, disk_mb: 1024, gpu: 0 };

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, &TASK, task);
    register_constructor(engine, session, &SEQUENTIAL_TASK, sequential_task);
    register_function(engine, session, &SIMPLE_TASK, simple_task);
}

/// A task whose processes run in parallel except as its `constraints` order them.
fn task(call: &Call<'_>, mut fields: FieldReader<'_>) -> TaskSpec {
    let constraints: Vec<OrderConstraint> = fields.or("constraints", Described(ListOf(object()), ORDERS), Vec::new());
    let order = constraints.into_iter().map(|constraint| constraint.names).collect();
    read_task(call, fields, order)
}

/// A task whose processes run one after another, in the order listed.
fn sequential_task(call: &Call<'_>, mut fields: FieldReader<'_>) -> TaskSpec {
    if fields.is_given("constraints") {
        fields.problem_at(&["constraints"], ObjectError::SequentialTaskWithConstraints);
        // Read (and drop) it, so that it is not reported again as a wrong type.
        let _ = fields.optional("constraints", Described(ListOf(object::<OrderConstraint>()), ORDERS));
    }
    let mut task = read_task(call, fields, Vec::new());
    let names: Vec<String> = task.processes.iter().map(|process| process.name.clone()).collect();
    if !names.is_empty() {
        task.order = vec![names];
    }
    task
}

/// Reads every field but `constraints`, which the caller has turned into `order`, and reports
/// what is wrong.
fn read_task(call: &Call<'_>, mut fields: FieldReader<'_>, order: Vec<Vec<String>>) -> TaskSpec {
    let name = fields.optional("name", Text);
    let processes: Vec<ProcessSpec> = fields
        .required("processes", ListOf(object()))
        .unwrap_or_else(|| vec![ProcessSpec::new(&call.session().stand_in("process"), "true")]);
    let resources = fields.required("resources", object()).unwrap_or(SIMPLE_RESOURCES);
    let defaults = TaskSpec::new(processes, resources);
    let task = TaskSpec {
        // Aurora's default is '{{processes[0].name}}', which `TaskSpec::new` applies.
        name: name.unwrap_or(defaults.name.clone()),
        order,
        max_failures: fields.or("max_failures", whole(), defaults.max_failures),
        max_concurrency: fields.or("max_concurrency", whole(), defaults.max_concurrency),
        finalization_wait: fields.or("finalization_wait", whole(), defaults.finalization_wait),
        user: fields.optional("user", Text),
        ..defaults
    };
    call.report_fields(fields.finish());
    task
}

/// `SimpleTask(name, command)`: one process named like the task, with Aurora's small resources.
fn simple_task(call: &Call<'_>, arguments: Vec<Dynamic>) -> TaskSpec {
    let mut texts = Vec::with_capacity(arguments.len());
    for (index, argument) in arguments.iter().enumerate() {
        match argument.as_immutable_string_ref() {
            Ok(text) => texts.push(text.to_string()),
            Err(_) => {
                let found = describe(call.engine(), argument);
                call.report([ObjectError::Argument {
                    function: "SimpleTask",
                    expected: "a name and a command line, both strings",
                    argument: index + 1,
                    found,
                }
                .to_string()]);
                texts.push(if index == 0 { call.session().stand_in("task") } else { String::new() });
            }
        }
    }
    let [name, command] = <[String; 2]>::try_from(texts).unwrap_or_default();
    let mut task = TaskSpec::new(vec![ProcessSpec::new(&name, &command)], SIMPLE_RESOURCES);
    task.name = name;
    task
}

#[cfg(test)]
mod tests {
    use atoll_model::{ProcessSpec, Resources};

    use crate::test_support::{diagnostics_of, job_file_with_task, job_of, messages};

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
        assert_eq!(job.config.task.order, vec![vec!["fetch", "unpack", "serve"]]);
        assert_eq!(job.config.task.name, "fetch");
    }

    #[test]
    fn unset_fields_take_auroras_defaults() {
        let job = job_of(&job_file("Task(#{ processes: [serve], resources: resources })"));
        assert_eq!(job.config.task.name, "serve");
        assert!(job.config.task.order.is_empty());
        assert_eq!(
            (job.config.task.max_failures, job.config.task.max_concurrency, job.config.task.finalization_wait),
            (1, 0, 30)
        );
        assert_eq!(job.config.task.user, None);
    }

    #[test]
    fn every_field_can_be_set() {
        let job = job_of(&job_file(
            r#"Task(#{ name: "web", processes: [fetch, serve], resources: resources, constraints: [order(fetch, serve)],
                      max_failures: 2, max_concurrency: 1, finalization_wait: 45, user: "nobody" })"#,
        ));
        let task = job.config.task;
        assert_eq!((task.name.as_str(), task.processes.len()), ("web", 2));
        assert_eq!(task.order, vec![vec!["fetch", "serve"]]);
        assert_eq!((task.max_failures, task.max_concurrency, task.finalization_wait), (2, 1, 45));
        assert_eq!(task.user.as_deref(), Some("nobody"));
        assert_eq!(task.resources, Resources { cpu: 1.0, ram_mb: 1024, disk_mb: 1024, gpu: 0 });
    }

    #[test]
    fn a_simple_task_is_one_process_with_auroras_small_resources() {
        let job = job_of(&job_file_with_task(r#"SimpleTask("hello", "echo {{name}}")"#));
        let task = job.config.task;
        assert_eq!(task.name, "hello");
        assert_eq!(task.processes, vec![ProcessSpec::new("hello", "echo j")]);
        assert_eq!(task.resources, Resources { cpu: 1.0, ram_mb: 1024, disk_mb: 1024, gpu: 0 });
        assert!(task.order.is_empty());
        let diagnostics = diagnostics_of(&job_file_with_task(r#"SimpleTask("hello", 3)"#));
        assert_eq!(
            messages(&diagnostics),
            vec!["SimpleTask() takes a name and a command line, both strings, but argument 2 is an integer"]
        );
    }

    #[test]
    fn constraints_must_be_orders() {
        let diagnostics =
            diagnostics_of(&job_file(r#"Task(#{ processes: [fetch], resources: resources, constraints: ["fetch"] })"#));
        assert_eq!(
            messages(&diagnostics),
            vec![
                "Task field 'constraints' must be an array of order(...) constraints, not an array whose element 0 is a string"
            ]
        );
    }

    #[test]
    fn a_task_needs_processes_and_resources() {
        let diagnostics = diagnostics_of(&job_file("Task(#{ name: \"t\" })"));
        assert_eq!(
            messages(&diagnostics),
            vec!["Task is missing required field 'processes'", "Task is missing required field 'resources'"]
        );
    }

    #[test]
    fn order_constraints_take_processes_or_names() {
        let job = job_of(&job_file(
            r#"Task(#{ name: "web", processes: [fetch, unpack, serve], resources: resources,
                      constraints: [order(fetch, "unpack"), order(unpack, serve)], max_concurrency: 2 })"#,
        ));
        assert_eq!(job.config.task.name, "web");
        assert_eq!(job.config.task.order, vec![vec!["fetch", "unpack"], vec!["unpack", "serve"]]);
        assert_eq!(job.config.task.max_concurrency, 2);
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
        assert!(
            diagnostics[0].ends_with("Task has invalid plan: ordering names unknown process 'nope'"),
            "{diagnostics:?}"
        );
    }
}

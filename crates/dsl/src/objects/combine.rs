//! `combine_tasks(t1, t2, ...)` and `concat_tasks(t1, t2, ...)`: one task made of several
//! (Aurora's `Tasks.combine` and `Tasks.concat`). Both take the tasks as arguments or as one
//! array, and keep the first task's name and other fields.
//!
//! - combined, the processes run in parallel and the resources add up;
//! - concatenated, every process of a task runs before any of the next, the resources are the
//!   largest of each, and the finalization waits add up.

use std::sync::Arc;

use atoll_model::{Resources, TaskSpec};
use rhai::{Array, Dynamic, Engine};

use super::{Call, FunctionSchema, ObjectError, Parameters, register_function};
use crate::session::Session;
use crate::values::describe;

/// Both take up to 8 tasks as separate arguments; more can be given as one array.
pub(super) const COMBINE_TASKS: FunctionSchema = FunctionSchema {
    name: "combine_tasks",
    summary: "One task running every process of the tasks in parallel, with the first task's name and settings \
              and the resources added up.",
    takes: "1 to 8 Tasks, or one array of Tasks",
    form: "combine_tasks(t1, t2, ...) or combine_tasks([t1, t2, ...])",
    arities: 1..=8,
    parameters: Parameters::Numbered("task"),
};
pub(super) const CONCAT_TASKS: FunctionSchema = FunctionSchema {
    name: "concat_tasks",
    summary: "One task running every process of a task before any of the next, with the first task's name and \
              settings, the largest of each resource, and the finalization waits added up.",
    takes: "1 to 8 Tasks, or one array of Tasks",
    form: "concat_tasks(t1, t2, ...) or concat_tasks([t1, t2, ...])",
    arities: 1..=8,
    parameters: Parameters::Numbered("task"),
};

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_function(engine, session, &COMBINE_TASKS, combine_tasks);
    register_function(engine, session, &CONCAT_TASKS, concat_tasks);
}

fn combine_tasks(call: &Call<'_>, arguments: Vec<Dynamic>) -> TaskSpec {
    let tasks = tasks_of(call, "combine_tasks", arguments);
    let mut combined = merged(&tasks);
    combined.resources = tasks.iter().fold(Resources { cpu: 0.0, ram_mb: 0, disk_mb: 0, gpu: 0 }, |sum, task| {
        let more = &task.resources;
        Resources {
            cpu: sum.cpu + more.cpu,
            ram_mb: sum.ram_mb.saturating_add(more.ram_mb),
            disk_mb: sum.disk_mb.saturating_add(more.disk_mb),
            gpu: sum.gpu.saturating_add(more.gpu),
        }
    });
    combined
}

fn concat_tasks(call: &Call<'_>, arguments: Vec<Dynamic>) -> TaskSpec {
    let tasks = tasks_of(call, "concat_tasks", arguments);
    let mut concatenated = merged(&tasks);
    for pair in tasks.windows(2) {
        for before in &pair[0].processes {
            for after in pair[1].processes.iter().filter(|after| after.name != before.name) {
                push_new(&mut concatenated.order, vec![before.name.clone(), after.name.clone()]);
            }
        }
    }
    concatenated.resources = tasks.iter().fold(Resources { cpu: 0.0, ram_mb: 0, disk_mb: 0, gpu: 0 }, |max, task| {
        let other = &task.resources;
        Resources {
            cpu: max.cpu.max(other.cpu),
            ram_mb: max.ram_mb.max(other.ram_mb),
            disk_mb: max.disk_mb.max(other.disk_mb),
            gpu: max.gpu.max(other.gpu),
        }
    });
    concatenated.finalization_wait = tasks.iter().fold(0_u64, |sum, task| sum.saturating_add(task.finalization_wait));
    concatenated
}

/// The first task, with every task's processes and orderings (each once).
fn merged(tasks: &[TaskSpec]) -> TaskSpec {
    let mut merged = tasks[0].clone();
    for task in &tasks[1..] {
        for process in &task.processes {
            push_new(&mut merged.processes, process.clone());
        }
        for chain in &task.order {
            push_new(&mut merged.order, chain.clone());
        }
    }
    merged
}

fn push_new<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The tasks given, as arguments or as one array; never empty (a stand-in task takes the place
/// of none, with the problem recorded).
fn tasks_of(call: &Call<'_>, function: &'static str, arguments: Vec<Dynamic>) -> Vec<TaskSpec> {
    let arguments = match <[Dynamic; 1]>::try_from(arguments) {
        Ok([single]) if single.is_array() => single.cast::<Array>(),
        Ok(single) => single.to_vec(),
        Err(arguments) => arguments,
    };
    let mut tasks = Vec::with_capacity(arguments.len());
    for (index, argument) in arguments.into_iter().enumerate() {
        match argument.flatten().try_cast_result::<TaskSpec>() {
            Ok(task) => tasks.push(task),
            Err(argument) => call.report([ObjectError::Argument {
                function,
                expected: "Tasks, or one array of Tasks",
                argument: index + 1,
                found: describe(call.engine(), &argument),
            }
            .to_string()]),
        }
    }
    if tasks.is_empty() {
        call.report([ObjectError::NoTasks { function }.to_string()]);
        let process = atoll_model::ProcessSpec::new(&call.session().stand_in("process"), "true");
        tasks.push(TaskSpec::new(vec![process], Resources { cpu: 1.0, ram_mb: 1, disk_mb: 1, gpu: 0 }));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use crate::test_support::{diagnostics_of, job_file_with_task, job_of};
    use atoll_model::Resources;

    const TASKS: &str = r#"
let web = Task(#{ name: "web", processes: [Process(#{ name: "serve", cmdline: "./serve" })],
                  resources: Resources(#{ cpu: 1, ram: GB, disk: 2 * GB }), finalization_wait: 10 });
let sidecar = Task(#{ name: "sidecar", processes: [Process(#{ name: "log", cmdline: "./ship" }), Process(#{ name: "tail", cmdline: "tail" })],
                      constraints: [order("log", "tail")],
                      resources: Resources(#{ cpu: 0.5, ram: 3 * GB, disk: GB, gpu: 1 }), finalization_wait: 20 });
"#;

    fn task_of(expression: &str) -> atoll_model::TaskSpec {
        job_of(&format!("{TASKS}{}", job_file_with_task(expression))).config.task
    }

    #[test]
    fn combined_tasks_run_in_parallel_with_summed_resources() {
        let task = task_of("combine_tasks(web, sidecar)");
        assert_eq!(task.name, "web");
        let names: Vec<&str> = task.processes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["serve", "log", "tail"]);
        assert_eq!(task.order, vec![vec!["log", "tail"]]);
        assert_eq!(task.resources, Resources { cpu: 1.5, ram_mb: 4096, disk_mb: 3072, gpu: 1 });
        assert_eq!(task.finalization_wait, 10);
    }

    #[test]
    fn concatenated_tasks_run_one_after_another_with_the_largest_resources() {
        let task = task_of("concat_tasks(web, sidecar)");
        assert_eq!(task.name, "web");
        assert_eq!(task.order, vec![vec!["log", "tail"], vec!["serve", "log"], vec!["serve", "tail"]]);
        assert_eq!(task.resources, Resources { cpu: 1.0, ram_mb: 3072, disk_mb: 2048, gpu: 1 });
        assert_eq!(task.finalization_wait, 30);
    }

    #[test]
    fn tasks_may_be_given_as_one_array_and_shared_processes_appear_once() {
        assert_eq!(task_of("combine_tasks([web, sidecar])"), task_of("combine_tasks(web, sidecar)"));
        assert_eq!(task_of("concat_tasks([sidecar, web])"), task_of("concat_tasks(sidecar, web)"));
        assert_eq!(task_of("combine_tasks(web, web)").processes.len(), 1);
        assert_eq!(task_of("combine_tasks(web)"), task_of("web"));
    }

    #[test]
    fn what_is_not_a_task_is_named_and_none_at_all_is_an_error() {
        let diagnostics = diagnostics_of(&format!("{TASKS}{}", job_file_with_task("combine_tasks(web, \"sidecar\")")));
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(
            diagnostics[0].ends_with("combine_tasks() takes Tasks, or one array of Tasks, but argument 2 is a string"),
            "{diagnostics:?}"
        );
        let diagnostics = diagnostics_of(&format!("{TASKS}{}", job_file_with_task("concat_tasks([])")));
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0].ends_with("concat_tasks() needs at least one Task"), "{diagnostics:?}");
    }
}

//! `Process(#{ name, cmdline, ... })`: one command line of a task.

use atoll_model::ProcessSpec;
use rhai::{Dynamic, Engine};

use super::fields::{FieldReader, ObjectSchema};
use super::{ObjectError, register_constructor};

const PROCESS: ObjectSchema = ObjectSchema {
    name: "Process",
    fields: &["name", "cmdline", "max_failures", "daemon", "ephemeral", "min_duration", "final"],
};

pub(super) fn register(engine: &mut Engine) {
    register_constructor(engine, "Process", process);
}

fn process(engine: &Engine, argument: Dynamic) -> Result<ProcessSpec, ObjectError> {
    let mut fields = FieldReader::new(engine, &PROCESS, argument)?;
    let name = fields.string("name")?;
    let cmdline = fields.string("cmdline")?;
    // The model holds Aurora's defaults.
    let defaults = ProcessSpec::new(&name, &cmdline);
    Ok(ProcessSpec {
        max_failures: fields.whole_number_or("max_failures", defaults.max_failures)?,
        daemon: fields.bool_or("daemon", defaults.daemon)?,
        ephemeral: fields.bool_or("ephemeral", defaults.ephemeral)?,
        min_duration: fields.whole_number_or("min_duration", defaults.min_duration)?,
        is_final: fields.bool_or("final", defaults.is_final)?,
        ..defaults
    })
}

#[cfg(test)]
mod tests {
    use crate::test_support::{diagnostics_of, job_file_with_task, job_of};
    use atoll_model::ProcessSpec;

    fn job_file_with_process(process: &str) -> String {
        job_file_with_task(&format!(
            "SequentialTask(#{{ processes: [{process}], resources: Resources(#{{ cpu: 1, ram: MB, disk: MB }}) }})"
        ))
    }

    #[test]
    fn unset_fields_take_auroras_defaults() {
        let job = job_of(&job_file_with_process(r#"Process(#{ name: "p", cmdline: "true" })"#));
        let process = &job.task.processes[0];
        assert_eq!(
            (process.max_failures, process.daemon, process.ephemeral, process.min_duration, process.is_final),
            (1, false, false, 5, false)
        );
    }

    #[test]
    fn every_field_can_be_set() {
        let job = job_of(&job_file_with_process(
            r#"Process(#{ name: "p", cmdline: "run", max_failures: 0, daemon: true, ephemeral: true, min_duration: 60, final: true })"#,
        ));
        let expected = ProcessSpec {
            max_failures: 0,
            daemon: true,
            ephemeral: true,
            min_duration: 60,
            is_final: true,
            ..ProcessSpec::new("p", "run")
        };
        assert_eq!(job.task.processes, vec![expected]);
    }

    #[test]
    fn an_unknown_field_is_named_with_the_nearest_known_field() {
        let source = format!("\n\n  {}", job_file_with_process(r#"Process(#{ name: "p", cmdlin: "true" })"#));
        let diagnostics = diagnostics_of(&source);
        let column = source.lines().nth(2).and_then(|line| line.find("Process")).map(|index| index + 1);
        assert_eq!(
            diagnostics,
            vec![format!("test.rhai:3:{}: Process has no field 'cmdlin'; did you mean 'cmdline'?", column.unwrap())]
        );
    }

    #[test]
    fn an_unknown_field_far_from_any_lists_the_fields() {
        let diagnostics = diagnostics_of(&job_file_with_process(r#"Process(#{ name: "p", cmdline: "x", colour: 1 })"#));
        assert_eq!(diagnostics.len(), 1);
        assert!(
            diagnostics[0].ends_with(
                "Process has no field 'colour'; its fields are name, cmdline, max_failures, daemon, ephemeral, min_duration, final"
            ),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let diagnostics = diagnostics_of(&job_file_with_process(r#"Process(#{ name: "p" })"#));
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].ends_with(": Process is missing required field 'cmdline'"), "{diagnostics:?}");
    }

    #[test]
    fn wrong_types_and_ranges_name_the_field_and_the_expectation() {
        for (fields, message) in [
            (r#"name: 7, cmdline: "x""#, "Process field 'name' must be a string, not an integer"),
            (r#"name: "p", cmdline: "x", daemon: "yes""#, "Process field 'daemon' must be a bool, not a string"),
            (
                r#"name: "p", cmdline: "x", max_failures: -1"#,
                "Process field 'max_failures' must be a whole number from 0 to 4294967295, not -1",
            ),
            (
                r#"name: "p", cmdline: "x", min_duration: 1.5"#,
                "Process field 'min_duration' must be a whole number of at least 0, not a float",
            ),
        ] {
            let diagnostics = diagnostics_of(&job_file_with_process(&format!("Process(#{{ {fields} }})")));
            assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
            assert!(diagnostics[0].ends_with(message), "{diagnostics:?} should end with {message}");
        }
    }

    #[test]
    fn a_constructor_given_something_other_than_a_map_says_what_it_takes() {
        let diagnostics = diagnostics_of(&job_file_with_process(r#"Process("hello")"#));
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].ends_with("Process takes one object map, e.g. Process(#{ ... }), not a string"));
    }
}

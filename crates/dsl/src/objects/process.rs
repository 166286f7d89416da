//! `Process(#{ name, cmdline, ... })`, one command line of a task, and how its output is kept:
//! `Logger(#{ destination, mode, rotate })` and `RotatePolicy(#{ log_size, backups })`.

use std::sync::Arc;

use atoll_model::ProcessSpec;
use atoll_model::config::{LogDestination, LogMode, Logger, RotatePolicy};
use rhai::Engine;

use super::fields::{FieldReader, ObjectSchema, default, required};
use super::kinds::{Bytes, Flag, OneOf, Text, object, whole};
use super::{Call, register_constructor};
use crate::session::Session;

pub(super) const PROCESS: ObjectSchema = ObjectSchema {
    name: "Process",
    summary: "One command line of a task, run under `bash -c` in the task's sandbox.",
    fields: &[
        required("name"),
        required("cmdline"),
        default("max_failures", "1"),
        default("daemon", "false"),
        default("ephemeral", "false"),
        default("min_duration", "5"),
        default("final", "false"),
        default("logger", "Logger(#{})"),
    ],
};
pub(super) const LOGGER: ObjectSchema = ObjectSchema {
    name: "Logger",
    summary: "Where a process's stdout and stderr go.",
    fields: &[
        default("destination", "\"file\""),
        default("mode", "\"standard\""),
        default("rotate", "RotatePolicy(#{})"),
    ],
};
pub(super) const ROTATE_POLICY: ObjectSchema = ObjectSchema {
    name: "RotatePolicy",
    summary: "How a rotating Logger rotates: at which size, keeping how many files.",
    fields: &[default("log_size", "100 * MB"), default("backups", "5")],
};

/// `Logger.destination`'s words, in [`LogDestination`]'s order.
const DESTINATIONS: OneOf = OneOf(&["file", "console", "both", "none"]);
/// `Logger.mode`'s words, in [`LogMode`]'s order.
const MODES: OneOf = OneOf(&["standard", "rotate"]);

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, &PROCESS, process);
    register_constructor(engine, session, &LOGGER, logger);
    register_constructor(engine, session, &ROTATE_POLICY, rotate_policy);
}

fn process(call: &Call<'_>, mut fields: FieldReader<'_>) -> ProcessSpec {
    let name = fields.required("name", Text).unwrap_or_else(|| call.session().stand_in("process"));
    let cmdline = fields.required("cmdline", Text).unwrap_or_default();
    // The model holds Aurora's defaults.
    let defaults = ProcessSpec::new(&name, &cmdline);
    let process = ProcessSpec {
        max_failures: fields.or("max_failures", whole(), defaults.max_failures),
        daemon: fields.or("daemon", Flag, defaults.daemon),
        ephemeral: fields.or("ephemeral", Flag, defaults.ephemeral),
        min_duration: fields.or("min_duration", whole(), defaults.min_duration),
        is_final: fields.or("final", Flag, defaults.is_final),
        logger: fields.or("logger", object(), defaults.logger.clone()),
        ..defaults
    };
    call.report_fields(fields.finish());
    process
}

fn logger(call: &Call<'_>, mut fields: FieldReader<'_>) -> Logger {
    let defaults = Logger::default();
    let destination = match fields.optional("destination", DESTINATIONS) {
        Some("console") => LogDestination::Console,
        Some("both") => LogDestination::Both,
        Some("none") => LogDestination::None,
        Some(_) => LogDestination::File,
        None => defaults.destination,
    };
    let mode = match fields.optional("mode", MODES) {
        Some("rotate") => LogMode::Rotate,
        Some(_) => LogMode::Standard,
        None => defaults.mode,
    };
    let logger = Logger { destination, mode, rotate: fields.or("rotate", object(), defaults.rotate) };
    call.report_fields(fields.finish());
    logger
}

fn rotate_policy(call: &Call<'_>, mut fields: FieldReader<'_>) -> RotatePolicy {
    let defaults = RotatePolicy::default();
    let policy = RotatePolicy {
        log_size: fields.or("log_size", Bytes, defaults.log_size),
        backups: fields.or("backups", whole(), defaults.backups),
    };
    call.report_fields(fields.finish());
    policy
}

#[cfg(test)]
mod tests {
    use crate::test_support::{diagnostics_of, job_file_with_task, job_of, messages};
    use atoll_model::ProcessSpec;
    use atoll_model::config::{LogDestination, LogMode, Logger, RotatePolicy};

    fn job_file_with_process(process: &str) -> String {
        job_file_with_task(&format!(
            "SequentialTask(#{{ processes: [{process}], resources: Resources(#{{ cpu: 1, ram: MB, disk: MB }}) }})"
        ))
    }

    fn process_of(process: &str) -> ProcessSpec {
        job_of(&job_file_with_process(process)).config.task.processes.remove(0)
    }

    #[test]
    fn unset_fields_take_auroras_defaults() {
        let process = process_of(r#"Process(#{ name: "p", cmdline: "true" })"#);
        assert_eq!(
            (process.max_failures, process.daemon, process.ephemeral, process.min_duration, process.is_final),
            (1, false, false, 5, false)
        );
        assert_eq!(process.logger, Logger::default());
        assert_eq!(process.logger.rotate, RotatePolicy { log_size: 100 << 20, backups: 5 });
        assert_eq!(
            process_of(r#"Process(#{ name: "p", cmdline: "x", logger: Logger(#{}) })"#).logger,
            Logger::default()
        );
    }

    #[test]
    fn every_field_can_be_set() {
        let process = process_of(
            r#"Process(#{ name: "p", cmdline: "run", max_failures: 0, daemon: true, ephemeral: true, min_duration: 60,
                final: true, logger: Logger(#{ destination: "both", mode: "rotate",
                rotate: RotatePolicy(#{ log_size: 10 * MB, backups: 3 }) }) })"#,
        );
        let expected = ProcessSpec {
            max_failures: 0,
            daemon: true,
            ephemeral: true,
            min_duration: 60,
            is_final: true,
            logger: Logger {
                destination: LogDestination::Both,
                mode: LogMode::Rotate,
                rotate: RotatePolicy { log_size: 10 << 20, backups: 3 },
            },
            ..ProcessSpec::new("p", "run")
        };
        assert_eq!(process, expected);
    }

    #[test]
    fn every_logger_destination_and_mode_is_accepted() {
        for (word, destination) in [
            ("file", LogDestination::File),
            ("console", LogDestination::Console),
            ("both", LogDestination::Both),
            ("none", LogDestination::None),
        ] {
            let process = process_of(&format!(
                r#"Process(#{{ name: "p", cmdline: "x", logger: Logger(#{{ destination: "{word}", mode: "standard" }}) }})"#
            ));
            assert_eq!((process.logger.destination, process.logger.mode), (destination, LogMode::Standard));
        }
    }

    #[test]
    fn a_logger_word_outside_the_allowed_ones_lists_them() {
        let diagnostics = diagnostics_of(&job_file_with_process(
            r#"Process(#{ name: "p", cmdline: "x", logger: Logger(#{ destination: "disk", mode: "daily" }) })"#,
        ));
        assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
        assert!(
            diagnostics[0].ends_with(
                "Logger field 'destination' must be one of \"file\", \"console\", \"both\", \"none\", not \"disk\""
            ),
            "{diagnostics:?}"
        );
        assert!(diagnostics[1].ends_with("Logger field 'mode' must be one of \"standard\", \"rotate\", not \"daily\""));
    }

    #[test]
    fn an_unknown_field_is_named_with_the_nearest_known_field_at_its_key() {
        let source = format!("\n\n  {}", job_file_with_process(r#"Process(#{ name: "p", cmdlin: "true" })"#));
        let diagnostics = diagnostics_of(&source);
        let column = |text: &str| source.lines().nth(2).and_then(|line| line.find(text)).unwrap() + 1;
        assert_eq!(
            diagnostics,
            vec![
                format!("test.rhai:3:{}: Process is missing required field 'cmdline'", column("Process")),
                format!("test.rhai:3:{}: Process has no field 'cmdlin'; did you mean 'cmdline'?", column("cmdlin")),
            ]
        );
    }

    #[test]
    fn a_key_on_its_own_line_is_reported_there() {
        let source =
            job_file_with_process("Process(#{\n    name: \"p\",\n    cmdline: \"x\",\n    daemon: \"yes\",\n})");
        assert_eq!(diagnostics_of(&source), vec!["test.rhai:4:5: Process field 'daemon' must be a bool, not a string"]);
    }

    #[test]
    fn an_unknown_field_far_from_any_lists_the_fields() {
        let diagnostics = diagnostics_of(&job_file_with_process(r#"Process(#{ name: "p", cmdline: "x", colour: 1 })"#));
        assert_eq!(diagnostics.len(), 1);
        assert!(
            diagnostics[0].ends_with(
                "Process has no field 'colour'; its fields are name, cmdline, max_failures, daemon, ephemeral, \
                 min_duration, final, logger"
            ),
            "{diagnostics:?}"
        );
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
            (r#"name: "p", cmdline: "x", logger: "file""#, "Process field 'logger' must be a Logger, not a string"),
        ] {
            let diagnostics = diagnostics_of(&job_file_with_process(&format!("Process(#{{ {fields} }})")));
            assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
            assert!(diagnostics[0].ends_with(message), "{diagnostics:?} should end with {message}");
        }
    }

    #[test]
    fn rotate_policy_fields_are_checked() {
        let diagnostics = diagnostics_of(&job_file_with_process(
            r#"Process(#{ name: "p", cmdline: "x", logger: Logger(#{ rotate: RotatePolicy(#{ log_size: "big", backup: 2 }) }) })"#,
        ));
        assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
        assert!(
            diagnostics[0]
                .ends_with("RotatePolicy field 'log_size' must be a number of bytes, e.g. 512 * MB, not a string")
        );
        assert!(diagnostics[1].ends_with("RotatePolicy has no field 'backup'; did you mean 'backups'?"));
    }

    #[test]
    fn a_constructor_given_something_other_than_a_map_says_what_it_takes() {
        let diagnostics = diagnostics_of(&job_file_with_process(r#"Process("hello")"#));
        assert_eq!(
            messages(&diagnostics),
            vec!["Process takes one map of fields: Process(#{ name: ..., cmdline: ... }), not a string"]
        );
    }
}

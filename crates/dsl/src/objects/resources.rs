//! `Resources(#{ cpu, ram, disk, gpu })`: what one task instance reserves. `ram` and `disk` are
//! given in bytes and stored in whole mebibytes, rounded up.

use std::sync::Arc;

use atoll_model::Resources;
use rhai::Engine;

use super::fields::{FieldReader, ObjectSchema, default, required};
use super::kinds::{Bytes, Number, whole};
use super::{Call, ObjectError, register_constructor};
use crate::session::Session;

pub(super) const RESOURCES: ObjectSchema = ObjectSchema {
    name: "Resources",
    summary: "What one instance reserves on a host; `ram` and `disk` in bytes (`512 * MB`).",
    fields: &[required("cpu"), required("ram"), required("disk"), default("gpu", "0")],
};

const BYTES_PER_MEBIBYTE: u64 = 1 << 20;
const DEFAULT_GPU: u64 = 0;

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, &RESOURCES, resources);
}

fn resources(call: &Call<'_>, mut fields: FieldReader<'_>) -> Resources {
    // A missing, wrong or zero size is reported here, at its field, and stands in as a valid
    // one, so that validation adds nothing to the problem already recorded.
    let cpu = fields.required("cpu", Number);
    let ram = fields.required("ram", Bytes).map(mebibytes_rounded_up);
    let disk = fields.required("disk", Bytes).map(mebibytes_rounded_up);
    if cpu.is_some_and(|cpu| cpu <= 0.0) {
        let found = cpu.unwrap_or_default().to_string();
        let problem =
            ObjectError::WrongType { object: RESOURCES.name, field: "cpu", expected: "more than 0".to_owned(), found };
        fields.problem_at(&["cpu"], problem);
    }
    // Aurora's words, at the first size that is zero.
    let zero = [("ram", ram), ("disk", disk)].into_iter().find(|(_, size)| *size == Some(0));
    if let Some((field, _)) = zero {
        let shown = |size: Option<u64>| size.map_or("?".to_owned(), |size| size.to_string());
        fields.problem_at(&[field], ObjectError::NoSize { ram: shown(ram), disk: shown(disk) });
    }
    let resources = Resources {
        cpu: cpu.filter(|cpu| *cpu > 0.0).unwrap_or(1.0),
        ram_mb: ram.filter(|ram| *ram > 0).unwrap_or(1),
        disk_mb: disk.filter(|disk| *disk > 0).unwrap_or(1),
        gpu: fields.or("gpu", whole(), DEFAULT_GPU),
    };
    call.report_fields(fields.finish());
    resources
}

/// Whole mebibytes holding `bytes`: any part of one counts as one, and 0 stays 0.
fn mebibytes_rounded_up(bytes: u64) -> u64 {
    bytes.div_ceil(BYTES_PER_MEBIBYTE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{diagnostics_of, job_file_with_task, job_of, messages};

    fn job_file_with_resources(resources: &str) -> String {
        job_file_with_task(&format!(
            "SequentialTask(#{{ processes: [Process(#{{ name: \"p\", cmdline: \"x\" }})], resources: Resources(#{{ {resources} }}) }})"
        ))
    }

    #[test]
    fn bytes_become_mebibytes_rounded_up() {
        assert_eq!(mebibytes_rounded_up(0), 0);
        assert_eq!(mebibytes_rounded_up(1), 1);
        assert_eq!(mebibytes_rounded_up(BYTES_PER_MEBIBYTE), 1);
        assert_eq!(mebibytes_rounded_up(BYTES_PER_MEBIBYTE + 1), 2);
    }

    #[test]
    fn cpu_takes_integers_and_floats_and_sizes_take_fractions_of_units() {
        let job = job_of(&job_file_with_resources("cpu: 2, ram: 1.5 * GB, disk: 1, gpu: 1"));
        assert_eq!(job.config.task.resources, Resources { cpu: 2.0, ram_mb: 1536, disk_mb: 1, gpu: 1 });
    }

    #[test]
    fn a_wrong_type_names_the_field_and_the_expected_type() {
        let diagnostics = diagnostics_of(&job_file_with_resources(r#"cpu: "1", ram: MB, disk: MB"#));
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].ends_with("Resources field 'cpu' must be a number, not a string"), "{diagnostics:?}");
    }

    #[test]
    fn a_negative_size_is_rejected() {
        let diagnostics = diagnostics_of(&job_file_with_resources("cpu: 1, ram: -MB, disk: MB"));
        assert_eq!(diagnostics.len(), 1);
        assert!(
            diagnostics[0].ends_with("Resources field 'ram' must be a number of bytes, e.g. 512 * MB, not -1048576"),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn zero_sizes_are_reported_at_their_fields_by_the_names_written() {
        let source = format!("\n{}", job_file_with_resources("cpu: 0, ram: 16 * MB, disk: 0"));
        let column = |key: &str| source.lines().nth(1).and_then(|line| line.find(&format!("{key}: "))).unwrap() + 1;
        assert_eq!(
            diagnostics_of(&source),
            vec![
                format!("test.rhai:2:{}: Resources field 'cpu' must be more than 0, not 0", column("cpu")),
                format!("test.rhai:2:{}: Must specify ram and disk resources, got ram:16 MB disk:0 MB", column("disk")),
            ]
        );
        let both = job_file_with_resources("cpu: -0.5, ram: 0, disk: -0.0 * MB");
        assert_eq!(
            messages(&diagnostics_of(&both)),
            vec![
                "Resources field 'cpu' must be more than 0, not -0.5",
                "Must specify ram and disk resources, got ram:0 MB disk:0 MB"
            ]
        );
    }

    #[test]
    fn a_field_problem_in_a_map_built_elsewhere_is_at_the_call() {
        let task =
            "SequentialTask(#{ processes: [Process(#{ name: \"p\", cmdline: \"x\" })], resources: Resources(fields) })";
        let source = format!("let fields = #{{ cpu: -1, ram: MB, disk: MB }};\n{}", job_file_with_task(task));
        let column = source.lines().nth(1).and_then(|line| line.find("Resources(")).unwrap() + 1;
        assert_eq!(
            diagnostics_of(&source),
            vec![format!("test.rhai:2:{column}: Resources field 'cpu' must be more than 0, not -1")]
        );
    }

    #[test]
    fn gpu_defaults_to_none_and_missing_sizes_are_each_named() {
        let job = job_of(&job_file_with_resources("cpu: 0.5, ram: MB, disk: MB"));
        assert_eq!(job.config.task.resources.gpu, 0);
        let diagnostics = diagnostics_of(&job_file_with_resources("gpu: 1"));
        let messages: Vec<&str> = diagnostics.iter().map(|d| d.split_once(": ").map_or("", |(_, m)| m)).collect();
        assert_eq!(
            messages,
            vec![
                "Resources is missing required field 'cpu'",
                "Resources is missing required field 'ram'",
                "Resources is missing required field 'disk'"
            ]
        );
    }
}

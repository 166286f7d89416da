//! `Resources(#{ cpu, ram, disk, gpu })`: what one task instance reserves. `ram` and `disk` are
//! given in bytes and stored in whole mebibytes, rounded up.

use std::sync::Arc;

use atoll_model::Resources;
use rhai::{Dynamic, Engine};

use super::fields::{FieldReader, ObjectSchema};
use super::kinds::{Bytes, Number, whole};
use super::{Call, register_constructor};
use crate::session::Session;

pub(super) const RESOURCES: ObjectSchema = ObjectSchema { name: "Resources", fields: &["cpu", "ram", "disk", "gpu"] };

const BYTES_PER_MEBIBYTE: u64 = 1 << 20;
const DEFAULT_GPU: u64 = 0;

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, "Resources", resources);
}

fn resources(call: &Call<'_>, argument: Dynamic) -> Resources {
    let mut fields = FieldReader::new(call.engine(), &RESOURCES, argument);
    // A missing or wrong size stands in as a valid one, so that validation adds nothing to the
    // problem already recorded.
    let resources = Resources {
        cpu: fields.required("cpu", Number).unwrap_or(1.0),
        ram_mb: mebibytes_rounded_up(fields.required("ram", Bytes).unwrap_or(BYTES_PER_MEBIBYTE)),
        disk_mb: mebibytes_rounded_up(fields.required("disk", Bytes).unwrap_or(BYTES_PER_MEBIBYTE)),
        gpu: fields.or("gpu", whole(), DEFAULT_GPU),
    };
    call.report(fields.finish());
    resources
}

/// Whole mebibytes holding `bytes`: any part of one counts as one, and 0 stays 0 so that
/// validation reports it.
fn mebibytes_rounded_up(bytes: u64) -> u64 {
    bytes.div_ceil(BYTES_PER_MEBIBYTE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{diagnostics_of, job_file_with_task, job_of};

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
    fn zero_sizes_reach_validation() {
        let diagnostics = diagnostics_of(&job_file_with_resources("cpu: 0, ram: 0, disk: 0"));
        let messages: Vec<&str> = diagnostics.iter().map(|d| d.split_once(": ").map_or("", |(_, m)| m)).collect();
        assert_eq!(
            messages,
            vec![
                "Must specify ram and disk resources, got ram:0 MB disk:0 MB",
                "Task has invalid resources.  cpu/ramMb/diskMb must all be positive: cpu:0 ramMb:0 diskMb:0"
            ]
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

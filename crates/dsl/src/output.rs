//! Reads what a job file produced: its top-level `jobs` variable, an array of jobs.

use std::collections::BTreeMap;

use rhai::{Array, Engine, Scope};

use crate::diagnostic::Diagnostic;
use crate::objects::JobValue;
use crate::values::describe;

/// The name of the variable a job file defines its jobs in.
const JOBS: &str = "jobs";

/// The jobs in `scope`'s `jobs` variable, or what is wrong with it.
pub(crate) fn jobs(engine: &Engine, scope: &Scope<'_>, file: &str) -> Result<Vec<JobValue>, Vec<Diagnostic>> {
    let Some(value) = scope.get(JOBS) else {
        return Err(vec![Diagnostic::at_start(
            file,
            "the job file must define its jobs at top level: `let jobs = [ Job(#{ ... }), ... ];`",
        )]);
    };
    let elements = value.clone().flatten().try_cast_result::<Array>().map_err(|value| {
        let found = describe(engine, &value);
        vec![Diagnostic::at_start(
            file,
            format!("`jobs` must be an array of jobs, as in `let jobs = [ Job(#{{ ... }}) ];`, not {found}"),
        )]
    })?;
    let mut jobs = Vec::with_capacity(elements.len());
    let mut diagnostics = Vec::new();
    let mut first_index_of_key = BTreeMap::new();
    for (index, element) in elements.into_iter().enumerate() {
        let job = match element.flatten().try_cast_result::<JobValue>() {
            Ok(job) => job,
            Err(element) => {
                let found = describe(engine, &element);
                diagnostics.push(Diagnostic::at_start(file, format!("jobs[{index}] must be a Job, not {found}")));
                continue;
            }
        };
        if let Some(first) = first_index_of_key.insert(job.spec.key.clone(), index) {
            diagnostics.push(Diagnostic::at(
                &job.site.file,
                job.site.position,
                format!("jobs[{index}] has the same key as jobs[{first}]: {}", job.spec.key),
            ));
        }
        jobs.push(job);
    }
    if diagnostics.is_empty() { Ok(jobs) } else { Err(diagnostics) }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{diagnostics_of, jobs_of};

    const JOB: &str = r#"Job(#{ cluster: "c", role: "r", environment: "devel", name: "j",
    task: SequentialTask(#{ processes: [Process(#{ name: "p", cmdline: "x" })], resources: Resources(#{ cpu: 1, ram: MB, disk: MB }) }) })"#;

    #[test]
    fn a_file_without_jobs_is_told_to_define_them() {
        assert_eq!(
            diagnostics_of("let job = 1;"),
            vec!["test.rhai:1:1: the job file must define its jobs at top level: `let jobs = [ Job(#{ ... }), ... ];`"]
        );
    }

    #[test]
    fn jobs_defined_only_inside_a_block_do_not_count() {
        let diagnostics = diagnostics_of(&format!("{{ let jobs = [{JOB}]; }}"));
        assert!(diagnostics[0].contains("must define its jobs at top level"), "{diagnostics:?}");
    }

    #[test]
    fn jobs_must_be_an_array() {
        assert_eq!(
            diagnostics_of(&format!("let jobs = {JOB};")),
            vec!["test.rhai:1:1: `jobs` must be an array of jobs, as in `let jobs = [ Job(#{ ... }) ];`, not a Job"]
        );
    }

    #[test]
    fn every_element_that_is_not_a_job_is_reported() {
        assert_eq!(
            diagnostics_of(&format!("let jobs = [{JOB}, \"j2\", 3];")),
            vec![
                "test.rhai:1:1: jobs[1] must be a Job, not a string",
                "test.rhai:1:1: jobs[2] must be a Job, not an integer"
            ]
        );
    }

    #[test]
    fn two_jobs_with_one_key_are_reported() {
        assert_eq!(
            diagnostics_of(&format!("let jobs = [{JOB}, {JOB}];")),
            vec!["test.rhai:2:141: jobs[1] has the same key as jobs[0]: c/r/devel/j"]
        );
    }

    #[test]
    fn an_empty_list_is_no_jobs() {
        assert!(jobs_of("let jobs = [];").is_empty());
    }
}

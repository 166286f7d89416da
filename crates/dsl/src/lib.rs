//! Atoll's job language: a job file written in Rhai, evaluated into [`JobSpec`]s.
//!
//! A job file calls Aurora-style constructors (`Process`, `Task`, `SequentialTask`,
//! `Resources`, `Job`, `Service`, `order`) with object maps and defines a top-level
//! `let jobs = [...]`. [`evaluate`] runs it in a sandboxed engine and returns either the jobs or
//! every problem it found, each as a [`Diagnostic`] printed `FILE:LINE:COL: message`.
//!
//! **Architecture Invariant:** this crate does no I/O: it reads no files, prints nothing and
//! opens nothing; the caller hands in the text. It depends only on `atoll-model`, `rhai` and
//! `thiserror`, never on tokio, tonic, prost or sled.
//!
//! # Layout
//!
//! - `sandbox`: the Rhai engine, with explicit limits, that job files run in.
//! - `units`: the byte multipliers `MB`, `GB`, `TB`.
//! - `objects`: one module per object family, each registering its constructors.
//! - `objects::fields`: the table-driven reader that checks an object map against its object's fields.
//! - `report`: turns Rhai's parse and evaluation errors into diagnostics.
//! - `output`: reads the `jobs` variable the file defines.
//! - `values`: how script values are named in messages.

mod diagnostic;
mod objects;
mod output;
mod report;
mod sandbox;
mod units;
mod values;

use atoll_model::JobSpec;
use rhai::Scope;

pub use diagnostic::Diagnostic;

/// Evaluates `source` (the text of the file named `file` — used only in diagnostics) and
/// returns the jobs its top-level `let jobs = [...]` defines, or every diagnostic found.
pub fn evaluate(source: &str, file: &str) -> Result<Vec<JobSpec>, Vec<Diagnostic>> {
    let engine = sandbox::engine();
    let ast = engine
        .compile_with_scope(&units::declarations(), source)
        .map_err(|error| vec![report::parse_error(file, &error)])?;
    let mut scope = Scope::new();
    engine.run_ast_with_scope(&mut scope, &ast).map_err(|error| report::evaluation_error(file, error))?;
    output::jobs(&engine, &scope, file)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the unit tests of every module.

    use atoll_model::JobSpec;

    /// The file name the tests evaluate under.
    pub(crate) const FILE: &str = "test.rhai";

    /// The jobs `source` defines; panics with the diagnostics if it has problems.
    pub(crate) fn jobs_of(source: &str) -> Vec<JobSpec> {
        match super::evaluate(source, FILE) {
            Ok(jobs) => jobs,
            Err(diagnostics) => panic!("unexpected diagnostics: {:#?}", printed(&diagnostics)),
        }
    }

    /// The one job `source` defines.
    pub(crate) fn job_of(source: &str) -> JobSpec {
        let mut jobs = jobs_of(source);
        assert_eq!(jobs.len(), 1, "{jobs:#?}");
        jobs.remove(0)
    }

    /// The diagnostics of `source`, printed; panics if it evaluates cleanly.
    pub(crate) fn diagnostics_of(source: &str) -> Vec<String> {
        match super::evaluate(source, FILE) {
            Ok(jobs) => panic!("expected diagnostics, got jobs: {jobs:#?}"),
            Err(diagnostics) => printed(&diagnostics),
        }
    }

    /// A job file defining one job from the given task expression, on line 1.
    pub(crate) fn job_file_with_task(task: &str) -> String {
        format!(
            "let jobs = [Job(#{{ cluster: \"c\", role: \"r\", environment: \"devel\", name: \"j\", task: {task} }})];"
        )
    }

    fn printed(diagnostics: &[super::Diagnostic]) -> Vec<String> {
        diagnostics.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{diagnostics_of, job_of};
    use atoll_model::{JobKey, ProcessSpec};

    const HELLO_WORLD: &str = r#"
let hello = Process(#{ name: "hello", cmdline: "while true; do echo hello world; sleep 5; done" });
let task = SequentialTask(#{ processes: [hello], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "hello", task: task }) ];
"#;

    #[test]
    fn the_canonical_example_is_one_service() {
        let job = job_of(HELLO_WORLD);
        assert_eq!(job.key, JobKey::new("devcluster", "www-data", "devel", "hello").unwrap());
        assert!(job.service);
        assert_eq!(job.task.name, "hello");
        assert_eq!(job.task.resources.cpu, 0.1);
        assert_eq!(job.task.resources.ram_mb, 16);
        assert_eq!(job.task.resources.disk_mb, 16);
        assert_eq!(job.task.resources.gpu, 0);
        assert_eq!(
            job.task.processes,
            vec![ProcessSpec::new("hello", "while true; do echo hello world; sleep 5; done")]
        );
        assert_eq!(job.task.order, vec![vec!["hello".to_owned()]]);
        assert_eq!(job.validate(), Vec::<String>::new());
    }

    #[test]
    fn template_text_is_kept_for_the_agent() {
        let job = job_of(&HELLO_WORLD.replace("echo hello world", "serve --port={{thermos.ports[http]}}"));
        assert_eq!(job.task.processes[0].cmdline, "while true; do serve --port={{thermos.ports[http]}}; sleep 5; done");
    }

    #[test]
    fn units_are_byte_multipliers_visible_inside_functions() {
        let source = HELLO_WORLD
            .replace("let hello", "fn ram() { 2 * GB }\nlet hello")
            .replace("ram: 16 * MB", "ram: ram()")
            .replace("disk: 16 * MB", "disk: TB");
        let job = job_of(&source);
        assert_eq!(job.task.resources.ram_mb, 2 * 1024);
        assert_eq!(job.task.resources.disk_mb, 1024 * 1024);
    }

    #[test]
    fn an_undefined_variable_is_reported_before_anything_runs() {
        let diagnostics = diagnostics_of("let jobs = [];\nlet x = 16 * MiB;");
        assert_eq!(diagnostics, vec!["test.rhai:2:14: Undefined variable: MiB"]);
    }
}

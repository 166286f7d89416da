//! Atoll's job language: a job file written in Rhai, evaluated into [`JobSpec`]s.
//!
//! A job file calls Aurora-style constructors (`Process`, `Task`, `Resources`, `Job`,
//! `Service`, `UpdateConfig`, `HealthCheckConfig`, `Announcer`, … with Aurora's field names and
//! defaults; `docs/job-language.md` lists them all) and defines a top-level
//! `let jobs = [...]`. It may import modules from its own folder and the ones Atoll ships
//! (`import "atoll/http" as http;`, from `dsl/modules/`).
//!
//! - [`evaluate_file`], [`evaluate_with`] and [`evaluate`] run it in a sandboxed engine and
//!   return either every job, with its templates resolved, or every problem found, each as a
//!   [`Diagnostic`] printed `FILE:LINE:COL: message`.
//! - [`evaluate_jobs`] and [`evaluate_jobs_with`] tell the problems apart by job: each
//!   [`EvaluatedJob`] carries its own, so one bad job does not keep the others from being
//!   created; only the file's own problems (syntax, a script error, a problem in an object
//!   jobs may share) fail the whole file. With [`EvalOptions::unbound_allowed`], a file lists
//!   its jobs before its `--bind` values are known.
//!
//! **Architecture Invariant:** this crate reads job files and the modules they import — the
//! latter only from the job file's own folder (absolute paths, `..` and links leading out are
//! refused) or compiled in — and does no other I/O: it writes nothing, prints nothing, runs
//! nothing. It depends only on `atoll-model`, `rhai` and `thiserror`, never on tokio, tonic,
//! prost or sled.
//!
//! **Architecture Invariant:** evaluation is bounded: operation, call-depth, expression-depth,
//! string, array, map and module limits are set explicitly (debug and release builds alike),
//! with a wall-clock deadline as a backstop; `eval` and `this` are disabled.
//!
//! **Architecture Invariant:** constructors never abort evaluation. Each records its problems,
//! at the field they are about or at its call site, and returns a best-effort value whose
//! unreadable parts are valid stand-ins, so a file's problems are all reported, and none causes
//! follow-on ones. Only a script error (a type error, a call no function takes, a limit) stops
//! evaluation; it is reported with the problems found before it.
//!
//! # Layout
//!
//! - `sandbox`: the Rhai engine, with explicit limits, that job files run in.
//! - `growth`: the size check on values where Rhai's own does not look.
//! - `imports`: the module resolver confined to the job file's folder; `bundled`: the modules
//!   Atoll ships.
//! - `session`: one evaluation's bindings, sources and log of problems and jobs.
//! - `literals`: finds a field's key in the map literal a call was given, and where a call ends.
//! - `units`: the byte multipliers `MB`, `GB`, `TB`.
//! - `objects`: one module per object family, each registering its constructors.
//! - `objects::fields` and `objects::kinds`: the table-driven reader that checks an object map
//!   against its object's fields.
//! - `templates`: resolves `{{...}}` references when a job is built.
//! - `report`: turns Rhai's parse and evaluation errors into diagnostics.
//! - `output`: reads the `jobs` variable the file defines.
//! - `attribution`: which job each problem belongs to.
//! - `definitions`: the editor definitions generated from the engine ([`editor_files`]).
//! - `values`: how script values are named in messages.

mod attribution;
mod bundled;
#[cfg(test)]
mod bundled_tests;
mod definitions;
mod diagnostic;
mod growth;
mod imports;
mod literals;
mod objects;
mod output;
#[cfg(test)]
mod reference_tests;
mod report;
mod sandbox;
mod session;
mod templates;
mod units;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use atoll_model::JobSpec;
use rhai::Scope;

pub use diagnostic::Diagnostic;

use crate::objects::JobValue;
use crate::session::{Log, Session};

/// Options for one evaluation.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    /// `--bind KEY=VALUE` bindings: `{{KEY}}` anywhere in the config resolves to VALUE at load,
    /// unless the job has a field of that name, which is the closer binding and wins.
    pub bindings: BTreeMap<String, String>,
    /// The folder `import "name" as x;` resolves in (the job file's folder). `None`: imports of
    /// files are refused ([`evaluate_file`] and [`evaluate_jobs`] use the file's own folder);
    /// Atoll's own modules (`"atoll/http"`) import either way.
    pub import_dir: Option<PathBuf>,
    /// Leave a `{{KEY}}` reference that nothing resolves as written, instead of reporting
    /// "Config contains unbound variables": to list a file's jobs before their `--bind` values
    /// are known, as Aurora lists them before binding. Jobs evaluated so are for listing and
    /// inspecting, not for creating.
    pub unbound_allowed: bool,
}

/// One job of a file, with the problems that are its own.
#[derive(Clone, Debug, PartialEq)]
pub struct EvaluatedJob {
    /// The job as far as it could be read. When it has problems, parts of it may be stand-ins
    /// (a default for a wrong value, a generated name for a missing one): create it only when
    /// `problems` is empty.
    pub spec: JobSpec,
    /// The problems of this job alone, in file order: those its `Job`/`Service` call found (its
    /// fields, templates, constraints and [`JobSpec::validate`]'s checks), and those of objects
    /// written inside that call's parentheses.
    pub problems: Vec<Diagnostic>,
}

/// Evaluates `source` (the text of the file named `file` — used only in diagnostics) without
/// bindings or imports of files, and returns the jobs its top-level `let jobs = [...]` defines,
/// or every diagnostic found.
pub fn evaluate(source: &str, file: &str) -> Result<Vec<JobSpec>, Vec<Diagnostic>> {
    evaluate_with(source, file, &EvalOptions::default())
}

/// Evaluates `source` (the text of the file named `file`) with `options`, and returns every job,
/// or every diagnostic found if there is any.
pub fn evaluate_with(source: &str, file: &str, options: &EvalOptions) -> Result<Vec<JobSpec>, Vec<Diagnostic>> {
    let mut run = Run::of(source, file, options)?;
    if run.log.problems.is_empty()
        && let Some(jobs) = run.jobs.take()
    {
        return Ok(jobs.into_iter().map(|job| job.spec).collect());
    }
    Err(run.every_problem())
}

/// Reads and evaluates the job file at `path` with `bindings`; its imports resolve in its
/// folder. Diagnostics name the file as `path` is written. A file that cannot be read is one
/// diagnostic, at 1:1.
pub fn evaluate_file(path: &Path, bindings: &BTreeMap<String, String>) -> Result<Vec<JobSpec>, Vec<Diagnostic>> {
    let options = EvalOptions { bindings: bindings.clone(), ..EvalOptions::default() };
    let (source, file, options) = read_file(path, &options)?;
    evaluate_with(&source, &file, &options)
}

/// Reads and evaluates the job file at `path` with `options`, telling its problems apart by
/// job: its imports resolve in `options.import_dir`, or the file's own folder when that is
/// `None`, and diagnostics name the file as `path` is written.
///
/// `Err` holds every diagnostic of the file, in file order, when any of them is the file's
/// own: it does not read (one diagnostic, at 1:1) or compile, a script error stops it (a type
/// error, a limit, a call no function takes), its `jobs` list is missing or wrong (an element
/// that is not a job, two jobs with one key), or an object not attributable to one listed job
/// has a problem (one built outside any `Job(...)`/`Service(...)` call, such as a `Process` in
/// a variable, which jobs may share; one in a job the file does not list). Otherwise `Ok` holds
/// every listed job in order, each with its own problems (see [`EvaluatedJob::problems`]):
/// a job without any can be created even if others have some.
pub fn evaluate_jobs(path: &Path, options: &EvalOptions) -> Result<Vec<EvaluatedJob>, Vec<Diagnostic>> {
    let (source, file, options) = read_file(path, options)?;
    evaluate_jobs_with(&source, &file, &options)
}

/// [`evaluate_jobs`] for `source`, the text of the file named `file`, with `options` as given.
pub fn evaluate_jobs_with(
    source: &str,
    file: &str,
    options: &EvalOptions,
) -> Result<Vec<EvaluatedJob>, Vec<Diagnostic>> {
    let mut run = Run::of(source, file, options)?;
    let Some(jobs) = run.jobs.take() else {
        return Err(run.every_problem());
    };
    let listed: BTreeSet<_> = jobs.iter().map(|job| job.id).collect();
    let mut attribution = attribution::attribute(run.log, &listed, &run.session);
    if !attribution.file.is_empty() {
        let mut every: Vec<Diagnostic> = attribution.file;
        every.extend(attribution.by_job.into_values().flatten());
        return Err(diagnostic::in_file_order(every, file));
    }
    Ok(jobs
        .into_iter()
        .map(|job| {
            let problems = attribution.by_job.remove(&job.id).unwrap_or_default();
            EvaluatedJob { spec: job.spec, problems: diagnostic::in_file_order(problems, file) }
        })
        .collect())
}

/// Editor support for job files, generated from the engine they run in: each file's name and
/// text. `atoll.d.rhai` declares, in the `.d.rhai` format Rhai's language server reads, every
/// function and constant the job language adds to Rhai, each constructor with a doc comment
/// listing its fields and their defaults; `fields.json` lists every object's fields (required,
/// one of several, or their default), its form and type, and every function, for tools that
/// complete map keys. The repository keeps a copy in `dsl/definitions/`.
pub fn editor_files() -> Vec<(&'static str, String)> {
    definitions::files()
}

/// The text of the job file at `path`, its name for diagnostics, and `options` with its folder
/// to import from when they name none.
fn read_file(path: &Path, options: &EvalOptions) -> Result<(String, String, EvalOptions), Vec<Diagnostic>> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|error| vec![Diagnostic::at_start(&file, format!("cannot read the job file: {error}"))])?;
    let mut options = options.clone();
    if options.import_dir.is_none() {
        options.import_dir = Some(path.parent().map(Path::to_path_buf).unwrap_or_default());
    }
    Ok((source, file, options))
}

/// One evaluation of a file that compiled.
struct Run {
    file: String,
    session: Arc<Session>,
    /// What constructors recorded.
    log: Log,
    /// The jobs listed, if the file ran to the end and its `jobs` list is right.
    jobs: Option<Vec<JobValue>>,
    /// The problems of the file as a whole: a script error, or a wrong `jobs` list.
    file_problems: Vec<Diagnostic>,
}

impl Run {
    /// Compiles and runs `source`; `Err` if it does not compile.
    fn of(source: &str, file: &str, options: &EvalOptions) -> Result<Run, Vec<Diagnostic>> {
        let session = Arc::new(Session::new(file, source, options.bindings.clone(), options.unbound_allowed));
        let engine = sandbox::engine(&session, options.import_dir.as_deref());
        let mut ast = engine
            .compile_with_scope(&units::declarations(), source)
            .map_err(|error| vec![report::parse_error(file, &error)])?;
        ast.set_source(file);
        let mut scope = Scope::new();
        let (jobs, file_problems) = match engine.run_ast_with_scope(&mut scope, &ast) {
            Err(error) => (None, vec![report::evaluation_error(file, error)]),
            Ok(()) => match output::jobs(&engine, &scope, file) {
                Ok(jobs) => (Some(jobs), Vec::new()),
                Err(problems) => (None, problems),
            },
        };
        let log = session.take_log();
        Ok(Run { file: file.to_owned(), session, log, jobs, file_problems })
    }

    /// Every problem found, in file order.
    fn every_problem(self) -> Vec<Diagnostic> {
        let mut every: Vec<Diagnostic> = self.log.problems.into_iter().map(|problem| problem.diagnostic).collect();
        every.extend(self.file_problems);
        diagnostic::in_file_order(every, &self.file)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the unit tests of every module.

    use atoll_model::JobSpec;

    /// The file name the tests evaluate under.
    pub(crate) const FILE: &str = "test.rhai";

    /// A small valid task named "t".
    const TASK: &str = r#"Task(#{ name: "t", processes: [Process(#{ name: "p", cmdline: "x" })], resources: Resources(#{ cpu: 1, ram: MB, disk: MB }) })"#;

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

    /// The messages of printed diagnostics, without their `FILE:LINE:COL: `.
    pub(crate) fn messages(diagnostics: &[String]) -> Vec<String> {
        let message = |printed: &String| printed.splitn(4, ':').nth(3).unwrap_or_default().trim_start().to_owned();
        diagnostics.iter().map(message).collect()
    }

    /// A job file defining one job, c/r/devel/j, from the given task expression, on line 1.
    pub(crate) fn job_file_with_task(task: &str) -> String {
        format!(
            "let jobs = [Job(#{{ cluster: \"c\", role: \"r\", environment: \"devel\", name: \"j\", task: {task} }})];"
        )
    }

    /// A job file defining one job, c/r/devel/j with a small task "t" and `fields`, on line 1.
    pub(crate) fn job_file_with(fields: &str) -> String {
        let separator = if fields.is_empty() { "" } else { ", " };
        job_file_with_task(&format!("{TASK}{separator}{fields}"))
    }

    /// The job [`job_file_with`] `fields` defines.
    pub(crate) fn job_with(fields: &str) -> JobSpec {
        job_of(&job_file_with(fields))
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
        assert!(job.config.service);
        assert_eq!(job.config.task.name, "hello");
        assert_eq!(job.config.task.resources.cpu, 0.1);
        assert_eq!(job.config.task.resources.ram_mb, 16);
        assert_eq!(job.config.task.resources.disk_mb, 16);
        assert_eq!(job.config.task.resources.gpu, 0);
        assert_eq!(
            job.config.task.processes,
            vec![ProcessSpec::new("hello", "while true; do echo hello world; sleep 5; done")]
        );
        assert_eq!(job.config.task.order, vec![vec!["hello".to_owned()]]);
        assert_eq!(job.validate(), Vec::<String>::new());
    }

    #[test]
    fn template_text_is_kept_for_the_agent() {
        let job = job_of(&HELLO_WORLD.replace("echo hello world", "serve --port={{thermos.ports[http]}}"));
        assert_eq!(
            job.config.task.processes[0].cmdline,
            "while true; do serve --port={{thermos.ports[http]}}; sleep 5; done"
        );
    }

    #[test]
    fn units_are_byte_multipliers_visible_inside_functions() {
        let source = HELLO_WORLD
            .replace("let hello", "fn ram() { 2 * GB }\nlet hello")
            .replace("ram: 16 * MB", "ram: ram()")
            .replace("disk: 16 * MB", "disk: TB");
        let job = job_of(&source);
        assert_eq!(job.config.task.resources.ram_mb, 2 * 1024);
        assert_eq!(job.config.task.resources.disk_mb, 1024 * 1024);
    }

    #[test]
    fn an_undefined_variable_is_reported_before_anything_runs() {
        let diagnostics = diagnostics_of("let jobs = [];\nlet x = 16 * MiB;");
        assert_eq!(diagnostics, vec!["test.rhai:2:14: Undefined variable: MiB"]);
    }

    #[test]
    fn several_mistakes_in_one_file_are_all_reported_in_file_order() {
        let source = r#"let a = Process(#{ name: "a", cmdlin: "true" });
let r = Resources(#{ cpu: 0.1, ram: 0, disk: 16 * MB });
let t = Task(#{ processes: [a], resources: r, max_failure: 2 });
let jobs = [ Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "x", task: t,
                    tier: "gold", constraints: #{ host: "limit:0" } }),
             Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "y", task: t, instances: -1 }) ];
"#;
        assert_eq!(
            diagnostics_of(source),
            vec![
                "test.rhai:1:9: Process is missing required field 'cmdline'",
                "test.rhai:1:31: Process has no field 'cmdlin'; did you mean 'cmdline'?",
                "test.rhai:2:32: Must specify ram and disk resources, got ram:0 MB disk:16 MB",
                "test.rhai:3:47: Task has no field 'max_failure'; did you mean 'max_failures'?",
                "test.rhai:4:14: Unknown tier 'gold'; tiers are preferred, preemptible, revocable",
                "test.rhai:5:51: constraint host: 'limit:0': limit takes a positive whole number, not '0'",
                "test.rhai:6:104: Job field 'instances' must be a whole number from 0 to 4294967295, not -1",
            ]
        );
    }
}

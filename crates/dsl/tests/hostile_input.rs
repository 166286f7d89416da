//! The job language stands up to hostile files: arbitrary text, Rhai-shaped token soup (loops,
//! recursion and growing values included), and the example job files with characters deleted,
//! inserted and replaced, lines doubled and the file cut short, evaluated through the public
//! entry points (`evaluate`, and `evaluate_jobs_with` importing from `examples/`), never panic
//! and never hang (each evaluation is watched from another thread); each gives either jobs or
//! diagnostics. Every diagnostic prints as `FILE:LINE:COL: message`, with a non-empty message,
//! a 1-based line and column, and, for the file itself, a line the file has. A file `evaluate`
//! accepts holds only jobs that pass `JobSpec::validate`, as does every job `evaluate_jobs_with`
//! gives without problems.
//!
//! Bounded for CI: 128 cases per property (each a Rhai evaluation; about a second in all).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::mpsc;
use std::time::Duration;

use atoll_dsl::{Diagnostic, EvalOptions, EvaluatedJob};
use atoll_model::JobSpec;
use proptest::prelude::*;
use proptest::sample::Index;

/// Longer than any evaluation may take: the engine stops a file at 1 s of running (and its
/// operation limit sooner); compiling and reporting come on top, slower in a debug build.
const HANG: Duration = Duration::from_secs(20);

/// The name hostile sources go by in their diagnostics.
const FILE: &str = "hostile.rhai";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The example job files (not their libraries), by name, with their text.
static EXAMPLES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let mut files: Vec<(String, String)> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "rhai"))
        .map(|path| {
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).expect("a readable example"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the examples are missing: {files:?}");
    files
});

/// What one evaluation gave.
enum Evaluated {
    Evaluate(Result<Vec<JobSpec>, Vec<Diagnostic>>),
    Jobs(Result<Vec<EvaluatedJob>, Vec<Diagnostic>>),
}

/// Runs `evaluate` on its own thread, failing the case if it panics or outlasts [`HANG`].
fn within_bounds(work: impl FnOnce() -> Evaluated + Send + 'static) -> Result<Evaluated, TestCaseError> {
    let (sender, receiver) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("evaluate".into())
        .stack_size(16 << 20)
        .spawn(move || {
            let _ = sender.send(work());
        })
        .expect("spawn an evaluation thread");
    match receiver.recv_timeout(HANG) {
        Ok(evaluated) => {
            worker.join().map_err(|_| TestCaseError::fail("the evaluation thread panicked after answering"))?;
            Ok(evaluated)
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let panic = worker.join().expect_err("a thread that sent nothing panicked");
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(TestCaseError::fail(format!("evaluation panicked: {message}")))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail(format!("evaluation ran past {HANG:?}"))),
    }
}

/// A diagnostic is `FILE:LINE:COL: message`, with a message, and where it says.
fn check_diagnostic(diagnostic: &Diagnostic, file: &str, source: &str) -> Result<(), TestCaseError> {
    prop_assert!(!diagnostic.message.trim().is_empty(), "a diagnostic without a message: {diagnostic:?}");
    prop_assert!(!diagnostic.file.is_empty(), "a diagnostic without a file: {diagnostic:?}");
    prop_assert!(diagnostic.line >= 1 && diagnostic.column >= 1, "lines and columns count from 1: {diagnostic:?}");
    let printed = diagnostic.to_string();
    let expected = format!("{}:{}:{}: {}", diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.message);
    prop_assert_eq!(&printed, &expected);
    if diagnostic.file == file {
        // Rhai ends a line at `\n`, `\r\n` or a lone `\r`, and counts the line after the last.
        let lines = 1 + source.replace("\r\n", "\n").chars().filter(|c| matches!(c, '\n' | '\r')).count();
        prop_assert!(diagnostic.line <= lines, "line {} of a {lines}-line file: {printed}", diagnostic.line);
    }
    Ok(())
}

/// Jobs, or diagnostics, each well formed.
fn check(evaluated: &Evaluated, file: &str, source: &str) -> Result<(), TestCaseError> {
    match evaluated {
        Evaluated::Evaluate(Ok(jobs)) => {
            for job in jobs {
                prop_assert_eq!(
                    job.validate(),
                    Vec::<String>::new(),
                    "a job evaluate accepted is invalid: {}",
                    job.key
                );
            }
        }
        Evaluated::Jobs(Ok(jobs)) => {
            for job in jobs {
                for diagnostic in &job.problems {
                    check_diagnostic(diagnostic, file, source)?;
                }
                if job.problems.is_empty() {
                    prop_assert_eq!(job.spec.validate(), Vec::<String>::new(), "a job without problems is invalid");
                }
            }
        }
        Evaluated::Evaluate(Err(diagnostics)) | Evaluated::Jobs(Err(diagnostics)) => {
            prop_assert!(!diagnostics.is_empty(), "a refusal without a diagnostic");
            for diagnostic in diagnostics {
                check_diagnostic(diagnostic, file, source)?;
            }
        }
    }
    Ok(())
}

/// `source` through `evaluate` (no imports), checked.
fn evaluate(source: String) -> Result<(), TestCaseError> {
    let text = source.clone();
    let evaluated = within_bounds(move || Evaluated::Evaluate(atoll_dsl::evaluate(&text, FILE)))?;
    check(&evaluated, FILE, &source)
}

/// `source`, as the example `name`, through `evaluate_jobs_with` importing from `examples/`.
fn evaluate_jobs(source: String, name: &str) -> Result<(), TestCaseError> {
    let (text, file) = (source.clone(), name.to_owned());
    let options = EvalOptions { import_dir: Some(examples_dir()), ..EvalOptions::default() };
    let evaluated = within_bounds(move || Evaluated::Jobs(atoll_dsl::evaluate_jobs_with(&text, &file, &options)))?;
    check(&evaluated, name, &source)
}

// ---------------------------------------------------------------------------------------------
// Hostile sources.

/// Pieces of Rhai and of the job language, to be strung together in any order.
const TOKENS: &[&str] = &[
    "let ",
    "jobs",
    " = ",
    "[",
    "]",
    "(",
    ")",
    "#{",
    "}",
    "{",
    ":",
    ",",
    ";",
    "\n",
    " ",
    ".",
    "\"",
    "`",
    "'",
    "//",
    "/*",
    "*/",
    "\\",
    "fn f(x) { f(x) }",
    "f(1)",
    "loop { }",
    "while true { break; }",
    "for i in 0..10 { }",
    "import \"lib/common\" as c;",
    "import \"../../etc/passwd\" as p;",
    "import \"atoll/http\" as http;",
    "Job",
    "Service",
    "Process",
    "SequentialTask",
    "Task",
    "Resources",
    "UpdateConfig",
    "HealthCheckConfig",
    "Announcer",
    "SimpleTask",
    "Constraint",
    "name",
    "cmdline",
    "cluster",
    "role",
    "environment",
    "task",
    "processes",
    "resources",
    "cpu",
    "ram",
    "disk",
    "instances",
    "constraints",
    "\"devcluster\"",
    "\"www-data\"",
    "\"devel\"",
    "\"hello\"",
    "\"echo {{thermos.ports[http]}}\"",
    "\"{{name}}\"",
    "\"{{\"",
    "\"limit:0\"",
    "0",
    "1",
    "-1",
    "0.1",
    "1e308",
    "9223372036854775807",
    "16 * MB",
    "GB",
    "TB",
    "true",
    "null",
    "()",
    "+",
    "*",
    "/",
    "%",
    "-",
    "==",
    "!",
    "?",
    "??",
    "eval(\"1\")",
    "this",
    "\u{e9}",
    "\u{1f600}",
    "\u{0}",
    "\t",
    "\r",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|tokens| tokens.concat())
}

/// One edit of a file's text, by character.
#[derive(Clone, Debug)]
enum Edit {
    Delete(Index, usize),
    Insert(Index, String),
    Replace(Index, char),
    Truncate(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let inserted = prop_oneof![
        3 => prop::sample::select(TOKENS).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => "[ -~]{1,6}",
    ];
    prop_oneof![
        3 => (any::<Index>(), 1usize..12).prop_map(|(at, n)| Edit::Delete(at, n)),
        3 => (any::<Index>(), inserted).prop_map(|(at, text)| Edit::Insert(at, text)),
        3 => (any::<Index>(), prop_oneof![any::<char>(), prop::sample::select(vec!['"', '{', '}', '(', ')', '[', ']', ',', ';', ':', '#', '0', 'x'])])
            .prop_map(|(at, c)| Edit::Replace(at, c)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => any::<Index>().prop_map(Edit::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        match edit {
            Edit::Delete(at, n) if !chars.is_empty() => {
                let at = at.index(chars.len());
                let end = (at + n).min(chars.len());
                chars.drain(at..end);
            }
            Edit::Insert(at, inserted) => {
                let at = at.index(chars.len() + 1);
                chars.splice(at..at, inserted.chars());
            }
            Edit::Replace(at, c) if !chars.is_empty() => {
                let at = at.index(chars.len());
                chars[at] = *c;
            }
            Edit::Truncate(at) => chars.truncate(at.index(chars.len() + 1)),
            Edit::DuplicateLine(at) | Edit::SwapLines(at, _) => {
                let text: String = chars.iter().collect();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let first = at.index(lines.len());
                match edit {
                    Edit::SwapLines(_, other) => {
                        let second = other.index(lines.len());
                        lines.swap(first, second);
                    }
                    _ => lines.insert(first, lines[first]),
                }
                chars = lines.join("\n").chars().collect();
            }
            Edit::Delete(..) | Edit::Replace(..) => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_gives_jobs_or_diagnostics(source in prop_oneof![any::<String>(), "[ -~\n]{0,200}"]) {
        evaluate(source)?;
    }

    #[test]
    fn rhai_shaped_token_soup_gives_jobs_or_diagnostics(source in token_soup()) {
        evaluate(source)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 256, ..ProptestConfig::default() })]

    #[test]
    fn edited_example_files_give_jobs_or_diagnostics(
        example in any::<Index>(),
        edits in prop::collection::vec(edit(), 1..4),
        by_job in any::<bool>(),
    ) {
        let (name, text) = example.get(&EXAMPLES);
        let edited = apply(text, &edits);
        if by_job {
            evaluate_jobs(edited, name)?;
        } else {
            evaluate(edited)?;
        }
    }
}

/// The unedited examples evaluate cleanly through both entry points, so the edits start from
/// files that work, and the properties' checks pass on them.
#[test]
fn the_examples_themselves_give_jobs() {
    for (name, text) in EXAMPLES.iter() {
        let options = EvalOptions { import_dir: Some(examples_dir()), ..EvalOptions::default() };
        let jobs = atoll_dsl::evaluate_jobs_with(text, name, &options)
            .unwrap_or_else(|diagnostics| panic!("{name}: {diagnostics:?}"));
        assert!(!jobs.is_empty() && jobs.iter().all(|job| job.problems.is_empty()), "{name}: {jobs:?}");
        evaluate_jobs(text.clone(), name).unwrap_or_else(|error| panic!("{name}: {error}"));
    }
}

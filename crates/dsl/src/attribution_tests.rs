//! Problems told apart by job: through `evaluate_jobs_with` and `evaluate_jobs`, what belongs
//! to one job stays with it, and what may be shared fails the file.

use std::collections::BTreeMap;

use crate::test_support::FILE;
use crate::{Diagnostic, EvalOptions, EvaluatedJob, evaluate_jobs, evaluate_jobs_with};

const TASK: &str = "let task = SimpleTask(\"t\", \"echo t\");\n";

/// A job named `name` on one line, with `more` fields.
fn job(name: &str, more: &str) -> String {
    format!(
        "Job(#{{ cluster: \"devcluster\", role: \"www-data\", environment: \"devel\", name: \"{name}\", task: task{more} }})"
    )
}

fn jobs_of(source: &str) -> Vec<EvaluatedJob> {
    evaluate_jobs_with(source, FILE, &EvalOptions::default())
        .unwrap_or_else(|diagnostics| panic!("unexpected file problems: {:#?}", printed(&diagnostics)))
}

fn file_problems_of(source: &str) -> Vec<String> {
    match evaluate_jobs_with(source, FILE, &EvalOptions::default()) {
        Ok(jobs) => panic!("expected file problems, got {jobs:#?}"),
        Err(diagnostics) => printed(&diagnostics),
    }
}

fn printed(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics.iter().map(ToString::to_string).collect()
}

/// Each job's name and printed problems.
fn summary(jobs: &[EvaluatedJob]) -> Vec<(String, Vec<String>)> {
    jobs.iter().map(|job| (job.spec.key.name.clone(), printed(&job.problems))).collect()
}

#[test]
fn a_problem_of_one_jobs_own_call_stays_with_it_and_the_others_are_clean() {
    let source = format!(
        "{TASK}let jobs = [\n    {},\n    {},\n];\n",
        job("good", ""),
        job("bad", ", constraints: #{ dedicated: \"other/pool\" }")
    );
    assert_eq!(
        summary(&jobs_of(&source)),
        vec![
            ("good".to_owned(), vec![]),
            ("bad".to_owned(), vec!["test.rhai:4:5: Only other may use hosts dedicated for that role.".to_owned()]),
        ]
    );
}

#[test]
fn an_object_written_inside_a_jobs_call_is_that_jobs() {
    let source = format!(
        "{TASK}let jobs = [\n    {},\n    {},\n];\n",
        job("good", ""),
        job("bad", ", announce: Announcer(#{ zk_path: 7 })").replace(
            "task: task",
            "task: SequentialTask(#{ processes: [Process(#{ name: \"p\", cmdline: \"x\" })],\n        resources: Resources(#{ cpu: 0, ram: MB, disk: MB }) })"
        )
    );
    let jobs = jobs_of(&source);
    let messages: Vec<Vec<&str>> =
        jobs.iter().map(|job| job.problems.iter().map(|problem| problem.message.as_str()).collect()).collect();
    assert_eq!(
        messages,
        vec![
            vec![],
            vec![
                "Resources field 'cpu' must be more than 0, not 0",
                "Announcer field 'zk_path' must be a string, not an integer"
            ]
        ]
    );
    assert_eq!((jobs[1].problems[0].line, jobs[1].problems[0].column), (5, 33));
}

#[test]
fn a_problem_in_an_object_jobs_may_share_fails_the_file_with_every_problem() {
    let source = format!(
        "let common = Process(#{{ name: \"p\" }});\nlet task = SequentialTask(#{{ processes: [common], resources: Resources(#{{ cpu: 1, ram: MB, disk: MB }}) }});\nlet jobs = [{}, {}];\n",
        job("a", ""),
        job("b", ", tier: \"gold\"")
    );
    assert_eq!(
        file_problems_of(&source),
        vec![
            "test.rhai:1:14: Process is missing required field 'cmdline'",
            "test.rhai:3:109: Unknown tier 'gold'; tiers are preferred, preemptible, revocable",
        ]
    );
}

#[test]
fn each_run_of_a_call_in_a_loop_or_a_function_has_its_own_problems() {
    let source = r#"fn web(name, cpu) {
    Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: name,
           task: SequentialTask(#{ processes: [Process(#{ name: name, cmdline: "x" })],
                                   resources: Resources(#{ cpu: cpu, ram: MB, disk: MB }) }) })
}
let jobs = [];
for pair in [["a", 1], ["b", 0], ["c", 1]] {
    jobs.push(web(pair[0], pair[1]));
}
"#;
    let jobs = jobs_of(source);
    assert_eq!(
        summary(&jobs),
        vec![
            ("a".to_owned(), vec![]),
            ("b".to_owned(), vec!["test.rhai:4:60: Resources field 'cpu' must be more than 0, not 0".to_owned()]),
            ("c".to_owned(), vec![]),
        ]
    );
}

#[test]
fn a_job_not_listed_a_wrong_list_and_a_script_error_are_the_files() {
    let unlisted = format!("{TASK}let unused = {};\nlet jobs = [{}];\n", job("u", ", tier: \"gold\""), job("a", ""));
    assert_eq!(file_problems_of(&unlisted).len(), 1);
    let twice = format!("{TASK}let jobs = [{}, {}];\n", job("a", ""), job("a", ""));
    assert!(file_problems_of(&twice)[0].contains("jobs[1] has the same key as jobs[0]"));
    let error = format!("{TASK}let jobs = [{}];\nlet x = 1 + \"a\" - 1;\n", job("a", ", tier: \"gold\""));
    let problems = file_problems_of(&error);
    assert_eq!(problems.len(), 2, "the job's problem too: {problems:?}");
    assert!(problems[1].starts_with("test.rhai:3:"), "{problems:?}");
}

#[test]
fn a_file_lists_its_keys_without_its_bindings_when_unbound_references_are_allowed() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("versioned.rhai");
    std::fs::write(
        &file,
        r#"let serve = Process(#{ name: "serve", cmdline: "./server-{{version}} --port={{thermos.ports[http]}}" });
let task = SequentialTask(#{ processes: [serve], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [
    Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "web", task: task }),
    Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "{{version}}-migrate", task: task }),
];
"#,
    )
    .expect("write the job file");
    let listing = EvalOptions { unbound_allowed: true, ..EvalOptions::default() };
    let jobs = evaluate_jobs(&file, &listing).expect("no file problems");
    assert_eq!(jobs[0].spec.key.to_string(), "devcluster/www-data/devel/web");
    assert!(jobs[0].problems.is_empty(), "{:?}", jobs[0].problems);
    assert_eq!(jobs[0].spec.config.task.processes[0].cmdline, "./server-{{version}} --port={{thermos.ports[http]}}");
    assert_eq!(jobs[1].problems.len(), 1, "a key needs its bindings: {:?}", jobs[1].problems);
    assert!(jobs[1].problems[0].message.starts_with("invalid job key"), "{:?}", jobs[1].problems);

    let unbound = evaluate_jobs(&file, &EvalOptions::default()).expect("no file problems");
    assert_eq!(unbound[0].problems[0].message, "Config contains unbound variables: {{version}}");
    let bound =
        EvalOptions { bindings: BTreeMap::from([("version".to_owned(), "1.2".to_owned())]), ..EvalOptions::default() };
    let jobs = evaluate_jobs(&file, &bound).expect("no file problems");
    assert_eq!(jobs[1].spec.key.to_string(), "devcluster/www-data/devel/1.2-migrate");
    assert!(jobs.iter().all(|job| job.problems.is_empty()), "{jobs:#?}");
}

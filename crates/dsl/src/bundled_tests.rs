//! The modules Atoll ships: a job file anywhere imports them by name, the examples in their doc
//! comments evaluate, and their options are checked.

use std::collections::BTreeMap;

use atoll_model::config::HealthChecker;

use super::bundled::MODULES;
use crate::test_support::{FILE, messages};
use crate::{EvalOptions, evaluate, evaluate_file};

/// The ```rhai blocks of the `///` and `//!` comments of `source`.
fn doc_examples(source: &str) -> Vec<String> {
    let mut examples = Vec::new();
    let mut example: Option<String> = None;
    for line in source.lines() {
        let trimmed = line.trim_start();
        let Some(comment) = trimmed.strip_prefix("///").or_else(|| trimmed.strip_prefix("//!")) else {
            continue;
        };
        let text = comment.strip_prefix(' ').unwrap_or(comment);
        match (&mut example, text.trim()) {
            (None, "```rhai") => example = Some(String::new()),
            (Some(_), "```") => examples.extend(example.take()),
            (Some(code), _) => {
                code.push_str(text);
                code.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(example.is_none(), "an example that does not end:\n{source}");
    examples
}

#[test]
fn every_example_in_the_modules_doc_comments_evaluates() {
    for (name, source) in MODULES {
        let examples = doc_examples(source);
        assert!(examples.len() >= 2, "{name} should show how it is used: {examples:?}");
        for example in examples {
            assert!(example.contains(&format!("import \"{name}\"")), "{name}'s example imports it:\n{example}");
            if let Err(diagnostics) = evaluate(&example, FILE) {
                let printed: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
                panic!("{name}'s example has problems:\n{example}\n{}", printed.join("\n"));
            }
        }
    }
}

#[test]
fn a_job_file_in_any_folder_imports_them_by_name_beside_its_own_modules() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("team.rhai"), "export const OWNER = \"web-team@example.com\";\n")
        .expect("write a module");
    let file = dir.path().join("jobs.rhai");
    std::fs::write(
        &file,
        r#"import "atoll/http" as http;
import "atoll/batch" as batch;
import "team" as team;

let small = Resources(#{ cpu: 0.25, ram: 64 * MB, disk: 64 * MB });
let jobs = [
    http::service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "web",
                     cmdline: "./web {{thermos.ports[http]}} {{thermos.ports[health]}}", resources: small,
                     health_endpoint: "/ready", zk_path: "/discovery/web", job: #{ contact: team::OWNER } }),
    batch::job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "etl", resources: small,
                  steps: [batch::step("extract", "./extract", 1), batch::step("load", "./load", 0)], retries: -1 }),
];
"#,
    )
    .expect("write the job file");
    let jobs = evaluate_file(&file, &BTreeMap::new()).expect("evaluates");
    let (web, etl) = (&jobs[0], &jobs[1]);
    assert_eq!(web.key.to_string(), "devcluster/www-data/devel/web");
    assert!(web.config.service);
    assert_eq!(web.config.contact.as_deref(), Some("web-team@example.com"));
    assert_eq!(web.config.task.processes[0].name, "web");
    assert!(web.config.task.processes[0].daemon);
    let HealthChecker::Http(check) = &web.config.health_check_config.health_checker else { panic!("an HTTP check") };
    assert_eq!(check.endpoint, "/ready");
    let announce = web.config.announce.as_ref().expect("an announcer");
    assert_eq!((announce.primary_port.as_str(), announce.zk_path.as_deref()), ("http", Some("/discovery/web")));
    assert_eq!(web.requested_ports().into_iter().collect::<Vec<_>>(), vec!["health", "http"]);
    assert!(!etl.config.service);
    assert_eq!(etl.config.max_task_failures, -1);
    assert_eq!(etl.config.task.order, vec![vec!["extract".to_owned(), "load".to_owned()]]);
    assert_eq!(etl.config.task.processes.iter().map(|process| process.max_failures).collect::<Vec<_>>(), vec![2, 1]);
}

#[test]
fn a_helper_given_wrong_options_says_which() {
    let job = |options: &str| format!("import \"atoll/http\" as http;\nlet jobs = [http::service(#{{ {options} }})];");
    let problems = |source: &str| {
        messages(&evaluate(source, FILE).expect_err("refused").iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    let unknown = problems(&job(
        "cluster: \"c\", role: \"r\", environment: \"devel\", name: \"w\", cmdline: \"x\", resources: (), colour: 1",
    ));
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0].starts_with(
            "http::service has no option 'colour'; its options are 'cluster', 'role', 'environment', 'name', \
             'cmdline', 'resources', 'health_endpoint', 'instances', 'job', 'port', 'zk_path'"
        ),
        "{unknown:?}"
    );
    let missing = problems(&job("cluster: \"c\""));
    assert!(
        missing[0].starts_with("http::service needs option 'role', 'environment', 'name', 'cmdline', 'resources'"),
        "{missing:?}"
    );
    let wrong_type = problems(&job(
        "cluster: \"c\", role: \"r\", environment: \"devel\", name: \"w\", cmdline: \"x\", resources: (), instances: \"2\"",
    ));
    assert!(
        wrong_type[0]
            .starts_with("http::service option 'instances' must be an integer, as its default 1 is, not a string"),
        "{wrong_type:?}"
    );
    let batch = "import \"atoll/batch\" as batch;\nlet jobs = [batch::job(#{ cluster: \"c\", role: \"r\", \
                 environment: \"devel\", name: \"b\", resources: (), cmdline: \"x\", steps: [] })];";
    assert!(problems(batch)[0].starts_with("batch::job takes exactly one of the options 'cmdline' and 'steps'"));
}

#[test]
fn only_the_modules_atoll_ships_import_by_its_prefix() {
    let diagnostics = evaluate("import \"atoll/cron\" as cron;\nlet jobs = [];", FILE).expect_err("no such module");
    assert_eq!(
        messages(&diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>()),
        vec![
            "cannot import \"atoll/cron\": Atoll ships no such module; it ships atoll/batch, atoll/http, atoll/options"
        ]
    );
    let options = EvalOptions::default();
    let jobs = crate::evaluate_with("import \"atoll/options\" as options;\nlet jobs = [];", FILE, &options);
    assert_eq!(jobs, Ok(Vec::new()), "Atoll's modules import without a folder");
}

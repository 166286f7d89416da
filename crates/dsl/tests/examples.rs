//! Every example job file evaluates cleanly through `evaluate_file`, as the CLI reads it, with
//! job keys in the development cluster, and hello world stays the one service it always was.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use atoll_dsl::evaluate_file;
use atoll_model::{JobKey, JobSpec, ProcessSpec};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The job files directly in examples/ (libraries live in examples/lib/).
fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "rhai"))
        .collect();
    files.sort();
    files
}

fn jobs_in(path: &Path) -> Vec<JobSpec> {
    evaluate_file(path, &BTreeMap::new()).unwrap_or_else(|diagnostics| {
        let printed: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        panic!("{} has diagnostics:\n{}", path.display(), printed.join("\n"))
    })
}

#[test]
fn every_example_evaluates_without_diagnostics_in_the_dev_cluster() {
    let files = example_files();
    let names: BTreeSet<String> =
        files.iter().filter_map(|path| path.file_name()).map(|name| name.to_string_lossy().into_owned()).collect();
    for expected in ["hello_world.rhai", "all_features.rhai", "cron_batch.rhai"] {
        assert!(names.contains(expected), "examples/{expected} is missing: {names:?}");
    }
    for file in &files {
        let jobs = jobs_in(file);
        assert!(!jobs.is_empty(), "{} defines no jobs", file.display());
        for job in &jobs {
            assert_eq!(job.key.cluster, "devcluster", "{}: {}", file.display(), job.key);
            assert!(
                ["devel", "prod", "test"].contains(&job.key.environment.as_str()),
                "{}: {}",
                file.display(),
                job.key
            );
            assert_eq!(job.validate(), Vec::<String>::new(), "{}: {}", file.display(), job.key);
        }
    }
}

#[test]
fn hello_world_is_still_one_service() {
    let jobs = jobs_in(&examples_dir().join("hello_world.rhai"));
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.key, JobKey::new("devcluster", "www-data", "devel", "hello").expect("a valid key"));
    assert!(job.config.service);
    let hello = ProcessSpec::new("hello", "while true; do echo hello world; sleep 5; done");
    assert_eq!(job.config.task.processes, vec![hello]);
    assert_eq!(job.config.task.order, vec![vec!["hello".to_owned()]]);
    assert_eq!(
        (job.config.task.resources.cpu, job.config.task.resources.ram_mb, job.config.task.resources.disk_mb),
        (0.1, 16, 16)
    );
    assert_eq!(job.instances, 1);
}

#[test]
fn all_features_resolves_its_templates_and_requests_its_ports() {
    let jobs = jobs_in(&examples_dir().join("all_features.rhai"));
    let keys: Vec<String> = jobs.iter().map(|job| job.key.to_string()).collect();
    assert_eq!(
        keys,
        vec!["devcluster/www-data/prod/web", "devcluster/www-data/test/api", "devcluster/www-data/devel/migrate"]
    );
    let web = &jobs[0];
    assert_eq!(web.config.contact.as_deref(), Some("web-team@example.com"), "a constant from the imported library");
    let serve = web.config.task.processes.iter().find(|process| process.name == "serve").expect("a serve process");
    assert_eq!(serve.cmdline, "echo \"web serving on port {{thermos.ports[http]}}\"; exec sleep 86400");
    assert_eq!(web.requested_ports().into_iter().collect::<Vec<_>>(), vec!["health", "http"]);
    assert_eq!(web.config.metadata[1].value, "www-data");
    let api = &jobs[1];
    assert_eq!(api.requested_ports().into_iter().collect::<Vec<_>>(), vec!["api", "metrics"]);
    let migrate = &jobs[2];
    assert_eq!(migrate.config.task.name, "backup");
    assert_eq!(migrate.config.task.order, vec![vec!["backup".to_owned(), "migrate".to_owned()]]);
}

#[test]
fn bindings_given_to_a_file_resolve_in_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("versioned.rhai");
    std::fs::write(
        &file,
        r#"let p = Process(#{ name: "serve", cmdline: "./server-{{version}} --port={{thermos.ports[http]}} --role={{role}}" });
let t = SequentialTask(#{ processes: [p], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "versioned", task: t }) ];
"#,
    )
    .expect("write the job file");
    let unbound = evaluate_file(&file, &BTreeMap::new()).expect_err("{{version}} is unbound");
    assert_eq!(unbound.len(), 1);
    assert_eq!(unbound[0].message, "Config contains unbound variables: {{version}}");
    assert_eq!((unbound[0].line, unbound[0].column), (3, 14));
    let bindings = BTreeMap::from([("version".to_owned(), "1.2".to_owned())]);
    let jobs = evaluate_file(&file, &bindings).expect("bound");
    assert_eq!(jobs[0].config.task.processes[0].cmdline, "./server-1.2 --port={{thermos.ports[http]}} --role=www-data");
    assert_eq!(jobs[0].requested_ports().into_iter().collect::<Vec<_>>(), vec!["http"]);
}

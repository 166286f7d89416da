//! The job language end to end: job files with every Aurora object go through the real `atoll`
//! binary, gRPC and sled and come back identical; bindings, imports, multi-error reports and
//! the config commands behave as documented.

use std::path::{Path, PathBuf};

use atoll_tests::{Cluster, atoll, printed, workspace_root};
use serde_json::Value;

const ALL_FEATURES: &str = "examples/all_features.rhai";

fn example(name: &str) -> String {
    workspace_root().join(name).display().to_string()
}

fn json_of(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{}", printed(output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", printed(output)))
}

fn file_keys(file: &str) -> Vec<String> {
    let listed = json_of(&atoll(&["config", "list", file, "--json"]));
    listed["jobs"].as_array().expect("jobs").iter().map(|k| k.as_str().unwrap().to_owned()).collect()
}

#[test]
fn every_object_reaches_the_scheduler_and_sled_intact() {
    let mut cluster = Cluster::start(10);
    let mut local = Vec::new();
    let mut keys = Vec::new();
    let files = [
        ALL_FEATURES,
        "examples/http_service.rhai",
        "examples/constraints.rhai",
        "examples/variable_batch_update.rhai",
    ];
    for file in files.map(example) {
        let defined = file_keys(&file);
        assert!(!defined.is_empty(), "{file} defines jobs");
        for key in defined {
            let inspected = json_of(&atoll(&["job", "inspect", &key, &file, "--json"]));
            assert_eq!(inspected["key"], key.as_str());
            let created = cluster.job(&["create", &key, &file]);
            // Fields the scheduler does not act on yet are refused, each by name, never ignored.
            let unsupported: Vec<&str> = ["sla_policy", "container", "cron_schedule"]
                .into_iter()
                .filter(|field| !inspected[*field].is_null())
                .collect();
            if !unsupported.is_empty() {
                assert_eq!(created.status.code(), Some(3), "{key}: {}", printed(&created));
                let stderr = String::from_utf8_lossy(&created.stderr);
                for field in unsupported {
                    assert!(stderr.contains(&format!("{field} is not supported yet")), "{key}: {stderr}");
                }
                continue;
            }
            assert!(created.status.success(), "{}", printed(&created));
            let stored = json_of(&cluster.job(&["inspect", &key, "--json"]));
            assert_eq!(stored, inspected, "the scheduler's copy of {key} differs from the file's");
            local.push(inspected);
            keys.push(key);
        }
    }
    assert!(keys.len() >= 4, "the examples' supported jobs are created: {keys:?}");
    let scheduler = cluster.scheduler.take().expect("scheduler running");
    assert!(scheduler.stop().success());
    cluster.start_scheduler(10);
    for (key, inspected) in keys.iter().zip(&local) {
        let stored = json_of(&cluster.job(&["inspect", key, "--json"]));
        assert_eq!(&stored, inspected, "{key} changed across a scheduler restart");
    }
    for key in &keys {
        let _ = cluster.job(&["killall", key]);
    }
}

#[test]
fn the_examples_all_evaluate_and_inspect_shows_defaults() {
    for name in ["examples/hello_world.rhai", ALL_FEATURES, "examples/cron_batch.rhai"] {
        let file = example(name);
        for key in file_keys(&file) {
            let text = atoll(&["job", "inspect", &key, &file]);
            assert!(text.status.success(), "{}", printed(&text));
            let listing = String::from_utf8_lossy(&text.stdout);
            for field in ["update_config:", "health_check_config:", "lifecycle:", "max_task_failures:"] {
                assert!(listing.contains(field), "{name} {key}: no {field} in\n{listing}");
            }
        }
    }
    assert_eq!(file_keys(&example("examples/hello_world.rhai")), vec!["devcluster/www-data/devel/hello"]);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write job file");
    path
}

const VERSIONED: &str = r#"
let p = Process(#{ name: "serve", cmdline: "./server-{{version}} --port={{thermos.ports[http]}} --role={{role}}" });
let t = SequentialTask(#{ processes: [p], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "versioned", task: t }) ];
"#;

#[test]
fn bindings_resolve_at_load_and_unbound_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "versioned.rhai", VERSIONED);
    let file = file.to_str().unwrap();
    let key = "devcluster/www-data/devel/versioned";

    let unbound = atoll(&["job", "inspect", key, file]);
    assert_eq!(unbound.status.code(), Some(3), "{}", printed(&unbound));
    assert!(printed(&unbound).contains("Config contains unbound variables: {{version}}"), "{}", printed(&unbound));

    let bound = json_of(&atoll(&["job", "inspect", key, file, "--json", "--bind", "version=1.2"]));
    assert_eq!(
        bound["task"]["processes"][0]["cmdline"], "./server-1.2 --port={{thermos.ports[http]}} --role=www-data",
        "self references and binds resolve; run-time ports stay for the agent"
    );
    assert_eq!(bound["requested_ports"][0], "http");

    let listed = atoll(&["config", "list", file, "--bind", "version=1"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), key);
    let malformed = atoll(&["config", "list", file, "--bind", "version"]);
    assert_eq!(malformed.status.code(), Some(6), "{}", printed(&malformed));
}

#[test]
fn every_error_of_a_file_is_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "broken.rhai",
        r#"let a = Process(#{ name: "a", cmdlin: "true" });
let r = Resources(#{ cpu: 0.1, ram: 0, disk: 16 * MB });
let t = Task(#{ processes: [a], resources: r });
let jobs = [ Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "x", task: t, tier: "gold", constraints: #{ host: "limit:0" } }) ];
"#,
    );
    let file_text = file.display().to_string();
    let output = atoll(&["config", "list", &file_text]);
    assert_eq!(output.status.code(), Some(3), "{}", printed(&output));
    let text = printed(&output);
    assert!(text.contains(&format!("{file_text}:1:")) && text.contains("did you mean 'cmdline'"), "{text}");
    assert!(text.contains("limit takes a positive whole number"), "{text}");
    assert!(text.contains("Unknown tier 'gold'"), "{text}");
    assert!(text.contains("Must specify ram and disk resources"), "{text}");
}

#[test]
fn imports_resolve_only_beside_the_job_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "common.rhai", r#"fn small() { Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) }"#);
    let job = write(
        dir.path(),
        "job.rhai",
        r#"import "common" as common;
let p = Process(#{ name: "hello", cmdline: "echo hello" });
let t = SequentialTask(#{ processes: [p], resources: common::small() });
let jobs = [ Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "imported", task: t }) ];
"#,
    );
    let listed = atoll(&["config", "list", job.to_str().unwrap()]);
    assert!(listed.status.success(), "{}", printed(&listed));
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "devcluster/www-data/devel/imported");

    let escape = write(dir.path(), "escape.rhai", "import \"../etc/passwd\" as x;\nlet jobs = [];\n");
    let refused = atoll(&["config", "list", escape.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(3), "{}", printed(&refused));
    assert!(printed(&refused).contains("imports resolve only inside the job file's folder"), "{}", printed(&refused));
}

#[test]
fn config_list_lists_before_binding_and_each_job_is_judged_by_its_own_problems() {
    let dir = tempfile::tempdir().unwrap();
    let versioned = write(dir.path(), "versioned.rhai", VERSIONED);
    let listed = atoll(&["config", "list", versioned.to_str().unwrap()]);
    assert!(listed.status.success(), "no --bind needed to list: {}", printed(&listed));
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "devcluster/www-data/devel/versioned");

    let file = write(
        dir.path(),
        "two.rhai",
        r#"let t = SimpleTask("serve", "exec sleep 600");
let jobs = [
    Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "good", task: t }),
    Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "bad", task: t,
               constraints: #{ dedicated: "other/pool" } }),
];
"#,
    );
    let file = file.to_str().unwrap();
    let listed = atoll(&["config", "list", file, "--json"]);
    assert_eq!(listed.status.code(), Some(3), "{}", printed(&listed));
    let json: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(json["jobs"], serde_json::json!(["devcluster/www-data/devel/good", "devcluster/www-data/devel/bad"]));
    let problems = json["problems"]["devcluster/www-data/devel/bad"][0].as_str().unwrap();
    assert!(problems.contains("two.rhai:4:5: Only other may use hosts dedicated for that role."), "{problems}");
    assert!(json["problems"].get("devcluster/www-data/devel/good").is_none());

    let good = atoll(&["job", "inspect", "devcluster/www-data/devel/good", file]);
    assert!(good.status.success(), "the other job's problem does not block this one: {}", printed(&good));
    let bad = atoll(&["job", "inspect", "devcluster/www-data/devel/bad", file]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(printed(&bad).contains("Only other may use hosts dedicated for that role."), "{}", printed(&bad));
}

#[test]
fn constructors_take_nothing_when_every_field_has_a_default_and_say_their_form_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let fine = write(
        dir.path(),
        "defaults.rhai",
        r#"let t = SimpleTask("serve", "exec sleep 600 {{thermos.ports[http]}}");
let jobs = [ Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "web", task: t,
    announce: Announcer(), health_check_config: HealthCheckConfig(), update_config: UpdateConfig() }) ];
"#,
    );
    let inspected = atoll(&["job", "inspect", "devcluster/www-data/devel/web", fine.to_str().unwrap(), "--json"]);
    let json = json_of(&inspected);
    assert_eq!(json["announce"]["primary_port"], "http");
    assert_eq!(json["update_config"]["watch_secs"], 45);

    let wrong = write(dir.path(), "wrong.rhai", "let p = Process(\"a\", \"b\");\nlet jobs = [];\n");
    let listed = atoll(&["config", "list", wrong.to_str().unwrap()]);
    assert_eq!(listed.status.code(), Some(3));
    let text = printed(&listed);
    assert!(text.contains("wrong.rhai:1:9:") && text.contains("Process(#{"), "{text}");
    assert!(!text.contains("Function not found"), "{text}");
}

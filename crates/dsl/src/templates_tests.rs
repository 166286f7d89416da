//! Tests of template resolution: the resolver on its own, and through job files.

use std::collections::BTreeMap;

use super::*;
use crate::EvalOptions;
use crate::test_support::{FILE, job_file_with, job_with, messages};

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect()
}

#[test]
fn own_fields_resolve_and_win_over_binds() {
    let binds = map(&[("role", "bound-role"), ("version", "1.2")]);
    let mut resolver = Resolver::new(map(&[("role", "www-data"), ("cluster", "dev")]), &binds, false);
    assert_eq!(resolver.resolve("{{role}}@{{ cluster }}:{{version}}"), "www-data@dev:1.2");
    assert_eq!(resolver.resolve("{{mesos.role}}/{{mesos.cluster}}"), "www-data/dev");
    assert!(resolver.problems().is_empty());
}

#[test]
fn run_time_references_are_kept_without_inner_spaces() {
    let binds = BTreeMap::new();
    let mut resolver = Resolver::new(BTreeMap::new(), &binds, false);
    assert_eq!(
        resolver.resolve("--port={{ thermos.ports[http] }} --id={{thermos.task_id}} {{thermos.user}} {{mesos.instance}} {{mesos.hostname}}"),
        "--port={{thermos.ports[http]}} --id={{thermos.task_id}} {{thermos.user}} {{mesos.instance}} {{mesos.hostname}}"
    );
    assert!(resolver.problems().is_empty());
}

#[test]
fn every_unbound_name_is_listed_once_in_order() {
    let binds = BTreeMap::new();
    let mut resolver = Resolver::new(map(&[("a", "{{b}}")]), &binds, false);
    assert_eq!(
        resolver.resolve("{{foo}} {{a}} {{foo}} {{thermos.ports[]}}"),
        "{{foo}} {{b}} {{foo}} {{thermos.ports[]}}"
    );
    assert_eq!(resolver.problems(), vec!["Config contains unbound variables: {{foo}} {{b}} {{thermos.ports[]}}"]);
}

#[test]
fn what_is_not_a_reference_is_left_alone() {
    let binds = BTreeMap::new();
    let mut resolver = Resolver::new(map(&[("x", "1")]), &binds, false);
    assert_eq!(resolver.resolve("awk '{{ print $1 }}' {{x"), "awk '{{ print $1 }}' {{x");
    assert_eq!(resolver.resolve("{{ {{x}}"), "{{ 1");
    assert!(resolver.problems().is_empty());
    assert_eq!(substitute("{{ primary_port }}/{{other}}", "primary_port", "http"), "http/{{other}}");
}

#[test]
fn a_name_that_refers_to_itself_is_an_error() {
    let binds = map(&[("c", "{{c}}")]);
    let mut resolver = Resolver::new(map(&[("a", "{{b}}"), ("b", "x{{a}}")]), &binds, false);
    assert_eq!(resolver.resolve("{{a}}"), "x{{a}}");
    resolver.resolve("{{c}}");
    assert_eq!(resolver.problems(), vec!["Config contains bindings that refer to themselves: {{a}} {{c}}"]);
}

#[test]
fn an_expansion_past_the_string_limit_is_an_error() {
    let mut own = BTreeMap::new();
    own.insert("n0".to_owned(), "x".repeat(1024));
    for level in 1..=20 {
        own.insert(format!("n{level}"), format!("{{{{n{}}}}}{{{{n{}}}}}", level - 1, level - 1));
    }
    let binds = BTreeMap::new();
    let mut resolver = Resolver::new(own, &binds, false);
    assert!(resolver.resolve("{{n20}}").len() <= MAX_STRING_BYTES);
    assert_eq!(resolver.problems(), vec!["Config bindings expand to a string longer than 1048576 bytes"]);
}

#[test]
fn a_job_resolves_its_own_fields_in_every_string() {
    let job = job_with(
        r#"contact: "{{role}}@example.com", metadata: [Metadata(#{ key: "{{cluster}}", value: "{{task.name}}-{{instances}}" })],
           announce: Announcer(#{ zk_path: "/{{environment}}/{{name}}" }), instances: 2,
           update_config: UpdateConfig(#{ batch_size: 2 }),
           container: Docker(#{ image: "img:{{update_config.batch_size}}", parameters: [Parameter(#{ name: "n", value: "{{tier}}" })] }),
           tier: "preferred""#,
    );
    assert_eq!(job.config.contact.as_deref(), Some("r@example.com"));
    assert_eq!((job.config.metadata[0].key.as_str(), job.config.metadata[0].value.as_str()), ("c", "t-2"));
    assert_eq!(job.config.announce.and_then(|a| a.zk_path).as_deref(), Some("/devel/j"));
    let Some(Container::Docker { image, parameters }) = job.config.container else { panic!("a Docker container") };
    assert_eq!((image.as_str(), parameters[0].value.as_str()), ("img:2", "preferred"));
}

#[test]
fn key_fields_may_be_templates_and_the_name_defaults_to_the_tasks() {
    let source = r#"
let task = Task(#{ name: "{{role}}-web", processes: [Process(#{ name: "p", cmdline: "serve {{name}}" })],
                   resources: Resources(#{ cpu: 1, ram: MB, disk: MB }) });
let jobs = [Job(#{ cluster: "{{dc}}", role: "www", environment: "devel", task: task })];"#;
    let options = EvalOptions { bindings: map(&[("dc", "devcluster")]), ..EvalOptions::default() };
    let jobs = crate::evaluate_with(source, FILE, &options).expect("evaluates");
    assert_eq!(jobs[0].key.to_string(), "devcluster/www/devel/www-web");
    assert_eq!(jobs[0].config.task.processes[0].cmdline, "serve www-web");
}

#[test]
fn unbound_references_are_reported_at_the_job_and_all_listed() {
    let source =
        job_file_with(r#"contact: "{{owner}}", metadata: [Metadata(#{ key: "k", value: "{{version}} {{owner}}" })]"#);
    let diagnostics = crate::evaluate(&source, FILE).expect_err("unbound references");
    assert_eq!(
        messages(&diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>()),
        vec!["Config contains unbound variables: {{owner}} {{version}}"]
    );
    assert_eq!((diagnostics[0].line, diagnostics[0].column), (1, 13));
    let options = EvalOptions { bindings: map(&[("owner", "me"), ("version", "3")]), ..EvalOptions::default() };
    let jobs = crate::evaluate_with(&source, FILE, &options).expect("bound");
    assert_eq!(jobs[0].config.metadata[0].value, "3 me");
}

#[test]
fn ports_in_a_shell_health_check_and_the_announcer_are_requested() {
    let job = job_with(
        r#"announce: Announcer(#{ primary_port: "thrift" }),
           health_check_config: HealthCheckConfig(#{ health_checker: HealthCheckerConfig(#{
               shell: ShellHealthChecker(#{ shell_command: "check --port {{ thermos.ports[admin] }}" }) }) })"#,
    );
    assert_eq!(job.requested_ports().into_iter().collect::<Vec<_>>(), vec!["admin", "thrift"]);
}

#[test]
fn with_unbound_references_allowed_they_are_left_as_written() {
    let binds = map(&[("x", "1")]);
    let mut resolver = Resolver::new(BTreeMap::new(), &binds, true);
    assert_eq!(resolver.resolve("{{version}}-{{x}}"), "{{version}}-1");
    assert!(resolver.problems().is_empty());
    let source = job_file_with(r#"contact: "{{owner}}@example.com""#);
    let options = EvalOptions { unbound_allowed: true, ..EvalOptions::default() };
    let jobs = crate::evaluate_with(&source, FILE, &options).expect("unbound references are allowed");
    assert_eq!(jobs[0].config.contact.as_deref(), Some("{{owner}}@example.com"));
}

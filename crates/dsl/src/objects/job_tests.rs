//! Tests of `Job` and `Service`.

use atoll_model::config::{CronCollisionPolicy, HealthCheckConfig, LifecycleConfig, UpdateConfig};
use atoll_model::{Constraint, ConstraintRule};

use crate::test_support::{diagnostics_of, job_file_with, job_file_with_task, job_of, job_with, jobs_of, messages};

const TASK: &str = r#"
let task = SequentialTask(#{ name: "t", processes: [Process(#{ name: "p", cmdline: "x" })],
                             resources: Resources(#{ cpu: 1, ram: MB, disk: MB }) });
"#;

#[test]
fn unset_fields_take_auroras_defaults_and_the_name_comes_from_the_task() {
    let job = job_of(&format!(
        "{TASK}let jobs = [Job(#{{ cluster: \"c\", role: \"r\", environment: \"test\", task: task }})];"
    ));
    assert_eq!(job.key.to_string(), "c/r/test/t");
    assert_eq!(
        (job.instances, job.config.service, job.config.priority, job.config.production, job.config.max_task_failures),
        (1, false, 0, false, 1)
    );
    assert_eq!((job.config.contact, job.config.tier, job.cron_schedule), (None, None, None));
    assert_eq!(job.cron_collision_policy, CronCollisionPolicy::KillExisting);
    assert_eq!(job.update_config, UpdateConfig::default());
    assert_eq!(job.config.health_check_config, HealthCheckConfig::default());
    assert_eq!(job.config.lifecycle, LifecycleConfig::default());
    assert!(job.config.constraints.is_empty() && job.config.metadata.is_empty());
    assert_eq!(
        (job.config.announce, job.config.partition_policy, job.config.sla_policy, job.config.container),
        (None, None, None, None)
    );
}

#[test]
fn every_scalar_field_can_be_set() {
    let job = job_of(&format!(
        r#"{TASK}let jobs = [Job(#{{ cluster: "c", role: "r", environment: "prod", name: "n", task: task,
            instances: 3, contact: "me@example.com", tier: "preferred", priority: 5, production: true,
            max_task_failures: -1, cron_schedule: "0 * * * *", cron_collision_policy: "CANCEL_NEW" }})];"#
    ));
    assert_eq!(job.key.to_string(), "c/r/prod/n");
    assert_eq!(
        (job.instances, job.config.priority, job.config.production, job.config.max_task_failures),
        (3, 5, true, -1)
    );
    assert_eq!(job.config.contact.as_deref(), Some("me@example.com"));
    assert_eq!(job.config.tier.as_deref(), Some("preferred"));
    assert_eq!(job.cron_schedule.as_deref(), Some("0 * * * *"));
    assert_eq!(job.cron_collision_policy, CronCollisionPolicy::CancelNew);
}

#[test]
fn a_cron_policy_outside_auroras_is_named() {
    assert_eq!(
        messages(&diagnostics_of(&job_file_with(r#"cron_schedule: "* * * * *", cron_collision_policy: "KILL""#))),
        vec!["Invalid cron policy: KILL; use \"KILL_EXISTING\" or \"CANCEL_NEW\""]
    );
    let overlap = job_file_with(r#"cron_schedule: "* * * * *", cron_collision_policy: "RUN_OVERLAP""#);
    assert_eq!(
        messages(&diagnostics_of(&overlap)),
        vec!["Invalid cron policy: RUN_OVERLAP is no longer supported; use KILL_EXISTING or CANCEL_NEW"]
    );
}

#[test]
fn a_bad_schedule_or_zone_is_reported_at_its_field_naming_what_is_wrong() {
    let source = job_file_with(r#"instances: 2, cron_schedule: "0 25 * * *", cron_timezone: "Europe/Pari""#);
    let column = |text: &str| source.find(text).unwrap() + 1;
    assert_eq!(
        diagnostics_of(&source),
        vec![
            format!(
                "test.rhai:1:{}: Invalid cron schedule '0 25 * * *': the hour field '25' is wrong (Number out of bounds)",
                column("cron_schedule"),
            ),
            format!(
                "test.rhai:1:{}: unknown time zone 'Europe/Pari' (did you mean 'Europe/Paris'?); time zones are IANA names such as UTC, Europe/Paris or America/New_York",
                column("cron_timezone")
            ),
        ]
    );
    let job =
        job_with(r#"cron_schedule: "30 2 * * *", cron_timezone: "Europe/Paris", cron_starting_deadline_secs: 60"#);
    assert_eq!((job.cron_timezone.as_deref(), job.cron_starting_deadline_secs), (Some("Europe/Paris"), Some(60)));
    assert_eq!(
        messages(&diagnostics_of(&job_file_with(r#"cron_timezone: "UTC""#))),
        vec!["cron_timezone applies only to a job with a cron_schedule"]
    );
}

#[test]
fn a_service_is_a_job_with_service_set() {
    let jobs = jobs_of(&format!(
        r#"{TASK}let jobs = [
            Service(#{{ cluster: "c", role: "r", environment: "test", name: "s", task: task }}),
            Job(#{{ cluster: "c", role: "r", environment: "test", name: "j", task: task, service: true }}),
        ];"#
    ));
    assert!(jobs.iter().all(|job| job.config.service), "{jobs:#?}");
}

#[test]
fn every_constraint_form_is_parsed() {
    let job = job_with(
        r#"constraints: #{ rack: "r1,r2", zone: "!z3", host: "limit:1", dedicated: "r/web", os: "is:linux",
            kernel: "like:5\\..*", arch: "unlike:arm.*", pod: "unique", dc: "cluster:east", row: "group_by:3",
            shelf: "max_per:2", tag: "{{environment}}" }"#,
    );
    let rules: Vec<(String, ConstraintRule)> =
        job.config.constraints.into_iter().map(|Constraint { attribute, rule }| (attribute, rule)).collect();
    let expected = [
        ("arch", ConstraintRule::Unlike("arm.*".into())),
        ("dc", ConstraintRule::Cluster("east".into())),
        ("dedicated", ConstraintRule::Dedicated("r/web".into())),
        ("host", ConstraintRule::Limit(1)),
        ("kernel", ConstraintRule::Like("5\\..*".into())),
        ("os", ConstraintRule::Is("linux".into())),
        ("pod", ConstraintRule::Unique),
        ("rack", ConstraintRule::Value { values: vec!["r1".into(), "r2".into()], negated: false }),
        ("row", ConstraintRule::GroupBy(Some(3))),
        ("shelf", ConstraintRule::MaxPer(2)),
        ("tag", ConstraintRule::Value { values: vec!["devel".into()], negated: false }),
        ("zone", ConstraintRule::Value { values: vec!["z3".into()], negated: true }),
    ];
    assert_eq!(rules, expected.map(|(attribute, rule)| (attribute.to_owned(), rule)));
}

#[test]
fn bad_constraints_are_each_reported_at_their_attribute() {
    let source = format!(
        "\n\n{}",
        job_file_with(r#"constraints: #{ host: "limit:0", name: "like:web-[", rack: "max_per:-2", zone: 3 }"#)
    );
    let column = |text: &str| source.lines().nth(2).and_then(|line| line.find(text)).unwrap() + 1;
    let diagnostics = diagnostics_of(&source);
    assert_eq!(
        diagnostics,
        vec![format!(
            "test.rhai:3:{}: Job field 'constraints' must be an object map of host attribute to rule, e.g. \
             #{{ host: \"limit:1\", rack: \"r1,r2\" }}, not an object map whose entry 'zone' is an integer",
            column("constraints")
        )]
    );
    let source =
        job_file_with(r#"constraints: #{ host: "limit:0", name: "like:web-[", rack: "max_per:-2", "zone": "limt:1" }"#);
    let column = |text: &str| source.find(text).unwrap() + 1;
    let diagnostics = diagnostics_of(&source);
    assert_eq!(diagnostics.len(), 4, "{diagnostics:?}");
    assert_eq!(
        diagnostics[0],
        format!(
            "test.rhai:1:{}: constraint host: 'limit:0': limit takes a positive whole number, not '0'",
            column("host:")
        )
    );
    assert!(
        diagnostics[1].starts_with(&format!(
            "test.rhai:1:{}: constraint name: 'like:web-[': invalid regular expression",
            column("name: \"like")
        )),
        "{diagnostics:?}"
    );
    assert_eq!(
        diagnostics[2],
        format!(
            "test.rhai:1:{}: constraint rack: 'max_per:-2': max_per takes a positive whole number, not '-2'",
            column("rack:")
        )
    );
    assert!(
        diagnostics[3].starts_with(&format!(
            "test.rhai:1:{}: constraint zone: 'limt:1': unknown constraint operator 'limt'; did you mean 'limit'?",
            column("\"zone\"")
        )),
        "{diagnostics:?}"
    );
}

#[test]
fn a_constraint_value_with_a_colon_is_written_after_value() {
    let job = job_with(r#"constraints: #{ zone: "value:us:east-1" }"#);
    assert_eq!(
        job.config.constraints[0].rule,
        ConstraintRule::Value { values: vec!["us:east-1".into()], negated: false }
    );
}

#[test]
fn every_validation_problem_is_its_own_diagnostic_at_the_call_site() {
    let source = format!(
        "{TASK}\nlet jobs = [\n    Service(#{{ cluster: \"c\", role: \"r\", environment: \"test\", name: \"bad name\", task: task,\n        instances: 0, cron_schedule: \"* * * * *\", max_task_failures: 0 }})\n];"
    );
    assert_eq!(
        diagnostics_of(&source),
        vec![
            "test.rhai:6:5: invalid job key 'c/r/test/bad name': the name 'bad name' contains ' '; use letters, digits, '-', '_' and '.'; a job key looks like CLUSTER/ROLE/ENV/NAME, e.g. devcluster/www-data/devel/hello",
            "test.rhai:6:5: Instance count must be between 1 and 4000, not 0",
            "test.rhai:6:5: max_task_failures must be -1 (retry forever) or at least 1, not 0",
            "test.rhai:6:5: A service task may not be run on a cron schedule",
        ]
    );
}

#[test]
fn a_job_needs_its_key_fields_and_a_task_and_each_missing_one_is_named() {
    let diagnostics = diagnostics_of(&job_file_with_task("3").replace("role: \"r\", environment: \"devel\", ", ""));
    assert_eq!(
        messages(&diagnostics),
        vec![
            "Job is missing required field 'role'",
            "Job is missing required field 'environment'",
            "Job field 'task' must be a Task, not an integer",
        ]
    );
}

#[test]
fn unknown_and_wrong_fields_are_all_reported_and_validation_still_runs() {
    let source =
        job_file_with(r#"instance: 2, tier: "gold", priority: "high", metadata: Metadata(#{ key: "a", value: "b" })"#);
    assert_eq!(
        messages(&diagnostics_of(&source)),
        vec![
            "Unknown tier 'gold'; tiers are preferred, preemptible, revocable",
            "Job has no field 'instance'; did you mean 'instances'?",
            "Job field 'priority' must be a whole number from -2147483648 to 2147483647, not a string",
            "Job field 'metadata' must be an array of Metadata, not a Metadata",
        ]
    );
}

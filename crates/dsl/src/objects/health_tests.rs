//! Tests of the health check and lifecycle objects.

use atoll_model::config::{HealthCheckConfig, HealthChecker, HttpHealthChecker, HttpLifecycleConfig, LifecycleConfig};

use crate::test_support::{diagnostics_of, job_file_with, job_with, messages};

#[test]
fn unset_fields_take_auroras_defaults() {
    let expected = HealthCheckConfig {
        health_checker: HealthChecker::Http(HttpHealthChecker {
            endpoint: "/health".into(),
            expected_response: "ok".into(),
            expected_response_code: 0,
        }),
        initial_interval_secs: 15.0,
        interval_secs: 10.0,
        max_consecutive_failures: 0,
        min_consecutive_successes: 1,
        timeout_secs: 1.0,
    };
    assert_eq!(job_with("").config.health_check_config, expected);
    assert_eq!(job_with("health_check_config: HealthCheckConfig(#{})").config.health_check_config, expected);
    let checker = "HealthCheckConfig(#{ health_checker: HealthCheckerConfig(#{ http: HttpHealthChecker(#{}) }) })";
    assert_eq!(job_with(&format!("health_check_config: {checker}")).config.health_check_config, expected);
    let lifecycle = LifecycleConfig {
        http: Some(HttpLifecycleConfig {
            port: "health".into(),
            graceful_shutdown_endpoint: "/quitquitquit".into(),
            shutdown_endpoint: "/abortabortabort".into(),
            graceful_shutdown_wait_secs: 5,
            shutdown_wait_secs: 5,
        }),
    };
    assert_eq!(job_with("").config.lifecycle, lifecycle);
    assert_eq!(job_with("lifecycle: LifecycleConfig(#{ http: HttpLifecycleConfig(#{}) })").config.lifecycle, lifecycle);
}

#[test]
fn every_http_field_can_be_set() {
    let job = job_with(
        r#"health_check_config: HealthCheckConfig(#{
            health_checker: HealthCheckerConfig(#{ http: HttpHealthChecker(#{ endpoint: "/ready",
                expected_response: "yes", expected_response_code: 200 }) }),
            initial_interval_secs: 30, interval_secs: 2.5, max_consecutive_failures: 3,
            min_consecutive_successes: 2, timeout_secs: 0.5 })"#,
    );
    let expected = HealthCheckConfig {
        health_checker: HealthChecker::Http(HttpHealthChecker {
            endpoint: "/ready".into(),
            expected_response: "yes".into(),
            expected_response_code: 200,
        }),
        initial_interval_secs: 30.0,
        interval_secs: 2.5,
        max_consecutive_failures: 3,
        min_consecutive_successes: 2,
        timeout_secs: 0.5,
    };
    assert_eq!(job.config.health_check_config, expected);
}

#[test]
fn a_shell_checker_carries_its_command() {
    let job = job_with(
        r#"health_check_config: HealthCheckConfig(#{ health_checker: HealthCheckerConfig(#{
            shell: ShellHealthChecker(#{ shell_command: "curl -sf localhost:{{thermos.ports[admin]}}/ok" }) }) })"#,
    );
    assert_eq!(
        job.config.health_check_config.health_checker,
        HealthChecker::Shell { shell_command: "curl -sf localhost:{{thermos.ports[admin]}}/ok".into() }
    );
    assert!(job.requested_ports().contains("admin"));
}

#[test]
fn a_checker_config_takes_exactly_one_checker() {
    let both = job_file_with(
        r#"health_check_config: HealthCheckConfig(#{ health_checker: HealthCheckerConfig(#{
            http: HttpHealthChecker(#{}), shell: ShellHealthChecker(#{ shell_command: "true" }) }) })"#,
    );
    assert_eq!(
        messages(&diagnostics_of(&both)),
        vec!["HealthCheckerConfig takes exactly one of http or shell, not both"]
    );
    let neither =
        job_file_with("health_check_config: HealthCheckConfig(#{ health_checker: HealthCheckerConfig(#{}) })");
    assert_eq!(
        messages(&diagnostics_of(&neither)),
        vec!["HealthCheckerConfig takes exactly one of http or shell, not neither"]
    );
    let wrong = job_file_with(
        r#"health_check_config: HealthCheckConfig(#{ health_checker: HealthCheckerConfig(#{ shell: HttpHealthChecker(#{}) }) })"#,
    );
    assert_eq!(
        messages(&diagnostics_of(&wrong)),
        vec!["HealthCheckerConfig field 'shell' must be a ShellHealthChecker, not a HttpHealthChecker"]
    );
    let missing = job_file_with(
        "health_check_config: HealthCheckConfig(#{ health_checker: HealthCheckerConfig(#{ shell: ShellHealthChecker(#{}) }) })",
    );
    assert_eq!(
        messages(&diagnostics_of(&missing)),
        vec!["ShellHealthChecker is missing required field 'shell_command'"]
    );
}

#[test]
fn a_lifecycle_without_http_has_none_and_every_http_field_can_be_set() {
    assert_eq!(job_with("lifecycle: LifecycleConfig(#{})").config.lifecycle, LifecycleConfig { http: None });
    let job = job_with(
        r#"lifecycle: LifecycleConfig(#{ http: HttpLifecycleConfig(#{ port: "admin",
            graceful_shutdown_endpoint: "/stop", shutdown_endpoint: "/kill",
            graceful_shutdown_wait_secs: 10, shutdown_wait_secs: 3 }) })"#,
    );
    let expected = HttpLifecycleConfig {
        port: "admin".into(),
        graceful_shutdown_endpoint: "/stop".into(),
        shutdown_endpoint: "/kill".into(),
        graceful_shutdown_wait_secs: 10,
        shutdown_wait_secs: 3,
    };
    assert_eq!(job.config.lifecycle, LifecycleConfig { http: Some(expected) });
}

#[test]
fn wrong_fields_are_named_and_validation_is_reported_at_the_job() {
    let source = job_file_with(
        "health_check_config: HealthCheckConfig(#{ interval_secs: 0, timout_secs: 1, \
         min_consecutive_successes: \"1\" }), lifecycle: LifecycleConfig(#{ http: true })",
    );
    assert_eq!(
        messages(&diagnostics_of(&source)),
        vec![
            // The Job's own call comes first on the line.
            "health_check_config interval_secs must be positive, not 0",
            "HealthCheckConfig has no field 'timout_secs'; did you mean 'timeout_secs'?",
            "HealthCheckConfig field 'min_consecutive_successes' must be a whole number from 0 to 4294967295, not a string",
            "LifecycleConfig field 'http' must be a HttpLifecycleConfig, not a bool",
        ]
    );
}

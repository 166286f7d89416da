//! Health checks and graceful shutdown: `HealthCheckConfig`, `HealthCheckerConfig` with one of
//! `HttpHealthChecker` or `ShellHealthChecker`, and `LifecycleConfig` with its
//! `HttpLifecycleConfig`.

use std::sync::Arc;

use atoll_model::config::{HealthCheckConfig, HealthChecker, HttpHealthChecker, HttpLifecycleConfig, LifecycleConfig};
use rhai::Engine;

use super::fields::{FieldReader, ObjectSchema, default, one_of, required};
use super::kinds::{Number, Text, object, whole};
use super::{Call, ObjectError, register_constructor};
use crate::session::Session;

pub(super) const HEALTH_CHECK_CONFIG: ObjectSchema = ObjectSchema {
    name: "HealthCheckConfig",
    summary: "How and how often an instance's health is checked; it is RUNNING only once healthy.",
    fields: &[
        default("health_checker", "HealthCheckerConfig(#{ http: HttpHealthChecker(#{}) })"),
        default("initial_interval_secs", "15"),
        default("interval_secs", "10"),
        default("max_consecutive_failures", "0"),
        default("min_consecutive_successes", "1"),
        default("timeout_secs", "1"),
    ],
};
pub(super) const HEALTH_CHECKER_CONFIG: ObjectSchema = ObjectSchema {
    name: "HealthCheckerConfig",
    summary: "The one health checker a HealthCheckConfig uses: HTTP or shell.",
    fields: &[one_of(HEALTH_CHECKERS[0]), one_of(HEALTH_CHECKERS[1])],
};
pub(super) const HTTP_HEALTH_CHECKER: ObjectSchema = ObjectSchema {
    name: "HttpHealthChecker",
    summary: "A health check that GETs `endpoint` on the task's `health` port.",
    fields: &[
        default("endpoint", "\"/health\""),
        default("expected_response", "\"ok\""),
        default("expected_response_code", "0"),
    ],
};
pub(super) const SHELL_HEALTH_CHECKER: ObjectSchema = ObjectSchema {
    name: "ShellHealthChecker",
    summary: "A health check that passes when `shell_command` exits 0.",
    fields: &[required("shell_command")],
};
pub(super) const LIFECYCLE_CONFIG: ObjectSchema = ObjectSchema {
    name: "LifecycleConfig",
    summary: "How an instance is asked to shut down; without `http`, it is not asked.",
    fields: &[default("http", "none")],
};
pub(super) const HTTP_LIFECYCLE_CONFIG: ObjectSchema = ObjectSchema {
    name: "HttpLifecycleConfig",
    summary: "Graceful shutdown over HTTP, when the named port is allocated.",
    fields: &[
        default("port", "\"health\""),
        default("graceful_shutdown_endpoint", "\"/quitquitquit\""),
        default("shutdown_endpoint", "\"/abortabortabort\""),
        default("graceful_shutdown_wait_secs", "5"),
        default("shutdown_wait_secs", "5"),
    ],
};

/// The checkers a `HealthCheckerConfig` holds exactly one of.
const HEALTH_CHECKERS: &[&str] = &["http", "shell"];

/// A shell health check: healthy when `shell_command` exits 0. Its own type, so that
/// `HealthCheckerConfig(#{ shell: ... })` can insist on one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShellHealthChecker {
    shell_command: String,
}

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, &HEALTH_CHECK_CONFIG, health_check_config);
    register_constructor(engine, session, &HEALTH_CHECKER_CONFIG, health_checker_config);
    register_constructor(engine, session, &HTTP_HEALTH_CHECKER, http_health_checker);
    register_constructor(engine, session, &SHELL_HEALTH_CHECKER, shell_health_checker);
    register_constructor(engine, session, &LIFECYCLE_CONFIG, lifecycle_config);
    register_constructor(engine, session, &HTTP_LIFECYCLE_CONFIG, http_lifecycle_config);
}

fn health_check_config(call: &Call<'_>, mut fields: FieldReader<'_>) -> HealthCheckConfig {
    let defaults = HealthCheckConfig::default();
    let config = HealthCheckConfig {
        health_checker: fields.or("health_checker", object(), defaults.health_checker),
        initial_interval_secs: fields.or("initial_interval_secs", Number, defaults.initial_interval_secs),
        interval_secs: fields.or("interval_secs", Number, defaults.interval_secs),
        max_consecutive_failures: fields.or("max_consecutive_failures", whole(), defaults.max_consecutive_failures),
        min_consecutive_successes: fields.or("min_consecutive_successes", whole(), defaults.min_consecutive_successes),
        timeout_secs: fields.or("timeout_secs", Number, defaults.timeout_secs),
    };
    call.report_fields(fields.finish());
    config
}

/// Exactly one of an HTTP or a shell checker.
fn health_checker_config(call: &Call<'_>, mut fields: FieldReader<'_>) -> HealthChecker {
    let given = match (fields.is_given("http"), fields.is_given("shell")) {
        (true, true) => Some("both"),
        (false, false) => Some("neither"),
        _ => None,
    };
    if let Some(given) = given {
        fields.problem(ObjectError::ExactlyOne { object: HEALTH_CHECKER_CONFIG.name, fields: HEALTH_CHECKERS, given });
    }
    let http = fields.optional("http", object::<HttpHealthChecker>());
    let shell = fields.optional("shell", object::<ShellHealthChecker>());
    call.report_fields(fields.finish());
    match (http, shell) {
        (Some(http), _) => HealthChecker::Http(http),
        (None, Some(shell)) => HealthChecker::Shell { shell_command: shell.shell_command },
        (None, None) => HealthChecker::default(),
    }
}

fn http_health_checker(call: &Call<'_>, mut fields: FieldReader<'_>) -> HttpHealthChecker {
    let defaults = HttpHealthChecker::default();
    let checker = HttpHealthChecker {
        endpoint: fields.or("endpoint", Text, defaults.endpoint),
        expected_response: fields.or("expected_response", Text, defaults.expected_response),
        expected_response_code: fields.or("expected_response_code", whole(), defaults.expected_response_code),
    };
    call.report_fields(fields.finish());
    checker
}

fn shell_health_checker(call: &Call<'_>, mut fields: FieldReader<'_>) -> ShellHealthChecker {
    // A missing command stands in as one that passes, so validation adds nothing to the problem.
    let shell_command = fields.required("shell_command", Text).unwrap_or_else(|| "true".to_owned());
    call.report_fields(fields.finish());
    ShellHealthChecker { shell_command }
}

/// Without `http`, the job has no HTTP lifecycle (Aurora's `LifecycleConfig()`); a job that does
/// not set `lifecycle` at all gets the default HTTP lifecycle.
fn lifecycle_config(call: &Call<'_>, mut fields: FieldReader<'_>) -> LifecycleConfig {
    let config = LifecycleConfig { http: fields.optional("http", object()) };
    call.report_fields(fields.finish());
    config
}

fn http_lifecycle_config(call: &Call<'_>, mut fields: FieldReader<'_>) -> HttpLifecycleConfig {
    let defaults = HttpLifecycleConfig::default();
    let config = HttpLifecycleConfig {
        port: fields.or("port", Text, defaults.port),
        graceful_shutdown_endpoint: fields.or("graceful_shutdown_endpoint", Text, defaults.graceful_shutdown_endpoint),
        shutdown_endpoint: fields.or("shutdown_endpoint", Text, defaults.shutdown_endpoint),
        graceful_shutdown_wait_secs: fields.or(
            "graceful_shutdown_wait_secs",
            whole(),
            defaults.graceful_shutdown_wait_secs,
        ),
        shutdown_wait_secs: fields.or("shutdown_wait_secs", whole(), defaults.shutdown_wait_secs),
    };
    call.report_fields(fields.finish());
    config
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;

//! Health checks and graceful shutdown: `HealthCheckConfig`, `HealthCheckerConfig` with one of
//! `HttpHealthChecker` or `ShellHealthChecker`, and `LifecycleConfig` with its
//! `HttpLifecycleConfig`.

use std::sync::Arc;

use atoll_model::config::{HealthCheckConfig, HealthChecker, HttpHealthChecker, HttpLifecycleConfig, LifecycleConfig};
use rhai::{Dynamic, Engine};

use super::fields::{FieldReader, ObjectSchema};
use super::kinds::{Number, Text, object, whole};
use super::{Call, ObjectError, register_constructor};
use crate::session::Session;

pub(super) const HEALTH_CHECK_CONFIG: ObjectSchema = ObjectSchema {
    name: "HealthCheckConfig",
    fields: &[
        "health_checker",
        "initial_interval_secs",
        "interval_secs",
        "max_consecutive_failures",
        "min_consecutive_successes",
        "timeout_secs",
    ],
};
pub(super) const HEALTH_CHECKER_CONFIG: ObjectSchema =
    ObjectSchema { name: "HealthCheckerConfig", fields: HEALTH_CHECKERS };
pub(super) const HTTP_HEALTH_CHECKER: ObjectSchema =
    ObjectSchema { name: "HttpHealthChecker", fields: &["endpoint", "expected_response", "expected_response_code"] };
pub(super) const SHELL_HEALTH_CHECKER: ObjectSchema =
    ObjectSchema { name: "ShellHealthChecker", fields: &["shell_command"] };
pub(super) const LIFECYCLE_CONFIG: ObjectSchema = ObjectSchema { name: "LifecycleConfig", fields: &["http"] };
pub(super) const HTTP_LIFECYCLE_CONFIG: ObjectSchema = ObjectSchema {
    name: "HttpLifecycleConfig",
    fields: &[
        "port",
        "graceful_shutdown_endpoint",
        "shutdown_endpoint",
        "graceful_shutdown_wait_secs",
        "shutdown_wait_secs",
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
    register_constructor(engine, session, "HealthCheckConfig", health_check_config);
    register_constructor(engine, session, "HealthCheckerConfig", health_checker_config);
    register_constructor(engine, session, "HttpHealthChecker", http_health_checker);
    register_constructor(engine, session, "ShellHealthChecker", shell_health_checker);
    register_constructor(engine, session, "LifecycleConfig", lifecycle_config);
    register_constructor(engine, session, "HttpLifecycleConfig", http_lifecycle_config);
}

fn health_check_config(call: &Call<'_>, argument: Dynamic) -> HealthCheckConfig {
    let mut fields = FieldReader::new(call.engine(), &HEALTH_CHECK_CONFIG, argument);
    let defaults = HealthCheckConfig::default();
    let config = HealthCheckConfig {
        health_checker: fields.or("health_checker", object(), defaults.health_checker),
        initial_interval_secs: fields.or("initial_interval_secs", Number, defaults.initial_interval_secs),
        interval_secs: fields.or("interval_secs", Number, defaults.interval_secs),
        max_consecutive_failures: fields.or("max_consecutive_failures", whole(), defaults.max_consecutive_failures),
        min_consecutive_successes: fields.or("min_consecutive_successes", whole(), defaults.min_consecutive_successes),
        timeout_secs: fields.or("timeout_secs", Number, defaults.timeout_secs),
    };
    call.report(fields.finish());
    config
}

/// Exactly one of an HTTP or a shell checker.
fn health_checker_config(call: &Call<'_>, argument: Dynamic) -> HealthChecker {
    let mut fields = FieldReader::new(call.engine(), &HEALTH_CHECKER_CONFIG, argument);
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
    call.report(fields.finish());
    match (http, shell) {
        (Some(http), _) => HealthChecker::Http(http),
        (None, Some(shell)) => HealthChecker::Shell { shell_command: shell.shell_command },
        (None, None) => HealthChecker::default(),
    }
}

fn http_health_checker(call: &Call<'_>, argument: Dynamic) -> HttpHealthChecker {
    let mut fields = FieldReader::new(call.engine(), &HTTP_HEALTH_CHECKER, argument);
    let defaults = HttpHealthChecker::default();
    let checker = HttpHealthChecker {
        endpoint: fields.or("endpoint", Text, defaults.endpoint),
        expected_response: fields.or("expected_response", Text, defaults.expected_response),
        expected_response_code: fields.or("expected_response_code", whole(), defaults.expected_response_code),
    };
    call.report(fields.finish());
    checker
}

fn shell_health_checker(call: &Call<'_>, argument: Dynamic) -> ShellHealthChecker {
    let mut fields = FieldReader::new(call.engine(), &SHELL_HEALTH_CHECKER, argument);
    // A missing command stands in as one that passes, so validation adds nothing to the problem.
    let shell_command = fields.required("shell_command", Text).unwrap_or_else(|| "true".to_owned());
    call.report(fields.finish());
    ShellHealthChecker { shell_command }
}

/// Without `http`, the job has no HTTP lifecycle (Aurora's `LifecycleConfig()`); a job that does
/// not set `lifecycle` at all gets the default HTTP lifecycle.
fn lifecycle_config(call: &Call<'_>, argument: Dynamic) -> LifecycleConfig {
    let mut fields = FieldReader::new(call.engine(), &LIFECYCLE_CONFIG, argument);
    let config = LifecycleConfig { http: fields.optional("http", object()) };
    call.report(fields.finish());
    config
}

fn http_lifecycle_config(call: &Call<'_>, argument: Dynamic) -> HttpLifecycleConfig {
    let mut fields = FieldReader::new(call.engine(), &HTTP_LIFECYCLE_CONFIG, argument);
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
    call.report(fields.finish());
    config
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;

//! Health checks, as Aurora's executor ran them: an HTTP GET on the task's `health` port, or a
//! shell command, every `interval_secs`. A task is RUNNING only once healthy, and FAILED when it
//! does not get healthy in time or stops being healthy.
//!
//! [`HealthTracker`] is the pure rule book; [`Checker`] is the edge that runs one check.
//! Rules (Aurora's): the first `ceil(initial_interval_secs / interval_secs)` attempts' failures
//! are forgiven; `min_consecutive_successes` passes in a row make the task healthy; more than
//! `max_consecutive_failures` failures in a row make it unhealthy; a task not healthy after
//! grace + max failures + min successes attempts has failed "Not enough successful health
//! checks in time." A `.healthchecksnooze` file in the task's home ([`HEALTH_CHECK_SNOOZE`]) makes
//! every check pass.

use std::path::Path;
use std::time::Duration;

use atoll_model::config::{HealthCheckConfig, HealthChecker};
use atoll_model::template;
use atoll_sandbox::{HEALTH_CHECK_SNOOZE, LaunchFile};

use super::http;
use super::process::TaskShell;

/// The port an HTTP health check uses; without it the task needs no health check.
pub const HEALTH_PORT: &str = "health";

/// What the checks say so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Undecided,
    Healthy,
    Unhealthy(String),
}

/// Counts passes and failures and applies Aurora's rules.
#[derive(Clone, Debug)]
pub struct HealthTracker {
    grace_attempts: u32,
    max_consecutive_failures: u32,
    min_consecutive_successes: u32,
    attempts: u32,
    successes: u32,
    failures: u32,
    healthy: bool,
}

impl HealthTracker {
    pub fn new(config: &HealthCheckConfig) -> HealthTracker {
        let grace = if config.interval_secs > 0.0 {
            (config.initial_interval_secs / config.interval_secs).ceil().max(0.0) as u32
        } else {
            0
        };
        HealthTracker {
            grace_attempts: grace,
            max_consecutive_failures: config.max_consecutive_failures,
            min_consecutive_successes: config.min_consecutive_successes.max(1),
            attempts: 0,
            successes: 0,
            failures: 0,
            healthy: false,
        }
    }

    /// Records one check's result (`Err` carries why it failed) and returns the verdict.
    pub fn record(&mut self, result: Result<(), String>) -> Verdict {
        self.attempts += 1;
        match result {
            Ok(()) => {
                self.successes += 1;
                self.failures = 0;
                if self.successes >= self.min_consecutive_successes {
                    self.healthy = true;
                }
            }
            Err(reason) => {
                self.successes = 0;
                let forgiven = !self.healthy && self.attempts <= self.grace_attempts;
                if !forgiven {
                    self.failures += 1;
                }
                if self.failures > self.max_consecutive_failures {
                    return Verdict::Unhealthy(format!("Failed health check! {reason}"));
                }
            }
        }
        if self.healthy {
            return Verdict::Healthy;
        }
        let budget = self.grace_attempts + self.max_consecutive_failures + self.min_consecutive_successes;
        if self.attempts >= budget {
            return Verdict::Unhealthy("Not enough successful health checks in time.".to_owned());
        }
        Verdict::Undecided
    }
}

/// One health check, ready to run.
#[derive(Clone, Debug)]
pub enum Checker {
    /// No check: the task is healthy as soon as it runs (an HTTP check without a health port).
    None,
    Http {
        port: u16,
        endpoint: String,
        expected_response: String,
        expected_response_code: u32,
    },
    /// A command run as the task's own processes run (its shell: in its home, with its
    /// environment, in its control groups, as its user), since it uses the task's resources.
    Shell {
        command: String,
        shell: TaskShell,
    },
}

impl Checker {
    /// The check a launched task needs.
    pub fn for_launch(file: &LaunchFile, shell: &TaskShell) -> Checker {
        match &file.launch.config.health_check_config.health_checker {
            HealthChecker::Http(http) => match file.launch.ports.get(HEALTH_PORT) {
                Some(&port) => Checker::Http {
                    port,
                    endpoint: http.endpoint.clone(),
                    expected_response: http.expected_response.clone(),
                    expected_response_code: http.expected_response_code,
                },
                None => Checker::None,
            },
            HealthChecker::Shell { shell_command } => {
                let context = file.run_context();
                Checker::Shell { command: template::render(shell_command, &context), shell: shell.clone() }
            }
        }
    }

    /// Runs the check once; `Err` says why it failed. While the task's home holds
    /// [`HEALTH_CHECK_SNOOZE`], every check passes.
    pub async fn check(&self, home: &Path, timeout: Duration) -> Result<(), String> {
        if home.join(HEALTH_CHECK_SNOOZE).exists() {
            return Ok(());
        }
        match self {
            Checker::None => Ok(()),
            Checker::Http { port, endpoint, expected_response, expected_response_code } => {
                let response = http::request("GET", *port, endpoint, timeout)
                    .await
                    .map_err(|e| format!("GET {endpoint} failed: {e}"))?;
                if *expected_response_code != 0 && u32::from(response.status) != *expected_response_code {
                    return Err(format!(
                        "GET {endpoint} answered {} (expected {expected_response_code})",
                        response.status
                    ));
                }
                if !response.body.trim().eq_ignore_ascii_case(expected_response.trim()) {
                    let body: String = response.body.trim().chars().take(80).collect();
                    return Err(format!("GET {endpoint} answered {body:?} (expected {expected_response:?})"));
                }
                Ok(())
            }
            Checker::Shell { command, shell } => {
                let run = shell
                    .command(command)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .status();
                match tokio::time::timeout(timeout, run).await {
                    Err(_) => Err(format!("shell check did not finish within {:.1} s", timeout.as_secs_f64())),
                    Ok(Err(e)) => Err(format!("shell check could not run: {e}")),
                    Ok(Ok(status)) if status.success() => Ok(()),
                    Ok(Ok(status)) => Err(format!("shell check exited with {status}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(initial: f64, interval: f64, max_failures: u32, min_successes: u32) -> HealthCheckConfig {
        HealthCheckConfig {
            initial_interval_secs: initial,
            interval_secs: interval,
            max_consecutive_failures: max_failures,
            min_consecutive_successes: min_successes,
            ..HealthCheckConfig::default()
        }
    }

    fn fail() -> Result<(), String> {
        Err("GET /health answered 500".into())
    }

    #[test]
    fn failures_during_the_initial_interval_are_forgiven() {
        let mut tracker = HealthTracker::new(&config(3.0, 1.0, 0, 1));
        assert_eq!(tracker.record(fail()), Verdict::Undecided);
        assert_eq!(tracker.record(fail()), Verdict::Undecided);
        assert_eq!(tracker.record(fail()), Verdict::Undecided);
        assert_eq!(tracker.record(Ok(())), Verdict::Healthy);
    }

    #[test]
    fn min_consecutive_successes_must_come_in_a_row() {
        let mut tracker = HealthTracker::new(&config(2.0, 1.0, 5, 2));
        assert_eq!(tracker.record(Ok(())), Verdict::Undecided);
        assert_eq!(tracker.record(fail()), Verdict::Undecided);
        assert_eq!(tracker.record(Ok(())), Verdict::Undecided);
        assert_eq!(tracker.record(Ok(())), Verdict::Healthy);
    }

    #[test]
    fn a_task_that_never_gets_healthy_fails_in_time() {
        // grace 2 + max failures 1 + min successes 1 = 4 attempts.
        let mut tracker = HealthTracker::new(&config(2.0, 1.0, 1, 1));
        assert_eq!(tracker.record(fail()), Verdict::Undecided);
        assert_eq!(tracker.record(fail()), Verdict::Undecided);
        assert_eq!(tracker.record(fail()), Verdict::Undecided);
        assert_eq!(tracker.record(fail()), Verdict::Unhealthy("Failed health check! GET /health answered 500".into()));
        let mut slow = HealthTracker::new(&config(1.0, 1.0, 3, 1));
        for _ in 0..4 {
            slow.record(Err("timeout".into()));
        }
        assert_eq!(slow.record(Err("x".into())), Verdict::Unhealthy("Failed health check! x".into()));
        let mut undecided = HealthTracker::new(&config(0.0, 1.0, 0, 3));
        assert_eq!(undecided.record(Ok(())), Verdict::Undecided);
        assert_eq!(undecided.record(Ok(())), Verdict::Undecided);
        assert_eq!(
            undecided.record(fail()),
            Verdict::Unhealthy("Failed health check! GET /health answered 500".into())
        );
    }

    #[test]
    fn a_healthy_task_becomes_unhealthy_after_too_many_failures_in_a_row() {
        let mut tracker = HealthTracker::new(&config(0.0, 1.0, 2, 1));
        assert_eq!(tracker.record(Ok(())), Verdict::Healthy);
        assert_eq!(tracker.record(fail()), Verdict::Healthy);
        assert_eq!(tracker.record(fail()), Verdict::Healthy);
        assert_eq!(tracker.record(Ok(())), Verdict::Healthy, "a pass resets the count");
        assert_eq!(tracker.record(fail()), Verdict::Healthy);
        assert_eq!(tracker.record(fail()), Verdict::Healthy);
        assert!(
            matches!(tracker.record(fail()), Verdict::Unhealthy(reason) if reason.starts_with("Failed health check!"))
        );
    }

    #[tokio::test]
    async fn shell_checks_pass_on_exit_zero_in_the_tasks_home_and_snooze_passes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let (sandbox, file) = (atoll_sandbox::Sandbox::new(dir.path()), crate::tests::launch(Vec::new(), &[]));
        let home = sandbox.prepare_task_home(&file).expect("a home");
        let shell = TaskShell::new(&sandbox, &file, home.clone(), atoll_sandbox::ChildSetup::default());
        let checker = |command: &str| Checker::Shell { command: command.into(), shell: shell.clone() };
        let pass = checker("test \"$PWD\" = \"$HOME\" && test \"$(basename \"$PWD\")\" = sandbox");
        assert_eq!(pass.check(&home, Duration::from_secs(5)).await, Ok(()));
        let failing = checker("exit 3");
        let err = failing.check(&home, Duration::from_secs(5)).await.unwrap_err();
        assert!(err.contains("exited with exit status: 3"), "{err}");
        let slow = checker("sleep 5");
        assert!(slow.check(&home, Duration::from_millis(100)).await.unwrap_err().contains("did not finish"));
        std::fs::write(home.join(HEALTH_CHECK_SNOOZE), "").unwrap();
        assert_eq!(failing.check(&home, Duration::from_secs(5)).await, Ok(()));
    }
}

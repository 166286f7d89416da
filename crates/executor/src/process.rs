//! The executor's edge to the operating system: how the task's commands start ([`TaskShell`]:
//! home, environment, groups, user), starting one run of a process (rendered command line,
//! output as its `Logger` asks, own process group) and signalling process groups.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use atoll_model::ProcessSpec;
use atoll_model::template;
use atoll_planner::RunEnd;
use atoll_sandbox::logs::{LogFileError, Stream};
use atoll_sandbox::{ChildSetup, LaunchFile, PROFILE, Sandbox};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::logs::{self, OutputPlan};

/// How long a run's end waits for its output pumps once its process group is gone; only a
/// process that left the group can hold a pipe open longer.
const PUMP_DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// Why a run could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Log(#[from] LogFileError),
    #[error("could not start bash in {} as the task's user within its control groups: {source}", home.display())]
    Bash { home: PathBuf, source: io::Error },
}

/// A started run: the child, and the pumps that copy its piped output.
pub struct Run {
    child: Child,
    pgid: i32,
    pumps: Vec<JoinHandle<()>>,
}

impl Run {
    /// The process id of the run's leader, until it has been waited for.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the leader to exit and for its output to be written out. With piped output
    /// the group is killed first (as the end of a run does anyway), so that nothing left
    /// behind holds the pipes open and the output is complete before the end is reported.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        let status = self.child.wait().await;
        if !self.pumps.is_empty() {
            signal_group(self.pgid, Signal::SIGKILL);
            let pumps = std::mem::take(&mut self.pumps);
            let drained = tokio::time::timeout(PUMP_DRAIN_LIMIT, async {
                for pump in pumps {
                    let _ = pump.await;
                }
            });
            if drained.await.is_err() {
                tracing::warn!(pgid = self.pgid, "a process outside the run's group still holds its output open");
            }
        }
        status
    }
}

/// How every command of a task starts: `bash -c` in the task's home, with the task's own
/// environment (never the executor's), entering its control groups as its user.
///
/// The environment is the documented set: `HOME` (the task's home), `USER` and `LOGNAME` (its
/// user), `PATH` (the system's, or the executor's when the task runs as the executor's user),
/// Mesos' `MESOS_SANDBOX`, `MESOS_DIRECTORY` and `MESOS_TASK_ID`, Atoll's `ATOLL_TASK_ID`,
/// `ATOLL_INSTANCE` and `ATOLL_SANDBOX` (the task's home), `PORT_<NAME>` for each port, and
/// `BASH_ENV` once the task has written its `.thermos_profile`.
#[derive(Clone, Debug)]
pub struct TaskShell {
    home: PathBuf,
    environment: Vec<(String, OsString)>,
    setup: ChildSetup,
}

impl TaskShell {
    /// The shell of `file`'s task, in `home` (prepared by `Sandbox::prepare_task_home`).
    pub fn new(sandbox: &Sandbox, file: &LaunchFile, home: PathBuf, setup: ChildSetup) -> TaskShell {
        let launch = &file.launch;
        let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let home = absolute(&home);
        let root = absolute(sandbox.root());
        let (user, path) = match &file.user {
            Some(user) => (user.name.clone(), OsString::from(SYSTEM_PATH)),
            None => (current_user(), std::env::var_os("PATH").unwrap_or_else(|| SYSTEM_PATH.into())),
        };
        let mut environment: Vec<(String, OsString)> = vec![
            ("HOME".into(), home.clone().into()),
            ("USER".into(), user.clone().into()),
            ("LOGNAME".into(), user.into()),
            ("PATH".into(), path),
            ("MESOS_SANDBOX".into(), root.clone().into()),
            ("MESOS_DIRECTORY".into(), root.into()),
            ("MESOS_TASK_ID".into(), launch.task_id.0.clone().into()),
            ("ATOLL_TASK_ID".into(), launch.task_id.0.clone().into()),
            ("ATOLL_INSTANCE".into(), launch.instance.to_string().into()),
            ("ATOLL_SANDBOX".into(), home.clone().into()),
        ];
        environment.extend(launch.ports.iter().map(|(name, port)| (port_variable(name), port.to_string().into())));
        TaskShell { home, environment, setup }
    }

    /// The shell with one more variable in the task's environment.
    pub fn with_variable(mut self, name: &str, value: impl Into<OsString>) -> TaskShell {
        self.environment.push((name.to_owned(), value.into()));
        self
    }

    /// The task's home: its processes' working directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// `bash -c COMMAND` as the task runs it, stdin from /dev/null.
    pub fn command(&self, command_line: &str) -> Command {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(command_line)
            .current_dir(&self.home)
            .stdin(Stdio::null())
            .env_clear()
            .envs(self.environment.iter().map(|(name, value)| (name, value)));
        let profile = self.home.join(PROFILE);
        if profile.is_file() {
            command.env("BASH_ENV", profile);
        }
        self.setup.apply(command.as_std_mut());
        command
    }
}

/// Starts run `run` of `process`: the task's shell with the rendered command line, output where
/// the process's logger says (the run's log files by default, the task user's), in a new
/// process group whose id is the child's pid.
pub fn spawn_run(
    sandbox: &Sandbox,
    file: &LaunchFile,
    shell: &TaskShell,
    process: &ProcessSpec,
    run: u32,
) -> Result<Run, SpawnError> {
    let log_dir = sandbox.process_log_dir(&process.name, run);
    atoll_sandbox::logs::create_run_dir(&log_dir)?;
    let owner = file.user.as_ref();
    let (stdout, stdout_sink) = OutputPlan::prepare(&log_dir, Stream::Stdout, &process.logger, owner)?.into_parts();
    let (stderr, stderr_sink) = OutputPlan::prepare(&log_dir, Stream::Stderr, &process.logger, owner)?.into_parts();
    let mut command = shell.command(&template::render(&process.cmdline, &file.run_context()));
    command.stdout(stdout).stderr(stderr).process_group(0);
    let mut child = command.spawn().map_err(|source| SpawnError::Bash { home: shell.home().to_owned(), source })?;
    let pgid = child.id().and_then(|pid| i32::try_from(pid).ok()).unwrap_or(0);
    let mut pumps = Vec::new();
    if let (Some(sink), Some(pipe)) = (stdout_sink, child.stdout.take()) {
        pumps.push(logs::spawn_pump(pipe, sink));
    }
    if let (Some(sink), Some(pipe)) = (stderr_sink, child.stderr.take()) {
        pumps.push(logs::spawn_pump(pipe, sink));
    }
    Ok(Run { child, pgid, pumps })
}

/// `PATH` for a task that runs as a user of its own.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The executor's own user's name, for a task that runs as it.
fn current_user() -> String {
    match nix::unistd::User::from_uid(nix::unistd::getuid()) {
        Ok(Some(user)) => user.name,
        _ => std::env::var("USER").unwrap_or_else(|_| nix::unistd::getuid().to_string()),
    }
}

/// `PORT_<NAME>`: the port name upper-cased, with anything but letters and digits made `_`.
fn port_variable(name: &str) -> String {
    let name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("PORT_{name}")
}

/// How a waited-on run ended.
pub fn run_end(status: io::Result<ExitStatus>) -> RunEnd {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => RunEnd::Exited(code),
            (None, Some(signal)) => RunEnd::Signaled(signal),
            (None, None) => RunEnd::Error(format!("ended with an unrecognised status {status}")),
        },
        Err(error) => RunEnd::Error(format!("could not be waited on: {error}")),
    }
}

/// Sends `signal` to every process in group `pgid`; a group that is already gone is fine.
pub fn signal_group(pgid: i32, signal: Signal) {
    // Group 0 is our own and 1 is init's: never a task's, whatever the caller passed.
    if pgid <= 1 {
        return;
    }
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(errno) => tracing::warn!(pgid, signal = signal.as_str(), "could not signal process group: {errno}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_variables_are_upper_case_shell_names() {
        assert_eq!(port_variable("http"), "PORT_HTTP");
        assert_eq!(port_variable("admin-v2"), "PORT_ADMIN_V2");
    }

    #[test]
    fn the_planner_names_signals_as_the_system_does() {
        for number in 0..=64 {
            let system = Signal::try_from(number).ok().map(Signal::as_str);
            assert_eq!(atoll_planner::signal_name(number), system, "signal {number}");
        }
    }

    #[test]
    fn exit_statuses_become_run_ends() {
        assert_eq!(run_end(Ok(ExitStatus::from_raw(3 << 8))), RunEnd::Exited(3));
        assert_eq!(run_end(Ok(ExitStatus::from_raw(9))), RunEnd::Signaled(9));
        let error = run_end(Err(io::Error::from(io::ErrorKind::Other)));
        assert!(matches!(&error, RunEnd::Error(why) if why.starts_with("could not be waited on")), "{error:?}");
    }
}

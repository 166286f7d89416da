//! The executor's edge to the operating system: starting one run of a process (rendered command
//! line, environment, output as its `Logger` asks, own process group) and signalling process
//! groups.

use std::fs;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use atoll_model::ProcessSpec;
use atoll_model::template;
use atoll_planner::RunEnd;
use atoll_sandbox::logs::{LogFileError, Stream};
use atoll_sandbox::{GroupEntry, LaunchFile, PROFILE, Sandbox};
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
    #[error("could not start bash in {} within the task's control groups: {source}", sandbox.display())]
    Bash { sandbox: PathBuf, source: io::Error },
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

/// Starts run `run` of `process`: `bash -c <rendered command line>` in the sandbox root, with
/// stdin from /dev/null, output where the process's logger says (the run's log files by
/// default), in a new process group whose id is the child's pid, inside the task's control
/// groups.
pub fn spawn_run(
    sandbox: &Sandbox,
    file: &LaunchFile,
    entry: &GroupEntry,
    process: &ProcessSpec,
    run: u32,
) -> Result<Run, SpawnError> {
    let log_dir = sandbox.process_log_dir(&process.name, run);
    fs::create_dir_all(&log_dir).map_err(LogFileError::io("create", &log_dir))?;
    let (stdout, stdout_sink) = OutputPlan::prepare(&log_dir, Stream::Stdout, &process.logger)?.into_parts();
    let (stderr, stderr_sink) = OutputPlan::prepare(&log_dir, Stream::Stderr, &process.logger)?.into_parts();
    let context = file.run_context();
    let launch = &file.launch;
    let root = sandbox.root();
    let identity = Identity::current();
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(template::render(&process.cmdline, &context))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .env("HOME", &identity.home)
        .env("USER", &identity.name)
        .env("LOGNAME", &identity.name)
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()))
        .env("ATOLL_TASK_ID", &launch.task_id.0)
        .env("ATOLL_INSTANCE", launch.instance.to_string())
        .env("ATOLL_SANDBOX", std::path::absolute(root).unwrap_or_else(|_| root.to_owned()));
    for (name, port) in &launch.ports {
        command.env(port_variable(name), port.to_string());
    }
    for variable in atoll_sandbox::AGENT_VARIABLES {
        command.env_remove(variable);
    }
    entry.apply(command.as_std_mut());
    let profile = root.join(PROFILE);
    if profile.is_file() {
        command.env("BASH_ENV", std::path::absolute(&profile).unwrap_or(profile));
    }
    let mut child = command.spawn().map_err(|source| SpawnError::Bash { sandbox: root.to_owned(), source })?;
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

/// `PATH` for processes when the executor has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The user the task's processes run as, and their home.
struct Identity {
    name: String,
    home: String,
}

impl Identity {
    /// The executor's own user: processes run as the user the agent runs as.
    fn current() -> Identity {
        match nix::unistd::User::from_uid(nix::unistd::getuid()) {
            Ok(Some(user)) => Identity { name: user.name, home: user.dir.display().to_string() },
            _ => Identity {
                name: std::env::var("USER").unwrap_or_else(|_| "nobody".to_owned()),
                home: std::env::var("HOME").unwrap_or_else(|_| "/".to_owned()),
            },
        }
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

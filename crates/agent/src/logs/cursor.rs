//! What a log request means in a sandbox, and a cursor that reads it chunk by chunk.
//!
//! The process defaults to the task's first (from the launch file), the run to the newest
//! under `.logs/<process>/`. Without `follow` the cursor reads up to the end the log had at the
//! first read. With it, the cursor waits for new output, moves on to each newer run of the
//! process once the run it reads is over (unless the request named a run), and ends when the
//! task has ended (its status is terminal, or its executor is gone) and everything is read.
//! The task's state is looked at before each read, and the executor drains a run's output
//! before it records the run's end, so no output written before the end is missed.

use std::time::Duration;

use atoll_sandbox::Sandbox;
use atoll_sandbox::logs::{LogFileError, LogFiles, Stream};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use super::{CHUNK_SIZE, LogError};

/// How often a following cursor looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Where a read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The oldest byte still kept.
    Beginning,
    /// This logical offset.
    Offset(u64),
    /// The start of the last this many lines.
    TailLines(u32),
}

/// Which log to read, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRequest {
    /// `None`: the task's first process.
    pub process: Option<String>,
    /// `None`: the newest run.
    pub run: Option<u32>,
    pub stream: Stream,
    pub start: Start,
    pub follow: bool,
}

/// Bytes of one run's stream and where they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub process: String,
    pub run: u32,
    /// The logical offset of the first byte of `data`.
    pub offset: u64,
    pub data: Vec<u8>,
    /// The end of the log when the chunk was read.
    pub end: u64,
}

/// Reads one process's stream of a task, chunk by chunk.
#[derive(Debug)]
pub struct LogCursor {
    sandbox: Sandbox,
    process: String,
    stream: Stream,
    follow: bool,
    /// The run being read; `None` while a followed process has not started.
    run: Option<u32>,
    /// The request named the run, so the cursor stays on it.
    pinned: bool,
    /// Where the next read in the current run starts.
    next: Start,
    /// Without follow: the end of the log at the first read, where reading stops.
    stop_at: Option<u64>,
}

impl LogCursor {
    /// Checks the request against the task in `sandbox`: the process must be one of the
    /// task's, and, unless following a process that has not started, the run must exist and
    /// keep a file for the stream.
    pub fn open(sandbox: Sandbox, request: LogRequest) -> Result<LogCursor, LogError> {
        let task = sandbox.root().file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let launch_file = sandbox.launch_file();
        if !launch_file.try_exists().map_err(LogFileError::io("look for", &launch_file))? {
            return Err(LogError::NoSuchTask { task });
        }
        let file = sandbox.read_launch()?;
        let names: Vec<&str> = file.launch.config.task.processes.iter().map(|p| p.name.as_str()).collect();
        let process = request.process.or_else(|| names.first().map(|name| (*name).to_owned())).unwrap_or_default();
        if !names.contains(&process.as_str()) {
            return Err(LogError::NoSuchProcess { task, process, known: names.join(", ") });
        }
        let run = match (request.run, newest_run(&sandbox, &process)?) {
            (Some(run), Some(newest)) if run > newest => return Err(LogError::NoSuchRun { process, run, newest }),
            (Some(run), Some(_)) => Some(run),
            (None, Some(newest)) => Some(newest),
            (None, None) if request.follow => None,
            (_, None) => return Err(LogError::NotStarted { process }),
        };
        if let Some(run) = run {
            let dir = sandbox.process_log_dir(&process, run);
            if LogFiles::new(&dir, request.stream).snapshot()?.is_none() {
                return Err(LogError::NoLogFile { process, run, stream: request.stream });
            }
        }
        Ok(LogCursor {
            sandbox,
            process,
            stream: request.stream,
            follow: request.follow,
            run,
            pinned: request.run.is_some(),
            next: request.start,
            stop_at: None,
        })
    }

    /// The next chunk; `None` once the log is over. Following, it waits for output.
    pub async fn next(&mut self) -> Result<Option<Chunk>, LogError> {
        loop {
            // Looked at before reading: output written before what these show is complete.
            let ended = self.follow && self.task_ended()?;
            let newest = if self.follow { newest_run(&self.sandbox, &self.process)? } else { None };
            if self.run.is_none() {
                // The process has started since the cursor opened: read from its first run.
                self.run = newest.map(|_| 0);
            }
            if let Some(run) = self.run
                && let Some(chunk) = self.read(run)?
            {
                return Ok(Some(chunk));
            }
            if !self.follow || ended {
                return Ok(None);
            }
            match (self.run, newest) {
                (Some(run), Some(newest)) if !self.pinned && newest > run => {
                    self.run = Some(run + 1);
                    self.next = Start::Beginning;
                }
                _ => tokio::time::sleep(FOLLOW_POLL).await,
            }
        }
    }

    /// Reads on from where the cursor is in `run`; `None` when there is nothing new.
    fn read(&mut self, run: u32) -> Result<Option<Chunk>, LogError> {
        let dir = self.sandbox.process_log_dir(&self.process, run);
        let Some(snapshot) = LogFiles::new(&dir, self.stream).snapshot()? else { return Ok(None) };
        let offset = match self.next {
            Start::Beginning => snapshot.start(),
            Start::Offset(offset) => offset,
            Start::TailLines(lines) => snapshot.tail_start(lines)?,
        };
        let mut max = CHUNK_SIZE;
        if !self.follow {
            let stop_at = *self.stop_at.get_or_insert(snapshot.end());
            max = max.min(usize::try_from(stop_at.saturating_sub(offset)).unwrap_or(usize::MAX));
        }
        let (offset, data) = snapshot.read(offset, max)?;
        self.next = Start::Offset(offset + data.len() as u64);
        Ok((!data.is_empty()).then(|| Chunk { process: self.process.clone(), run, offset, data, end: snapshot.end() }))
    }

    /// Whether the task is over: its status is terminal, or its executor is gone.
    fn task_ended(&self) -> Result<bool, LogError> {
        Ok(self
            .sandbox
            .read_status()?
            .is_some_and(|status| status.state.is_terminal() || !process_alive(status.executor_pid)))
    }
}

/// The newest run of `process` that has a log directory.
fn newest_run(sandbox: &Sandbox, process: &str) -> Result<Option<u32>, LogError> {
    let Some(dir) = sandbox.process_log_dir(process, 0).parent().map(ToOwned::to_owned) else { return Ok(None) };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(LogFileError::io("list", &dir)(error).into()),
    };
    let mut newest = None;
    for entry in entries {
        let entry = entry.map_err(LogFileError::io("list", &dir))?;
        if let Some(run) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) {
            newest = newest.max(Some(run));
        }
    }
    Ok(newest)
}

/// Whether process `pid` exists; a pid that cannot name one process counts as alive.
fn process_alive(pid: u32) -> bool {
    match i32::try_from(pid) {
        Ok(pid) if pid > 1 => kill(Pid::from_raw(pid), None) != Err(Errno::ESRCH),
        _ => true,
    }
}

#[cfg(test)]
mod tests;

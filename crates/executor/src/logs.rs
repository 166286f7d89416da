//! The executor's side of logging: what a run's stdout and stderr are connected to, by its
//! process's `Logger`, and the pumps that copy piped output where it must go. The layout it
//! writes, and that the agent reads back, is the sandbox's (`atoll_sandbox::logs`).
//!
//! | destination | standard                         | rotate                                  |
//! |-------------|----------------------------------|-----------------------------------------|
//! | file        | the log file itself (no copying) | a pipe, pumped into a [`RotatingLog`]   |
//! | console     | the executor's own stream        | the same                                |
//! | both        | a pipe, pumped to file and console | a pipe, pumped to a `RotatingLog` and the console |
//! | none        | `/dev/null`                      | the same                                |
//!
//! A pump owns one buffer of [`PUMP_BUFFER`] bytes and writes each read whole, so the executor's
//! memory stays small and bounded whatever the task prints. A file that cannot be written is
//! reported once and dropped; the pump keeps draining the pipe so the process never blocks.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use atoll_model::config::{LogDestination, LogMode, Logger};
use atoll_sandbox::TaskUser;
use atoll_sandbox::logs::{LogFileError, Stream, open_log_file};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use self::rotate::RotatingLog;

mod rotate;

/// The most bytes one pump buffer holds.
const PUMP_BUFFER: usize = 64 * 1024;

/// How one stream of a run is set up: the child's end, and what a pump must feed if it is a pipe.
#[derive(Debug)]
pub struct OutputPlan {
    stdio: Stdio,
    sink: Option<Sink>,
}

/// Where piped output goes.
#[derive(Debug)]
pub struct Sink {
    stream: Stream,
    file: Option<FileSink>,
    console: bool,
}

#[derive(Debug)]
enum FileSink {
    Plain { path: PathBuf, file: File },
    Rotating(RotatingLog),
}

impl OutputPlan {
    /// Creates what `logger` needs for `stream` of the run logging to `dir`.
    /// Its files are `owner`'s, when given (the task's user).
    pub fn prepare(
        dir: &Path,
        stream: Stream,
        logger: &Logger,
        owner: Option<&TaskUser>,
    ) -> Result<OutputPlan, LogFileError> {
        let path = dir.join(stream.file_name());
        let open_append = |path: &Path| open_log_file(path, false, owner);
        let file_sink = || -> Result<FileSink, LogFileError> {
            Ok(match logger.mode {
                LogMode::Standard => FileSink::Plain { file: open_append(&path)?, path: path.clone() },
                LogMode::Rotate => FileSink::Rotating(RotatingLog::create(dir, stream, &logger.rotate, owner)?),
            })
        };
        let piped = |file: Option<FileSink>, console: bool| OutputPlan {
            stdio: Stdio::piped(),
            sink: Some(Sink { stream, file, console }),
        };
        Ok(match (logger.destination, logger.mode) {
            (LogDestination::File, LogMode::Standard) => OutputPlan { stdio: open_append(&path)?.into(), sink: None },
            (LogDestination::File, LogMode::Rotate) => piped(Some(file_sink()?), false),
            (LogDestination::Both, _) => piped(Some(file_sink()?), true),
            (LogDestination::Console, _) => OutputPlan { stdio: Stdio::inherit(), sink: None },
            (LogDestination::None, _) => OutputPlan { stdio: Stdio::null(), sink: None },
        })
    }

    /// The child's end of the stream, and the sink a pump must feed when that end is a pipe.
    pub fn into_parts(self) -> (Stdio, Option<Sink>) {
        (self.stdio, self.sink)
    }
}

impl Sink {
    fn write(&mut self, data: &[u8]) {
        if let Some(file) = &mut self.file {
            let written = match file {
                FileSink::Plain { path, file } => {
                    file.write_all(data).map_err(LogFileError::io("write", path.as_path()))
                }
                FileSink::Rotating(log) => log.write(data),
            };
            if let Err(error) = written {
                tracing::warn!("{error}; the rest of this run's {} is not kept", self.stream.file_name());
                self.file = None;
            }
        }
        if self.console && self.write_console(data).is_err() {
            self.console = false;
        }
    }

    fn write_console(&self, data: &[u8]) -> io::Result<()> {
        match self.stream {
            Stream::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(data).and_then(|()| out.flush())
            }
            Stream::Stderr => io::stderr().lock().write_all(data),
        }
    }
}

/// Copies `source` into `sink` until the source ends.
pub fn spawn_pump(mut source: impl AsyncRead + Unpin + Send + 'static, mut sink: Sink) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buffer = vec![0; PUMP_BUFFER];
        loop {
            match source.read(&mut buffer).await {
                Ok(0) => return,
                Ok(n) => sink.write(&buffer[..n]),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    tracing::warn!("could not read a process's {}: {error}", sink.stream.file_name());
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use atoll_model::config::RotatePolicy;
    use atoll_sandbox::logs::LogFiles;

    use super::*;

    fn logger(destination: LogDestination, mode: LogMode) -> Logger {
        Logger { destination, mode, rotate: RotatePolicy { log_size: 16, backups: 50 } }
    }

    #[test]
    fn each_destination_gets_its_stdio() {
        let dir = tempfile::tempdir().expect("temp dir");
        let prepare = |destination, mode| {
            OutputPlan::prepare(dir.path(), Stream::Stdout, &logger(destination, mode), None).expect("prepare")
        };
        assert!(prepare(LogDestination::File, LogMode::Standard).sink.is_none(), "standard files are not copied");
        assert!(dir.path().join("stdout").exists());
        assert!(prepare(LogDestination::Console, LogMode::Rotate).sink.is_none());
        assert!(prepare(LogDestination::None, LogMode::Standard).sink.is_none());
        let both = prepare(LogDestination::Both, LogMode::Standard).sink.expect("both is piped");
        assert!(both.console && matches!(both.file, Some(FileSink::Plain { .. })));
        let rotating = prepare(LogDestination::File, LogMode::Rotate).sink.expect("rotate is piped");
        assert!(!rotating.console && matches!(rotating.file, Some(FileSink::Rotating(_))));
        assert!(dir.path().join("stdout.offsets").exists());
    }

    #[tokio::test]
    async fn a_pump_copies_everything_into_the_rotating_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan =
            OutputPlan::prepare(dir.path(), Stream::Stderr, &logger(LogDestination::File, LogMode::Rotate), None)
                .expect("prepare");
        let (_, sink) = plan.into_parts();
        let text: String = (0..500).map(|n| format!("line {n}\n")).collect();
        let source = std::io::Cursor::new(text.clone().into_bytes());
        spawn_pump(source, sink.expect("piped")).await.expect("pump ends");
        let snapshot = LogFiles::new(dir.path(), Stream::Stderr).snapshot().expect("snapshot").expect("a log");
        assert_eq!(snapshot.end(), text.len() as u64);
        assert!(fs::metadata(dir.path().join("stderr")).expect("current file").len() <= 16);
        assert!(dir.path().join("stderr.50").exists(), "rotated many times, keeping 50 backups");
    }
}

//! A task's logs, streamed from the agent that ran it through the scheduler's log service.

use atoll_model::JobKey;
use atoll_proto::v1::{self, log_service_client::LogServiceClient};

use crate::{ClientError, SchedulerClient};

/// Which output of a task's process to read, and how much.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRequest {
    pub job: JobKey,
    pub instance: u32,
    /// The process; the task's first by default.
    pub process: Option<String>,
    /// Stderr rather than stdout.
    pub stderr: bool,
    /// Start with the last this many lines rather than the whole log.
    pub tail_lines: Option<u32>,
    /// Keep reading until the task ends.
    pub follow: bool,
}

/// The log as it arrives, in chunks.
pub struct LogChunks {
    address: String,
    stream: tonic::Streaming<v1::LogChunk>,
}

impl LogChunks {
    /// The next chunk, or `None` once the log (or, following, the task) has ended.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        match self.stream.message().await {
            Ok(chunk) => Ok(chunk.map(|c| c.data)),
            Err(status) => Err(ClientError::from_status(&self.address, &status)),
        }
    }
}

impl SchedulerClient {
    /// Starts reading the log `request` names.
    pub async fn task_logs(&self, request: &LogRequest) -> Result<LogChunks, ClientError> {
        let wire = v1::TaskLogsRequest {
            job: Some((&request.job).into()),
            instance: request.instance,
            process: request.process.clone().unwrap_or_default(),
            stream: if request.stderr { v1::LogStream::Stderr } else { v1::LogStream::Stdout } as i32,
            start: request.tail_lines.map(|lines| v1::LogStart { from: Some(v1::log_start::From::TailLines(lines)) }),
            follow: request.follow,
        };
        // Logs of a followed task come for as long as it runs: a connection without the
        // deadline every other call has.
        let channel = crate::connect_channel(&self.address, None, &self.credentials).await?;
        let mut logs = LogServiceClient::new(channel);
        let stream = logs.task_logs(wire).await.map_err(|s| self.api_error(s))?.into_inner();
        Ok(LogChunks { address: self.address.clone(), stream })
    }
}

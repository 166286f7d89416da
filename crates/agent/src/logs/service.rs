//! `atoll.v1.AgentLogService`: the agent serves its tasks' logs to the scheduler, which proxies
//! them to clients. The agent listens on a port of its own, chosen by the system, and reports
//! the address when it registers; it listens on loopback when its scheduler is on loopback, on
//! every interface otherwise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use atoll_proto::TlsIdentity;
use atoll_proto::v1::{
    self, agent_log_service_server::AgentLogService, agent_log_service_server::AgentLogServiceServer,
};
use atoll_sandbox::Sandbox;
use atoll_sandbox::logs::Stream;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::Stream as AsyncStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::{Chunk, LogCursor, LogError, LogRequest, Start};

/// A fresh secret for the log service: 32 random bytes from the kernel, in hex.
pub fn fresh_secret() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0_u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Lets in only calls that carry the log service's secret.
#[derive(Clone)]
struct Secret(std::sync::Arc<str>);

impl tonic::service::Interceptor for Secret {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let given = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        match given.and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) if token == &*self.0 => Ok(request),
            _ => Err(Status::unauthenticated(
                "the agent serves logs to its scheduler only; read them with `atoll task logs`",
            )),
        }
    }
}

/// The running log server; it stops when dropped.
pub struct LogServer {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl LogServer {
    /// Serves the logs of the sandboxes under `sandboxes` on a free port of `ip`, to callers
    /// that carry `secret` as their bearer token; over TLS with `tls`.
    pub async fn start(
        sandboxes: &Path,
        ip: IpAddr,
        secret: &str,
        tls: Option<&TlsIdentity>,
    ) -> std::io::Result<LogServer> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let address = listener.local_addr()?;
        let service = AgentLogServiceServer::with_interceptor(
            AgentLogs { sandboxes: sandboxes.to_owned() },
            Secret(secret.into()),
        );
        let mut builder = tonic::transport::Server::builder();
        if let Some(identity) = tls {
            builder = builder
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity.identity()))
                .map_err(std::io::Error::other)?;
        }
        let task = tokio::spawn(async move {
            let served = builder
                .add_service(service)
                // Nagle's algorithm off, so each chunk goes out as it is written.
                .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
                .await;
            if let Err(error) = served {
                tracing::error!("the log server stopped: {error}");
            }
        });
        Ok(LogServer { address, task })
    }

    /// The address the server listens on, as agents report it when they register.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for LogServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where an agent whose scheduler is at `scheduler` (`http://HOST:PORT`) serves logs: loopback
/// for a scheduler on loopback, every interface otherwise.
pub fn listen_ip(scheduler: &str) -> IpAddr {
    let host = scheduler.parse::<tonic::codegen::http::Uri>().ok().and_then(|uri| uri.host().map(str::to_owned));
    let host = host.as_deref().map(|h| h.trim_start_matches('[').trim_end_matches(']'));
    match host {
        Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(host) => match host.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => ip,
            Ok(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        },
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

struct AgentLogs {
    sandboxes: PathBuf,
}

type ChunkStream = Pin<Box<dyn AsyncStream<Item = Result<v1::LogChunk, Status>> + Send>>;

/// How many chunks wait for a slow reader before the cursor pauses.
const CHUNKS_IN_FLIGHT: usize = 4;

#[tonic::async_trait]
impl AgentLogService for AgentLogs {
    type ReadLogsStream = ChunkStream;

    async fn read_logs(&self, request: Request<v1::ReadLogsRequest>) -> Result<Response<ChunkStream>, Status> {
        let request = request.into_inner();
        let task_id = request.task_id.clone();
        if task_id.is_empty() || task_id.starts_with('.') || task_id.contains('/') {
            return Err(Status::invalid_argument(format!("invalid task id '{task_id}'")));
        }
        let log_request = from_wire(request)?;
        let mut cursor = LogCursor::open(Sandbox::new(self.sandboxes.join(&task_id)), log_request).map_err(status)?;
        let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = cursor.next() => next,
                    // The reader went away: stop following.
                    () = sender.closed() => return,
                };
                let item = match next {
                    Ok(Some(chunk)) => Ok(to_wire(&task_id, chunk)),
                    Ok(None) => return,
                    Err(error) => Err(status(error)),
                };
                let failed = item.is_err();
                if sender.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

fn from_wire(request: v1::ReadLogsRequest) -> Result<LogRequest, Status> {
    let stream = match v1::LogStream::try_from(request.stream) {
        Ok(v1::LogStream::Stdout) => Stream::Stdout,
        Ok(v1::LogStream::Stderr) => Stream::Stderr,
        Err(_) => return Err(Status::invalid_argument(format!("invalid log stream {}", request.stream))),
    };
    let start = match request.start.and_then(|start| start.from) {
        None => Start::Beginning,
        Some(v1::log_start::From::Offset(offset)) => Start::Offset(offset),
        Some(v1::log_start::From::TailLines(lines)) => Start::TailLines(lines),
    };
    Ok(LogRequest {
        process: (!request.process.is_empty()).then_some(request.process),
        run: request.run,
        stream,
        start,
        follow: request.follow,
    })
}

fn to_wire(task_id: &str, chunk: Chunk) -> v1::LogChunk {
    v1::LogChunk {
        task_id: task_id.to_owned(),
        process: chunk.process,
        run: chunk.run,
        offset: chunk.offset,
        data: chunk.data,
        end_offset: chunk.end,
    }
}

fn status(error: LogError) -> Status {
    match error {
        LogError::NoSuchTask { .. }
        | LogError::NoSuchProcess { .. }
        | LogError::NotStarted { .. }
        | LogError::NoSuchRun { .. }
        | LogError::NoLogFile { .. } => Status::not_found(error.to_string()),
        LogError::Files(_) | LogError::Sandbox(_) => Status::internal(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_server_listens_on_loopback_only_for_a_scheduler_on_loopback() {
        assert_eq!(listen_ip("http://127.0.0.1:7070"), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(listen_ip("http://localhost:7070"), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(listen_ip("http://[::1]:7070"), IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(listen_ip("http://scheduler.example:7070"), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(listen_ip("http://10.0.0.5:7070"), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn requests_come_off_the_wire_with_their_defaults() {
        let request = v1::ReadLogsRequest {
            task_id: "t".into(),
            stream: v1::LogStream::Stderr as i32,
            start: Some(v1::LogStart { from: Some(v1::log_start::From::TailLines(5)) }),
            follow: true,
            ..Default::default()
        };
        let expected =
            LogRequest { process: None, run: None, stream: Stream::Stderr, start: Start::TailLines(5), follow: true };
        assert_eq!(from_wire(request).expect("valid"), expected);
        let bad = v1::ReadLogsRequest { stream: 7, ..Default::default() };
        assert_eq!(from_wire(bad).expect_err("bad stream").message(), "invalid log stream 7");
    }

    #[tokio::test]
    async fn an_unknown_task_is_not_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let logs = AgentLogs { sandboxes: dir.path().to_owned() };
        let request = v1::ReadLogsRequest { task_id: "no-such-task".into(), ..Default::default() };
        let error = logs.read_logs(Request::new(request)).await.err().expect("refused");
        assert_eq!(
            (error.code(), error.message()),
            (
                tonic::Code::NotFound,
                "no task no-such-task on this agent: it never ran here, or it ended and its sandbox was removed (the agent keeps finished sandboxes for --sandbox-retention-secs, at most --sandboxes-kept of them)"
            )
        );
        let escape = v1::ReadLogsRequest { task_id: "../x".into(), ..Default::default() };
        let error = logs.read_logs(Request::new(escape)).await.err().expect("refused");
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
    }

    #[tokio::test]
    async fn the_log_service_answers_only_calls_that_carry_its_secret() {
        use atoll_proto::v1::agent_log_service_client::AgentLogServiceClient;
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = fresh_secret().expect("a secret");
        assert_eq!(secret.len(), 64);
        assert_ne!(secret, fresh_secret().expect("another"), "each agent start makes its own");
        let server = LogServer::start(dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST), &secret, None).await.expect("serve");
        let url = format!("http://{}", server.address());
        let request = || v1::ReadLogsRequest { task_id: "no-such-task".into(), ..Default::default() };
        for token in [None, Some("guess")] {
            let channel = tonic::transport::Endpoint::from_shared(url.clone()).unwrap().connect().await.unwrap();
            let mut client = AgentLogServiceClient::new(atoll_proto::Bearer::new(token).unwrap().wrap(channel));
            let refused = client.read_logs(request()).await.expect_err("refused");
            assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{token:?}");
            assert!(refused.message().contains("read them with `atoll task logs`"), "{}", refused.message());
        }
        let channel = tonic::transport::Endpoint::from_shared(url).unwrap().connect().await.unwrap();
        let mut client = AgentLogServiceClient::new(atoll_proto::Bearer::new(Some(&secret)).unwrap().wrap(channel));
        let answered = client.read_logs(request()).await.expect_err("no such task");
        assert_eq!(answered.code(), tonic::Code::NotFound, "let in, and answered");
    }
}

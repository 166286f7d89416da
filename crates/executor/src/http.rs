//! The executor's HTTP client, for its own use only: health checks and lifecycle requests to the
//! task's ports on this host. hyper's HTTP/1 client does the protocol (Content-Length,
//! chunked and close-delimited bodies); this module keeps it small: loopback only, one
//! HTTP/1.0 request per connection, a bounded body, and one timeout over the whole exchange.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HOST, USER_AGENT};
use hyper::{Request, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The most of a response body the executor reads; the rest is left unread.
const MAX_RESPONSE: usize = 64 * 1024;

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Sends `METHOD path` to `127.0.0.1:port` and reads the answer, all within `timeout`. The
/// error says what went wrong, completing "… failed: ".
pub async fn request(method: &str, port: u16, path: &str, timeout: Duration) -> Result<Response, String> {
    tokio::time::timeout(timeout, exchange(method, port, path))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {:.1} s", timeout.as_secs_f64())))
}

async fn exchange(method: &str, port: u16, path: &str) -> Result<Response, String> {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .version(Version::HTTP_10)
        .header(HOST, format!("127.0.0.1:{port}"))
        .header(USER_AGENT, "atoll-executor")
        .header(CONTENT_LENGTH, 0)
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("not a request: {e}"))?;
    let stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| format!("connect to port {port}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("send: {e}"))?;
    // The connection runs beside the exchange and ends with it, when the exchange is done or
    // its timeout drops it.
    let _connection = Connection(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| if e.is_parse() { format!("not an HTTP response ({e})") } else { format!("send: {e}") })?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut read = Vec::new();
    while read.len() < MAX_RESPONSE {
        let Some(frame) = body.frame().await else { break };
        let frame = frame.map_err(|e| format!("read: {e}"))?;
        if let Ok(data) = frame.into_data() {
            read.extend_from_slice(&data[..data.len().min(MAX_RESPONSE - read.len())]);
        }
    }
    Ok(Response { status, body: String::from_utf8_lossy(&read).into_owned() })
}

/// The task driving one connection, stopped when dropped.
struct Connection(JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A loopback server that answers one request with `answer` and closes; yields the
    /// request's first line.
    async fn answering(answer: &'static [u8]) -> (u16, JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 1024];
            let n = socket.read(&mut request).await.unwrap();
            let first = String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or_default().to_owned();
            socket.write_all(answer).await.unwrap();
            first
        });
        (port, server)
    }

    async fn answer_to_get(answer: &'static [u8]) -> Result<Response, String> {
        let (port, _server) = answering(answer).await;
        request("GET", port, "/health", Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn parses_status_and_body() {
        let response = answer_to_get(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n").await.unwrap();
        assert_eq!(response, Response { status: 200, body: "ok\n".into() });
        assert_eq!(answer_to_get(b"HTTP/1.1 503 Unavailable\r\n\r\n").await.unwrap().status, 503);
        assert!(answer_to_get(b"SSH-2.0-OpenSSH\r\n").await.unwrap_err().contains("not an HTTP response"));
    }

    #[tokio::test]
    async fn reads_bodies_by_their_length_or_in_chunks() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokTRAILING";
        assert_eq!(answer_to_get(sized).await.unwrap().body, "ok", "no more than Content-Length is read");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1\r\n!\r\n0\r\n\r\n";
        assert_eq!(answer_to_get(chunked).await.unwrap().body, "ok!");
    }

    #[tokio::test]
    async fn talks_to_a_real_listener_and_times_out_on_a_silent_one() {
        let (port, server) = answering(b"HTTP/1.0 200 OK\r\n\r\nOK").await;
        let response = request("POST", port, "/quitquitquit", Duration::from_secs(5)).await.unwrap();
        assert_eq!(response, Response { status: 200, body: "OK".into() });
        assert_eq!(server.await.unwrap(), "POST /quitquitquit HTTP/1.0");

        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let err = request("GET", port, "/health", Duration::from_millis(100)).await.unwrap_err();
        assert!(err.contains("no answer within 0.1 s"), "{err}");
        drop(silent);
    }
}

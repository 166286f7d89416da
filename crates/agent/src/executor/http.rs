//! A minimal HTTP/1.0 client for the executor's own use: health checks and lifecycle requests
//! to the task's ports on this host. One request per connection, a bounded response, a timeout.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of a response body the executor reads.
const MAX_RESPONSE: u64 = 64 * 1024;

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Sends `METHOD path` to `127.0.0.1:port` and reads the answer, all within `timeout`. The
/// error says what went wrong, completing "… failed: ".
pub async fn request(method: &str, port: u16, path: &str, timeout: Duration) -> Result<Response, String> {
    let exchange = async {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| format!("connect to port {port}: {e}"))?;
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: atoll-executor\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.map_err(|e| format!("send: {e}"))?;
        let mut raw = Vec::new();
        stream.take(MAX_RESPONSE).read_to_end(&mut raw).await.map_err(|e| format!("read: {e}"))?;
        parse(&raw)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {:.1} s", timeout.as_secs_f64())))
}

fn parse(raw: &[u8]) -> Result<Response, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").or_else(|| text.split_once("\n\n")).unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| format!("not an HTTP response: {:?}", status_line.chars().take(60).collect::<String>()))?;
    Ok(Response { status, body: body.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let response = parse(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n").unwrap();
        assert_eq!(response, Response { status: 200, body: "ok\n".into() });
        assert_eq!(parse(b"HTTP/1.1 503 Unavailable\r\n\r\n").unwrap().status, 503);
        assert!(parse(b"SSH-2.0-OpenSSH").unwrap_err().contains("not an HTTP response"));
    }

    #[tokio::test]
    async fn talks_to_a_real_listener_and_times_out_on_a_silent_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 1024];
            let n = socket.read(&mut request).await.unwrap();
            let first = String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or_default().to_owned();
            socket.write_all(b"HTTP/1.0 200 OK\r\n\r\nOK").await.unwrap();
            first
        });
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

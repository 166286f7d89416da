//! Webhooks, as Aurora's (`atoll scheduler --webhook-config FILE`): every task state change is
//! POSTed as JSON to one target, in the order the scheduler made them.
//!
//! The file is Aurora's JSON: `targetURL` (an `http://` URL), `headers` (sent with each POST),
//! `timeoutMsec` (for each attempt) and `statuses` (the task states to send; absent or `["*"]`:
//! every state). The body is `{"task": {…}, "oldState": "…"}`: the task's id, job, instance,
//! host, message and new state, and the state it left.
//!
//! Delivery is a consumer of the event stream with a cursor of its own: it reads the journal in
//! order, one POST at a time, retrying a failed one (an error, a timeout or an answer other than
//! 2xx) after 100 ms doubling to 5 s, at most [`ATTEMPTS`] times, then dropping it (logged and
//! counted). The scheduler never waits for it: the journal is the queue, bounded by
//! `atoll_state::EVENTS_KEPT`; a receiver that falls further behind skips to the oldest event
//! kept, and the ones skipped are counted as dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use atoll_model::TaskState;
use atoll_model::event::{ClusterEvent, EventDetail, EventFilter};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpStream;

use crate::core::ControlPlane;

/// Attempts at each delivery before it is dropped.
pub const ATTEMPTS: u32 = 5;
/// The first wait between attempts, doubled each time up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Where and how task state changes are sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    target: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    /// The states sent; `None`: every state.
    statuses: Option<BTreeSet<TaskState>>,
}

/// Aurora's webhook file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WebhookFile {
    #[serde(rename = "targetURL")]
    target_url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout_msec: u64,
    #[serde(default)]
    statuses: Option<Vec<String>>,
}

impl WebhookConfig {
    /// Reads the webhook file at `path`; the error names the file and what is wrong.
    pub fn from_file(path: &Path) -> Result<WebhookConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the webhook file {}: {e}", path.display()))?;
        WebhookConfig::parse(&text).map_err(|e| format!("the webhook file {} is not valid: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<WebhookConfig, String> {
        let file: WebhookFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let target: Uri = file.target_url.parse().map_err(|e| format!("targetURL '{}': {e}", file.target_url))?;
        match target.scheme_str() {
            Some("http") if target.host().is_some() => {}
            Some("https") => {
                return Err(format!(
                    "targetURL '{}': https:// webhooks are not supported yet; use an http:// receiver (a local relay, say)",
                    file.target_url
                ));
            }
            _ => return Err(format!("targetURL '{}' is not an http://HOST[:PORT]/PATH URL", file.target_url)),
        }
        if file.timeout_msec == 0 {
            return Err("timeoutMsec must be at least 1".to_owned());
        }
        let headers = file
            .headers
            .iter()
            .map(|(name, value)| {
                let header =
                    name.parse::<HeaderName>().map_err(|_| format!("headers: '{name}' is not a header name"))?;
                if [HOST, CONTENT_LENGTH, CONNECTION, hyper::header::TRANSFER_ENCODING].contains(&header) {
                    return Err(format!("headers: {name} is set by the scheduler for each POST; remove it"));
                }
                let value =
                    value.parse::<HeaderValue>().map_err(|_| format!("headers: the value of {name} cannot be sent"))?;
                Ok((header, value))
            })
            .collect::<Result<_, String>>()?;
        let statuses = match file.statuses {
            None => None,
            Some(names) if names.iter().any(|n| n == "*") => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| {
                        TaskState::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
                            format!("statuses: '{name}' is not a task state (PENDING, RUNNING, FAILED, … or *)")
                        })
                    })
                    .collect::<Result<_, String>>()?,
            ),
        };
        Ok(WebhookConfig { target, headers, timeout: Duration::from_millis(file.timeout_msec), statuses })
    }

    /// The body to send for `event`, if it is a task state change this webhook sends.
    fn body(&self, event: &ClusterEvent) -> Option<String> {
        let EventDetail::Task { task, instance, previous, state, message, host } = &event.detail else { return None };
        if self.statuses.as_ref().is_some_and(|wanted| !wanted.contains(state)) {
            return None;
        }
        let body = json!({
            "task": {
                "taskId": task.0,
                "job": event.job.to_string(),
                "instance": instance,
                "status": state.name(),
                "host": host,
                "message": message,
                "timestampMs": event.at_ms,
                "eventIndex": event.index,
            },
            "oldState": previous.name(),
        });
        Some(body.to_string())
    }

    /// POSTs `body` once, within the timeout; the error says why it did not arrive.
    async fn post(&self, body: &str) -> Result<(), String> {
        tokio::time::timeout(self.timeout, self.exchange(body))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} ms", self.timeout.as_millis())))
    }

    async fn exchange(&self, body: &str) -> Result<(), String> {
        // An IPv6 address comes bracketed in a URL, and without its brackets to connect.
        let host = self.target.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let port = self.target.port_u16().unwrap_or(80);
        let path = self.target.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::builder()
            .method("POST")
            .uri(path)
            .header(HOST, self.target.authority().map_or_else(|| format!("{host}:{port}"), |a| a.to_string()))
            .header(CONTENT_LENGTH, body.len())
            .header(CONNECTION, "close");
        if !self.headers.iter().any(|(name, _)| *name == CONTENT_TYPE) {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request =
            request.body(Full::new(Bytes::from(body.to_owned()))).map_err(|e| format!("not a request: {e}"))?;
        let stream = TcpStream::connect((host, port)).await.map_err(|e| format!("connect to {host}:{port}: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("send: {e}"))?;
        let driving = tokio::spawn(async move {
            let _ = connection.await;
        });
        let answered = sender.send_request(request).await.map_err(|e| format!("send: {e}"));
        let result = match answered {
            Ok(response) if response.status().is_success() => {
                // Read the answer out, so the receiver is not cut off mid-reply.
                let _ = response.into_body().collect().await;
                Ok(())
            }
            Ok(response) => Err(format!("answered {}", response.status())),
            Err(error) => Err(error),
        };
        driving.abort();
        result
    }
}

/// Delivers every task state change from now on to the webhook, for as long as the scheduler
/// runs.
pub(crate) async fn deliver(control_plane: ControlPlane, config: WebhookConfig) {
    let metrics = control_plane.metrics().clone();
    let every = EventFilter::cluster(&control_plane.config().state.cluster);
    let (_, mut next, _, mut live) = control_plane.subscribe_events(None, &every);
    tracing::info!(target = %config.target, "delivering task state changes to the webhook");
    loop {
        // Woken by each new event; what to send is read from the journal, in order.
        match live.recv().await {
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
        let pending = control_plane.events_since(next, &every);
        if let Some(first) = pending.first()
            && first.index > next
        {
            let skipped = first.index - next;
            tracing::warn!(skipped, "the webhook fell behind the events kept; skipping to the oldest kept");
            // Events of any kind: those were not all task state changes the webhook sends.
            metrics.webhook_dropped(skipped);
        }
        for event in pending {
            next = event.index + 1;
            if let Some(body) = config.body(&event) {
                send(&config, &body, &metrics).await;
            }
        }
    }
}

/// Sends one body, retrying as the module says.
async fn send(config: &WebhookConfig, body: &str, metrics: &crate::metrics::SchedulerMetrics) {
    let mut wait = RETRY_MIN;
    for attempt in 1..=ATTEMPTS {
        match config.post(body).await {
            Ok(()) => {
                metrics.webhook_delivered();
                return;
            }
            Err(why) if attempt == ATTEMPTS => {
                tracing::warn!(target = %config.target, attempts = ATTEMPTS, "dropping a webhook delivery: {why}");
                metrics.webhook_dropped(1);
            }
            Err(why) => {
                tracing::debug!(target = %config.target, attempt, "webhook delivery failed: {why}; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use atoll_model::TaskId;

    use super::*;

    const AURORA: &str = r#"{
        "headers": {"Content-Type": "application/vnd.kafka.json.v1+json", "Producer-Type": "reliable"},
        "targetURL": "http://localhost:5000/hook",
        "timeoutMsec": 50,
        "statuses": ["LOST", "FAILED"]
    }"#;

    #[test]
    fn aurora_files_are_read_and_bodies_sent_for_the_states_asked() {
        let config = WebhookConfig::parse(AURORA).expect("Aurora's example");
        assert_eq!(config.timeout, Duration::from_millis(50));
        assert_eq!(config.headers.len(), 2);
        let event = |state| ClusterEvent {
            index: 9,
            at_ms: 1000,
            job: "devcluster/www-data/prod/web".parse().unwrap(),
            detail: EventDetail::Task {
                task: TaskId("t-1".into()),
                instance: 3,
                previous: TaskState::Running,
                state,
                message: "Agent lost".into(),
                host: Some("h1".into()),
            },
        };
        assert_eq!(config.body(&event(TaskState::Finished)), None, "FINISHED is not asked for");
        let body: serde_json::Value = serde_json::from_str(&config.body(&event(TaskState::Lost)).unwrap()).unwrap();
        assert_eq!((body["oldState"].as_str(), body["task"]["status"].as_str()), (Some("RUNNING"), Some("LOST")));
        assert_eq!((body["task"]["instance"].as_u64(), body["task"]["eventIndex"].as_u64()), (Some(3), Some(9)));
        let every = WebhookConfig::parse(&AURORA.replace(r#"["LOST", "FAILED"]"#, r#"["*"]"#)).unwrap();
        assert!(every.body(&event(TaskState::Finished)).is_some());
    }

    #[test]
    fn a_broken_webhook_file_says_what_is_wrong() {
        let refused = |text: &str| WebhookConfig::parse(text).unwrap_err();
        assert!(
            refused(&AURORA.replace("http://localhost:5000", "https://k"))
                .contains("https:// webhooks are not supported yet")
        );
        assert!(refused(&AURORA.replace("\"LOST\"", "\"GONE\"")).contains("statuses: 'GONE' is not a task state"));
        assert!(refused(&AURORA.replace("50", "0")).contains("timeoutMsec must be at least 1"));
        assert!(refused(&AURORA.replace("timeoutMsec", "timeout")).contains("unknown field `timeout`"));
        assert!(refused(&AURORA.replace("http://localhost:5000/hook", "localhost")).contains("is not an http://"));
        let header = refused(&AURORA.replace("Producer-Type", "Content-Length"));
        assert_eq!(header, "headers: Content-Length is set by the scheduler for each POST; remove it");
        let missing = WebhookConfig::from_file(Path::new("/nonexistent/hook.json")).unwrap_err();
        assert!(missing.starts_with("cannot read the webhook file /nonexistent/hook.json"), "{missing}");
    }
}

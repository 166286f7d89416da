//! The scheduler's HTTP listener (`atoll scheduler --http ADDR`; `atoll dev` serves it on
//! 127.0.0.1:7080): the web UI (`pages`: the cluster at `/`, a job at `/jobs/CLUSTER/ROLE/ENV/NAME`,
//! an instance below it and its live log, the frameworks at `/frameworks` and one at
//! `/frameworks/ID`, kept live through `/ui/events` and `/ui/logs`), Prometheus metrics at `/metrics`, and
//! Aurora's health checks, `/health` (the process serves) and `/leaderhealth` (it is the
//! scheduler to call: always, while there is one scheduler per cluster).
//!
//! Served from the binary itself, beside gRPC, on a port of its own, over TLS (with the same
//! certificate) when gRPC is. What it serves is read from the control plane; nothing here
//! changes the state. The UI is for the scheduler's users: without `--auth`, callers on its
//! machine; with it, a user's token as the password of HTTP Basic authentication (any name), or
//! as a bearer token. Metrics and health are open, as Aurora's were.

pub mod pages;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use atoll_model::JobKey;
use atoll_model::event::EventFilter;
use atoll_proto::TlsIdentity;
use atoll_proto::v1;
use atoll_server::{Access, ControlPlane};
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{BroadcastStream, ReceiverStream};

/// The routes of the scheduler's HTTP listener.
pub fn scheduler_routes(control_plane: ControlPlane) -> Router {
    let pages = Router::new()
        .route("/", get(cluster_page))
        .route("/jobs/{cluster}/{role}/{env}/{name}", get(job_page))
        .route("/jobs/{cluster}/{role}/{env}/{name}/{instance}", get(instance_page))
        .route("/jobs/{cluster}/{role}/{env}/{name}/{instance}/logs", get(logs_page))
        .route("/roles/{cluster}/{role}", get(role_page))
        .route("/hosts", get(hosts_page))
        .route("/updates", get(updates_page))
        .route("/frameworks", get(frameworks_page))
        .route("/frameworks/{id}", get(framework_page))
        .route("/ui/events", get(page_events))
        .route("/ui/logs/{cluster}/{role}/{env}/{name}/{instance}", get(log_events))
        .route_layer(axum::middleware::from_fn_with_state(control_plane.clone(), signed_in));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "OK\n" }))
        .route("/leaderhealth", get(|| async { "OK\n" }))
        .merge(pages)
        .with_state(control_plane)
}

async fn metrics(State(control_plane): State<ControlPlane>) -> Response {
    atoll_metrics::metrics_response("scheduler", move || control_plane.metrics_text()).await
}

/// Lets through the scheduler's users only: callers on its machine without `--auth`; with it,
/// a caller whose token (the Basic password, or a bearer token) names a user.
async fn signed_in(
    State(control_plane): State<ControlPlane>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let access = &control_plane.config().access;
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(token_of);
    match (access, token) {
        (Access::LoopbackOnly, _) if peer.ip().is_loopback() => next.run(request).await,
        (Access::LoopbackOnly, _) => (
            StatusCode::FORBIDDEN,
            "this scheduler runs without --auth and shows its pages to callers on its own machine only\n",
        )
            .into_response(),
        (Access::Users(_), Some(token)) if access.identify(Some(&token), &[], Some(peer)).is_ok() => {
            next.run(request).await
        }
        (Access::Users(_), _) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, r#"Basic realm="Atoll", charset="UTF-8""#)],
            "sign in with any name and your Atoll token as the password\n",
        )
            .into_response(),
    }
}

/// The token of an `Authorization` header: a bearer token, or the password of Basic.
fn token_of(value: &str) -> Option<String> {
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_owned())
}

#[derive(serde::Deserialize)]
struct PartQuery {
    part: Option<String>,
}

/// A "Not found" page (404) saying `main`.
fn not_found(scope: &str, main: &str) -> Response {
    (StatusCode::NOT_FOUND, Html(pages::page("Not found", scope, main))).into_response()
}

/// `main` as the page (or only its main part, `?part=main`, which pages fetch to redraw).
fn respond(title: &str, scope: &str, main: Option<String>, query: &PartQuery) -> Response {
    match main {
        None => not_found(
            scope,
            "<h1>Not found</h1><p>Nothing here is known to the scheduler; see <a href=\"/\">the cluster</a>.</p>",
        ),
        Some(main) if query.part.as_deref() == Some("main") => Html(main).into_response(),
        Some(main) => Html(pages::page(title, scope, &main)).into_response(),
    }
}

async fn cluster_page(State(control_plane): State<ControlPlane>, Query(query): Query<PartQuery>) -> Response {
    let cluster = control_plane.config().state.cluster.clone();
    let main = control_plane.read(pages::cluster);
    respond(&format!("Cluster {cluster}"), &cluster, Some(main), &query)
}

async fn job_page(
    State(control_plane): State<ControlPlane>,
    Path((cluster, role, env, name)): Path<(String, String, String, String)>,
    Query(query): Query<PartQuery>,
) -> Response {
    let Ok(key) = JobKey::new(&cluster, &role, &env, &name) else {
        return respond("", &cluster, None, &query);
    };
    let now = control_plane.now_ms();
    let main = control_plane.read(|state| pages::job(state, &key, now));
    respond(&format!("Job {key}"), &key.to_string(), main, &query)
}

async fn instance_page(
    State(control_plane): State<ControlPlane>,
    Path((cluster, role, env, name, instance)): Path<(String, String, String, String, u32)>,
    Query(query): Query<PartQuery>,
) -> Response {
    let Ok(key) = JobKey::new(&cluster, &role, &env, &name) else {
        return respond("", &cluster, None, &query);
    };
    let main = control_plane.read(|state| pages::instance(state, &key, instance));
    respond(&format!("{key}/{instance}"), &key.to_string(), main, &query)
}

async fn role_page(
    State(control_plane): State<ControlPlane>,
    Path((cluster, role)): Path<(String, String)>,
    Query(query): Query<PartQuery>,
) -> Response {
    let main = control_plane.read(|state| pages::role(state, &cluster, &role));
    respond(&format!("Role {role}"), &format!("{cluster}/{role}"), Some(main), &query)
}

async fn hosts_page(State(control_plane): State<ControlPlane>, Query(query): Query<PartQuery>) -> Response {
    let cluster = control_plane.config().state.cluster.clone();
    respond("Hosts", &cluster, Some(control_plane.read(pages::hosts)), &query)
}

async fn updates_page(State(control_plane): State<ControlPlane>, Query(query): Query<PartQuery>) -> Response {
    let cluster = control_plane.config().state.cluster.clone();
    respond("Updates", &cluster, Some(control_plane.read(pages::updates)), &query)
}

/// Frameworks change as their tasks do, so their pages redraw at the cluster's events: their
/// tasks', and everyone else's, which change what is allocated and offered.
async fn frameworks_page(State(control_plane): State<ControlPlane>, Query(query): Query<PartQuery>) -> Response {
    let cluster = control_plane.config().state.cluster.clone();
    respond("Frameworks", &cluster, Some(control_plane.read(pages::frameworks)), &query)
}

async fn framework_page(
    State(control_plane): State<ControlPlane>,
    Path(id): Path<String>,
    Query(query): Query<PartQuery>,
) -> Response {
    let cluster = control_plane.config().state.cluster.clone();
    match control_plane.read(|state| pages::framework(state, &id)) {
        Some(main) => respond(&format!("Framework {id}"), &cluster, Some(main), &query),
        None => not_found(&cluster, &pages::unknown_framework(&id)),
    }
}

#[derive(serde::Deserialize)]
struct LogQuery {
    process: Option<String>,
    stream: Option<String>,
    from: Option<String>,
}

impl LogQuery {
    fn view(&self) -> Result<pages::LogView, String> {
        let stderr = match self.stream.as_deref() {
            None | Some("stdout") => false,
            Some("stderr") => true,
            Some(other) => return Err(format!("unknown log stream '{other}': choose stdout or stderr")),
        };
        let from_start = match self.from.as_deref() {
            None | Some("tail") => false,
            Some("start") => true,
            Some(other) => return Err(format!("unknown log start '{other}': choose tail or start")),
        };
        let process = self.process.clone().filter(|p| !p.is_empty());
        Ok(pages::LogView { process, stderr, from_start })
    }
}

async fn logs_page(
    State(control_plane): State<ControlPlane>,
    Path((cluster, role, env, name, instance)): Path<(String, String, String, String, u32)>,
    Query(query): Query<LogQuery>,
) -> Response {
    let no_parts = PartQuery { part: None };
    let Ok(key) = JobKey::new(&cluster, &role, &env, &name) else {
        return respond("", &cluster, None, &no_parts);
    };
    let view = match query.view() {
        Ok(view) => view,
        Err(problem) => return (StatusCode::BAD_REQUEST, format!("{problem}\n")).into_response(),
    };
    match control_plane.read(|state| pages::logs_page(state, &key, instance, &view)) {
        Some(main) => Html(pages::logs_layout(&format!("Logs of {key}/{instance}"), &main)).into_response(),
        None => respond("", &key.to_string(), None, &no_parts),
    }
}

/// How many chunks wait for a slow browser before the agent's read pauses.
const LOG_CHUNKS_IN_FLIGHT: usize = 4;

/// Server-sent events of a log: `chunk` (JSON: process, run, offset, and the bytes as base64),
/// then `end` when the task has ended and all is read, or `failure` with why the log cannot be
/// read (the scheduler's or the agent's words, as `atoll task logs` prints them).
async fn log_events(
    State(control_plane): State<ControlPlane>,
    Path((cluster, role, env, name, instance)): Path<(String, String, String, String, u32)>,
    Query(query): Query<LogQuery>,
) -> Response {
    let key = match JobKey::new(&cluster, &role, &env, &name) {
        Ok(key) => key,
        Err(error) => return (StatusCode::NOT_FOUND, format!("{error}\n")).into_response(),
    };
    let view = match query.view() {
        Ok(view) => view,
        Err(problem) => return (StatusCode::BAD_REQUEST, format!("{problem}\n")).into_response(),
    };
    let start =
        (!view.from_start).then_some(v1::LogStart { from: Some(v1::log_start::From::TailLines(pages::TAIL_LINES)) });
    let request = v1::TaskLogsRequest {
        job: Some((&key).into()),
        instance,
        process: view.process.unwrap_or_default(),
        stream: if view.stderr { v1::LogStream::Stderr } else { v1::LogStream::Stdout } as i32,
        start,
        follow: true,
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(LOG_CHUNKS_IN_FLIGHT);
    tokio::spawn(async move {
        let mut chunks = match control_plane.task_logs(request).await {
            Ok(chunks) => chunks,
            Err(status) => {
                let _ = sender.send(Ok(Event::default().event("failure").data(status.message()))).await;
                return;
            }
        };
        loop {
            let next = tokio::select! {
                next = chunks.next() => next,
                // The page went away: stop following.
                () = sender.closed() => return,
            };
            let (event, last) = match next {
                Some(Ok(chunk)) => (chunk_event(&chunk), false),
                Some(Err(status)) => (Event::default().event("failure").data(status.message()), true),
                None => (Event::default().event("end").data("The task has ended; this is all of its log."), true),
            };
            if sender.send(Ok(event)).await.is_err() || last {
                return;
            }
        }
    });
    Sse::new(ReceiverStream::new(receiver)).keep_alive(KeepAlive::default()).into_response()
}

fn chunk_event(chunk: &v1::LogChunk) -> Event {
    let data = serde_json::json!({
        "process": chunk.process,
        "run": chunk.run,
        "offset": chunk.offset,
        "data": base64::engine::general_purpose::STANDARD.encode(&chunk.data),
    });
    Event::default().event("chunk").data(data.to_string())
}

#[derive(serde::Deserialize)]
struct ScopeQuery {
    scope: String,
}

/// Server-sent events for a page: one message (the event's index) per event of its scope, and
/// one when the page may have missed some, so it redraws.
async fn page_events(State(control_plane): State<ControlPlane>, Query(query): Query<ScopeQuery>) -> Response {
    let filter = match EventFilter::scope(&query.scope) {
        Ok(filter) => filter,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("scope {}: {error}\n", query.scope)).into_response(),
    };
    let stream = BroadcastStream::new(control_plane.live_events()).filter_map(move |received| match received {
        Ok(event) if filter.matches(&event) => {
            Some(Ok::<_, Infallible>(Event::default().data(event.index.to_string())))
        }
        Ok(_) => None,
        Err(_lagged) => Some(Ok(Event::default().data("lagged"))),
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// Serves `routes` on `listener` until `shutdown` resolves: over TLS with the scheduler's own
/// certificate when it serves gRPC over TLS, plain HTTP otherwise.
pub async fn serve(
    listener: TcpListener,
    routes: Router,
    tls: Option<&TlsIdentity>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let certificate =
        tls.map(|tls| atoll_metrics::ServerCertificate { cert_pem: &tls.cert_pem, key_pem: &tls.key_pem });
    atoll_metrics::serve(listener, routes, certificate, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_comes_as_a_bearer_or_as_the_basic_password() {
        assert_eq!(token_of("Bearer s3cret").as_deref(), Some("s3cret"));
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:s3cret"));
        assert_eq!(token_of(&basic).as_deref(), Some("s3cret"));
        assert_eq!(token_of("Basic not-base64!"), None);
        assert_eq!(token_of("Digest x"), None);
    }

    #[test]
    fn a_log_query_names_a_stream_and_a_start_or_is_refused() {
        let query = |stream: Option<&str>, from: Option<&str>| LogQuery {
            process: Some(String::new()),
            stream: stream.map(str::to_owned),
            from: from.map(str::to_owned),
        };
        assert_eq!(query(None, None).view(), Ok(pages::LogView::default()));
        let chosen = query(Some("stderr"), Some("start")).view().expect("valid");
        assert!(chosen.stderr && chosen.from_start && chosen.process.is_none());
        assert_eq!(
            query(Some("both"), None).view(),
            Err("unknown log stream 'both': choose stdout or stderr".to_owned())
        );
        assert_eq!(
            query(None, Some("middle")).view(),
            Err("unknown log start 'middle': choose tail or start".to_owned())
        );
    }
}

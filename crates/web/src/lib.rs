//! The scheduler's HTTP listener (`atoll scheduler --http ADDR`): Prometheus metrics at
//! `/metrics`, and Aurora's health checks, `/health` (the process serves) and `/leaderhealth`
//! (it is the scheduler to call: always, while there is one scheduler per cluster).
//!
//! Served from the binary itself, beside gRPC, on a port of its own, over TLS (with the same
//! certificate) when gRPC is. What it serves is read from
//! the control plane; nothing here changes the state.

use std::future::Future;

use atoll_proto::TlsIdentity;
use atoll_server::ControlPlane;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

/// The routes of the scheduler's HTTP listener.
pub fn scheduler_routes(control_plane: ControlPlane) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "OK\n" }))
        .route("/leaderhealth", get(|| async { "OK\n" }))
        .with_state(control_plane)
}

async fn metrics(State(control_plane): State<ControlPlane>) -> axum::response::Response {
    // Counting reads the state under its lock: off the async threads.
    match tokio::task::spawn_blocking(move || control_plane.metrics_text()).await {
        Ok(text) => ([(header::CONTENT_TYPE, atoll_server::METRICS_CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "gathering metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the metrics could not be gathered; see the scheduler's log\n")
                .into_response()
        }
    }
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

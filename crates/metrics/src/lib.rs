//! What the scheduler's and the agents' HTTP listeners share: a registry encoded in Prometheus'
//! text exposition format, version 0.0.4, the format `promtool check metrics` reads and every
//! Prometheus scrapes; and [`serve`], which serves a listener's routes over plaintext HTTP or,
//! given a certificate, over TLS (HTTP/1.1, rustls), as the gRPC listeners do.
//!
//! The metrics themselves are kept with `prometheus-client`, which writes OpenMetrics text.
//! [`exposition`] turns that into the Prometheus format: a counter's `HELP` and `TYPE` name the
//! sample (`x_total`, not `x`), and the `UNIT` and `EOF` lines, which the Prometheus format does
//! not have, go. Nothing else differs for the kinds used here (counters, gauges, histograms).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use prometheus_client::registry::Registry;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

/// The longest a TLS handshake may take before its connection is closed, so that callers who
/// never finish one hold no descriptors for long.
const HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The content type of [`exposition`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `registry`'s metrics in Prometheus' text format.
pub fn exposition(registry: &Registry) -> String {
    let mut openmetrics = String::new();
    prometheus_client::encoding::text::encode(&mut openmetrics, registry).expect("writing to a String cannot fail");
    from_openmetrics(&openmetrics)
}

/// The answer to a `GET /metrics`: the text `gather` makes, gathered off the async threads (it
/// reads locked state, cgroups and directories), or 500 naming `whose` log if it fails.
pub async fn metrics_response(
    whose: &'static str,
    gather: impl FnOnce() -> String + Send + 'static,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::task::spawn_blocking(gather).await {
        Ok(text) => ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "gathering metrics failed");
            let message = format!("the metrics could not be gathered; see the {whose}'s log\n");
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
        }
    }
}

/// A certificate (chain) and key a listener serves TLS with, both PEM.
pub struct ServerCertificate<'a> {
    pub cert_pem: &'a [u8],
    pub key_pem: &'a [u8],
}

/// Why a certificate cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("the certificate or key cannot be served: {0}")]
pub struct CertificateError(String);

/// Serves `routes` on `listener` until `shutdown` resolves: over TLS with `certificate`, plain
/// HTTP without. A connection that fails its handshake (plaintext to a TLS port, say) is closed
/// and logged; it costs the others nothing.
pub async fn serve(
    listener: TcpListener,
    routes: Router,
    certificate: Option<ServerCertificate<'_>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(certificate) = certificate else {
        let service = routes.into_make_service_with_connect_info::<std::net::SocketAddr>();
        return axum::serve(listener, service).with_graceful_shutdown(shutdown).await;
    };
    let acceptor = tls_acceptor(&certificate).map_err(std::io::Error::other)?;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // One connection's failure (reset before it was taken, say, or no descriptors
            // left for a moment) is not the listener's: wait a little and go on.
            Err(error) => {
                tracing::warn!(%error, "accepting an HTTPS connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // Handlers that ask who called get the peer, as on the plaintext path.
        let routes = routes.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "an HTTPS connection failed its handshake");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "an HTTPS connection did not finish its handshake in time");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(routes);
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "an HTTPS connection ended with an error");
            }
        });
    }
}

/// The TLS acceptor of `certificate`, with rustls' ring provider.
pub fn tls_acceptor(certificate: &ServerCertificate<'_>) -> Result<tokio_rustls::TlsAcceptor, CertificateError> {
    let chain = CertificateDer::pem_slice_iter(certificate.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertificateError(format!("the certificate: {e}")))?;
    if chain.is_empty() {
        return Err(CertificateError("the certificate file holds no certificate".to_owned()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(certificate.key_pem).map_err(|e| CertificateError(format!("the key: {e}")))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CertificateError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| CertificateError(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// OpenMetrics text (of counters, gauges and histograms) in Prometheus' text format.
fn from_openmetrics(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // A family's HELP comes before its TYPE, which decides the name both carry.
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, words) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, words));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let shown = if kind == "counter" { format!("{name}_total") } else { name.to_owned() };
            if let Some((_, words)) = help.take().filter(|(helped, _)| *helped == name) {
                out.push_str(&format!("# HELP {shown} {words}\n"));
            }
            out.push_str(&format!("# TYPE {shown} {kind}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Unit;

    use super::*;

    #[test]
    fn a_certificate_that_cannot_be_served_says_which_part() {
        let refused = |cert: &[u8], key: &[u8]| {
            tls_acceptor(&ServerCertificate { cert_pem: cert, key_pem: key }).err().expect("refused").to_string()
        };
        assert!(refused(b"", b"").contains("holds no certificate"));
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let error = refused(garbage, b"not a key");
        assert!(error.starts_with("the certificate or key cannot be served: the key"), "{error}");
    }

    #[test]
    fn counters_are_named_by_their_samples_and_openmetrics_lines_go() {
        let mut registry = Registry::with_prefix("atoll");
        let written = Counter::<u64>::default();
        written.inc_by(512);
        registry.register_with_unit("store_written", "Bytes written", Unit::Bytes, written);
        let unplaced = Gauge::<i64>::default();
        unplaced.set(3);
        registry.register("unplaced", "Tasks not placed", unplaced);
        let took = Histogram::new([0.1, 1.0]);
        took.observe(0.5);
        registry.register_with_unit("round", "Round time", Unit::Seconds, took);
        let text = exposition(&registry);
        assert_eq!(
            text,
            "# HELP atoll_store_written_bytes_total Bytes written.\n\
             # TYPE atoll_store_written_bytes_total counter\n\
             atoll_store_written_bytes_total 512\n\
             # HELP atoll_unplaced Tasks not placed.\n\
             # TYPE atoll_unplaced gauge\n\
             atoll_unplaced 3\n\
             # HELP atoll_round_seconds Round time.\n\
             # TYPE atoll_round_seconds histogram\n\
             atoll_round_seconds_sum 0.5\n\
             atoll_round_seconds_count 1\n\
             atoll_round_seconds_bucket{le=\"0.1\"} 0\n\
             atoll_round_seconds_bucket{le=\"1.0\"} 1\n\
             atoll_round_seconds_bucket{le=\"+Inf\"} 1\n"
        );
    }
}

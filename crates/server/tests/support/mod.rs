//! Starting a real scheduler on a loopback port for the gRPC tests.

use std::sync::Arc;

use atoll_server::{ControlPlane, ServerConfig, ServerError, SystemClock};
use atoll_storage::Store;
use tonic::transport::Channel;

/// Serves a scheduler for cluster `devcluster` on `store` until the returned sender is dropped
/// or used; returns a connected channel, the sender, and the task serving, which ends with how
/// the scheduler stopped.
pub async fn serve(
    store: Box<dyn Store>,
) -> (Channel, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), ServerError>>) {
    let mut config = ServerConfig::new("devcluster");
    // A change not durable within a second is reported so, for the tests of a slow disk.
    config.durable_wait = std::time::Duration::from_secs(1);
    let control_plane = ControlPlane::start(config, store, Arc::new(SystemClock)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(atoll_server::serve(control_plane, listener, async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
    (channel, stop, serving)
}

//! Atoll's one home for ZooKeeper: every session, read, write and watch it makes there.
//!
//! - [`Session`] writes ServerSet members: the session a member lives as long as, the member
//!   node (ephemeral and sequential) and the persistent, empty parents its path needs. The
//!   executor announces tasks through it, the scheduler itself (`--zk`).
//! - [`Resolver`] reads them as consumers do (Finagle's rules), for `atoll sd --zk`, for
//!   `zk://ENSEMBLE/PATH` cluster addresses, and for programs that follow a ServerSet.
//!
//! What a member holds and where it lives is `atoll-announce`'s, which has no I/O; this crate is
//! the edge that puts it in ZooKeeper and reads it back.
//!
//! ```no_run
//! # async fn demo() -> Result<(), atoll_zookeeper::ZooKeeperError> {
//! let resolver = atoll_zookeeper::Resolver::connect("127.0.0.1:2181").await?;
//! let mut watch = resolver.watch("/aurora/www-data/prod/web", Some("http")).await?;
//! loop {
//!     let endpoints = watch.next().await?;
//!     println!("{endpoints:?}");
//! }
//! # }
//! ```

mod resolver;
mod session;

use std::time::Duration;

use zookeeper_client as zk;

pub use resolver::{Changes, Resolver, Watch, alive_endpoint};
pub use session::Session;

/// A ZooKeeper operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum ZooKeeperError {
    #[error("cannot connect to ZooKeeper at {ensemble}: {detail}")]
    Connect { ensemble: String, detail: String },
    #[error("ZooKeeper failed reading {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("ZooKeeper failed writing {path}: {detail}")]
    Write { path: String, detail: String },
}

/// Opens a session with `ensemble` (`HOST:PORT[,HOST:PORT…][/chroot]`) that expires after
/// `timeout` without contact; gives up connecting after the same time.
async fn connect(ensemble: &str, timeout: Duration) -> Result<zk::Client, ZooKeeperError> {
    let fail = |detail: String| ZooKeeperError::Connect { ensemble: ensemble.to_owned(), detail };
    let connect = zk::Client::connector().with_session_timeout(timeout).connect(ensemble);
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| fail(format!("no answer within {} s", timeout.as_secs_f64())))?
        .map_err(|e| fail(e.to_string()))
}

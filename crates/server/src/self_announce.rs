//! The scheduler announcing itself: with `--zk`, its gRPC endpoint is a ServerSet member in
//! ZooKeeper, so clients find it through a `zk://ENSEMBLE/PATH` cluster address. The member
//! lives as long as the scheduler's session; after an expiry it is announced again. Attempts
//! that fail back off exponentially with jitter, so schedulers that lost ZooKeeper together
//! do not all come back at the same instant.

use std::collections::BTreeMap;
use std::time::Duration;

use atoll_announce::{Endpoint, MEMBER_PREFIX, Member, MemberStatus};
use atoll_zookeeper::{Session, ZooKeeperError};

/// The default ServerSet path of schedulers.
pub const DEFAULT_SCHEDULER_PATH: &str = "/aurora/scheduler";

/// How long the scheduler's session lives without contact, and how long it waits to connect.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before announcing again, before jitter.
const RETRY_MIN: Duration = Duration::from_millis(500);
/// The longest wait between attempts, before jitter.
const RETRY_MAX: Duration = Duration::from_secs(8);

/// Keeps the scheduler announced at `path` until the task is dropped or aborted.
pub async fn announce_scheduler(ensemble: String, path: String, host: String, port: u16) {
    let endpoint = Endpoint { host, port };
    let member = Member {
        service_endpoint: endpoint.clone(),
        additional_endpoints: BTreeMap::from([("grpc".to_owned(), endpoint)]),
        status: MemberStatus::Alive,
        shard: None,
    };
    let mut delays = atoll_retry::delays(RETRY_MIN, RETRY_MAX);
    loop {
        match announce_once(&ensemble, &path, &member).await {
            Ok(()) => {
                tracing::warn!(%path, "the scheduler's ZooKeeper session ended; announcing again");
                delays = atoll_retry::delays(RETRY_MIN, RETRY_MAX);
            }
            Err(e) => tracing::warn!(%ensemble, %path, "cannot announce the scheduler: {e}"),
        }
        tokio::time::sleep(delays.next().expect("retry delays never run out")).await;
    }
}

/// One session: announce, then wait until the session is gone.
async fn announce_once(ensemble: &str, path: &str, member: &Member) -> Result<(), ZooKeeperError> {
    let session = Session::open(ensemble, SESSION_TIMEOUT).await?;
    let prefix = format!("{}/{MEMBER_PREFIX}", path.trim_end_matches('/'));
    let node = session.create_member(&prefix, &member.to_json()).await?;
    tracing::info!(%node, "scheduler announced");
    session.ended().await;
    Ok(())
}

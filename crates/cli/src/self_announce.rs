//! The scheduler announcing itself: with `--zk`, its gRPC endpoint is a ServerSet member in
//! ZooKeeper, so clients find it through a `zk://ENSEMBLE/PATH` cluster address. The member
//! lives as long as the scheduler's session; after an expiry it is announced again.

use std::collections::BTreeMap;
use std::time::Duration;

use atoll_announce::{Endpoint, MEMBER_PREFIX, Member, MemberStatus};
use zookeeper_client as zk;

/// The default ServerSet path of schedulers.
pub const DEFAULT_SCHEDULER_PATH: &str = "/aurora/scheduler";

/// Keeps the scheduler announced at `path` until the task is dropped or aborted.
pub async fn announce_scheduler(ensemble: String, path: String, host: String, port: u16) {
    let endpoint = Endpoint { host, port };
    let member = Member {
        service_endpoint: endpoint.clone(),
        additional_endpoints: BTreeMap::from([("grpc".to_owned(), endpoint)]),
        status: MemberStatus::Alive,
        shard: None,
    };
    loop {
        match announce_once(&ensemble, &path, &member).await {
            Ok(()) => tracing::warn!(%path, "the scheduler's ZooKeeper session ended; announcing again"),
            Err(e) => tracing::warn!(%ensemble, %path, "cannot announce the scheduler: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One session: announce, then wait until the session is gone.
async fn announce_once(ensemble: &str, path: &str, member: &Member) -> Result<(), String> {
    let client = atoll_agent::zookeeper::connect(ensemble, Duration::from_secs(10)).await?;
    let prefix = format!("{}/{MEMBER_PREFIX}", path.trim_end_matches('/'));
    let node =
        atoll_agent::zookeeper::create_member(&client, &prefix, &member.to_json()).await.map_err(|e| e.to_string())?;
    tracing::info!(%node, "scheduler announced");
    let mut state = client.state_watcher();
    loop {
        if matches!(
            state.changed().await,
            zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed
        ) {
            return Ok(());
        }
    }
}

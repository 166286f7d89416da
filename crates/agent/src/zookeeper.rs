//! The ZooKeeper writes announcers share: a session with a timeout, the persistent, empty
//! parents a ServerSet path needs (consumers such as Prometheus read every node under the path,
//! so parents hold no data), and the ephemeral sequential member itself.

use std::time::Duration;

use zookeeper_client as zk;

/// Opens a session with `ensemble` (`HOST:PORT[,HOST:PORT…][/chroot]`) that expires after
/// `timeout` without contact; gives up connecting after the same time.
pub async fn connect(ensemble: &str, timeout: Duration) -> Result<zk::Client, String> {
    let connect = zk::Client::connector().with_session_timeout(timeout).connect(ensemble);
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| format!("no ZooKeeper at {ensemble} answered"))?
        .map_err(|e| format!("cannot connect to ZooKeeper at {ensemble}: {e}"))
}

/// Creates the ephemeral sequential node `prefix` + sequence (a `…/member_` prefix) holding
/// `data`, making its parents first if they are missing; returns the node's path.
pub async fn create_member(client: &zk::Client, prefix: &str, data: &[u8]) -> Result<String, zk::Error> {
    let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let created = match client.create(prefix, data, &options).await {
        Err(zk::Error::NoNode) => {
            ensure_path(client, atoll_announce::parent_of(prefix)).await?;
            client.create(prefix, data, &options).await
        }
        created => created,
    };
    let (_, sequence) = created?;
    Ok(format!("{prefix}{sequence}"))
}

/// Creates `path` and every missing ancestor as persistent nodes with empty data.
pub async fn ensure_path(client: &zk::Client, path: &str) -> Result<(), zk::Error> {
    let mut current = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        current.push('/');
        current.push_str(part);
        match client.create(&current, &[], &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

//! Writing ServerSet members: a session, the member's persistent empty parents (consumers such
//! as Prometheus read every node under the path, so parents hold no data), and the ephemeral
//! sequential member itself, which ZooKeeper deletes when the session ends.

use std::time::Duration;

use zookeeper_client as zk;

use crate::{ZooKeeperError, connect};

/// A ZooKeeper session that members are written in. ZooKeeper keeps it alive while the
/// client is connected; dropping the session closes it, and its members go with it.
pub struct Session {
    client: zk::Client,
}

impl Session {
    /// Opens a session with `ensemble` (`HOST:PORT[,HOST:PORT…][/chroot]`) that expires after
    /// `timeout` without contact; gives up connecting after the same time.
    pub async fn open(ensemble: &str, timeout: Duration) -> Result<Session, ZooKeeperError> {
        Ok(Session { client: connect(ensemble, timeout).await? })
    }

    /// Creates `path` and every missing ancestor as persistent nodes with empty data.
    pub async fn ensure_path(&self, path: &str) -> Result<(), ZooKeeperError> {
        let mut current = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            current.push('/');
            current.push_str(part);
            let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            match self.client.create(&current, &[], &options).await {
                Ok(_) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(write_failed(&current, e)),
            }
        }
        Ok(())
    }

    /// Creates the ephemeral sequential node `prefix` + sequence (a `…/member_` prefix) holding
    /// `data`, making its parents first if they are missing; returns the node's path.
    pub async fn create_member(&self, prefix: &str, data: &[u8]) -> Result<String, ZooKeeperError> {
        let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
        let created = match self.client.create(prefix, data, &options).await {
            Err(zk::Error::NoNode) => {
                self.ensure_path(atoll_announce::parent_of(prefix)).await?;
                self.client.create(prefix, data, &options).await
            }
            created => created,
        };
        let (_, sequence) = created.map_err(|e| write_failed(prefix, e))?;
        Ok(format!("{prefix}{sequence}"))
    }

    /// Replaces the data of the member `node`.
    pub async fn set_member(&self, node: &str, data: &[u8]) -> Result<(), ZooKeeperError> {
        self.client.set_data(node, data, None).await.map_err(|e| write_failed(node, e))?;
        Ok(())
    }

    /// Whether the member `node` still exists (someone may have deleted it).
    pub async fn member_exists(&self, node: &str) -> Result<bool, ZooKeeperError> {
        let stat = self.client.check_stat(node).await;
        Ok(stat.map_err(|e| ZooKeeperError::Read { path: node.to_owned(), detail: e.to_string() })?.is_some())
    }

    /// Deletes the member `node`.
    pub async fn delete_member(&self, node: &str) -> Result<(), ZooKeeperError> {
        self.client.delete(node, None).await.map_err(|e| write_failed(node, e))
    }

    /// Waits until the session has ended: expired, closed, or refused its credentials.
    pub async fn ended(&self) {
        let mut state = self.client.state_watcher();
        while !matches!(
            state.changed().await,
            zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed
        ) {}
    }
}

fn write_failed(path: &str, error: zk::Error) -> ZooKeeperError {
    ZooKeeperError::Write { path: path.to_owned(), detail: error.to_string() }
}

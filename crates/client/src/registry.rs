//! Reading ServerSets: the members at a path, from the scheduler's embedded registry or from
//! ZooKeeper (read through `atoll-zookeeper`, which owns every ZooKeeper session), and a watch
//! on the embedded registry.

use atoll_announce::{MEMBER_PREFIX, Member};
use atoll_proto::v1::{self, registry_service_client::RegistryServiceClient};
use atoll_zookeeper::{Resolver, ZooKeeperError};

use crate::ClientError;

/// One child of a ServerSet path: its node name and its member, or why the data is not one.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberEntry {
    pub name: String,
    pub member: Result<Member, String>,
}

/// A connection to a scheduler's embedded registry.
#[derive(Clone)]
pub struct RegistryReader {
    address: String,
    inner: RegistryServiceClient<crate::Transport>,
}

impl RegistryReader {
    /// Connects to the registry of the scheduler at `address`, calling with `credentials`.
    pub async fn connect(address: &str, credentials: &crate::Credentials) -> Result<RegistryReader, ClientError> {
        let channel = crate::connect_channel(address, None, credentials).await?;
        Ok(RegistryReader { address: address.to_owned(), inner: RegistryServiceClient::new(channel) })
    }

    fn error(&self, status: tonic::Status) -> ClientError {
        ClientError::from_status(&self.address, &status)
    }

    /// The `member_*` children of `path`, in name order; none if the path does not exist.
    pub async fn members(&self, path: &str) -> Result<Vec<MemberEntry>, ClientError> {
        let mut client = self.inner.clone();
        let names = match client.get_children(v1::GetChildrenRequest { path: path.to_owned() }).await {
            Ok(response) => response.into_inner().names,
            Err(status) if status.code() == tonic::Code::NotFound => return Ok(Vec::new()),
            Err(status) => return Err(self.error(status)),
        };
        let mut entries = Vec::new();
        for name in names.into_iter().filter(|n| n.starts_with(MEMBER_PREFIX)) {
            let node = format!("{}/{name}", path.trim_end_matches('/'));
            match client.get_node(v1::GetNodeRequest { path: node }).await {
                Ok(response) => {
                    let member = Member::from_json(&response.into_inner().data).map_err(|e| e.to_string());
                    entries.push(MemberEntry { name, member });
                }
                // Gone between listing and reading: it is not a member any more.
                Err(status) if status.code() == tonic::Code::NotFound => {}
                Err(status) => return Err(self.error(status)),
            }
        }
        Ok(entries)
    }

    /// Every change at or under `path` from now on.
    pub async fn watch(&self, path: &str) -> Result<RegistryWatch, ClientError> {
        let response = self.inner.clone().watch(v1::WatchRequest { path: path.to_owned() }).await;
        let events = response.map_err(|s| self.error(s))?.into_inner();
        Ok(RegistryWatch { address: self.address.clone(), events })
    }
}

/// The changes under a watched path, as they happen.
pub struct RegistryWatch {
    address: String,
    events: tonic::Streaming<v1::WatchEvent>,
}

impl RegistryWatch {
    /// The next change, or `None` if the scheduler ended the watch.
    pub async fn next(&mut self) -> Result<Option<v1::WatchEvent>, ClientError> {
        self.events.message().await.map_err(|status| ClientError::from_status(&self.address, &status))
    }
}

/// The `member_*` children of `path` in ZooKeeper (see [`zookeeper`]), read as a consumer would.
pub async fn zookeeper_members(resolver: &Resolver, path: &str) -> Result<Vec<MemberEntry>, ClientError> {
    let members = resolver.members(path).await.map_err(zookeeper_error)?;
    Ok(members.into_iter().map(|(name, member)| MemberEntry { name, member }).collect())
}

/// Connects to a ZooKeeper ensemble for reading ServerSets.
pub async fn zookeeper(ensemble: &str) -> Result<Resolver, ClientError> {
    Resolver::connect(ensemble)
        .await
        .map_err(|e| ClientError::Unreachable { address: ensemble.to_owned(), detail: e.to_string() })
}

/// A ZooKeeper read that failed.
pub fn zookeeper_error(e: ZooKeeperError) -> ClientError {
    ClientError::Api { kind: crate::ApiErrorKind::Other, message: e.to_string() }
}

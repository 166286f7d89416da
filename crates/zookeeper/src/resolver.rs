//! Reading ServerSets as programs that consume them do: the endpoints of a path's ALIVE
//! members, every member (for tools that show them all), and changes as they happen.
//!
//! It reads members as Finagle does: only children named `member_*`, only status ALIVE, and
//! either the `serviceEndpoint` or the named entry of `additionalEndpoints`. Members that are
//! not valid JSON are skipped. One ZooKeeper session per [`Resolver`]; [`Resolver::members`]
//! also serves tools that show every member (`atoll sd --zk`).

use std::time::Duration;

use atoll_announce::{Endpoint, MEMBER_PREFIX, Member, MemberStatus};
use zookeeper_client as zk;

use crate::{ZooKeeperError, connect};

/// How long a resolver's session lives without contact, and how long it waits to connect.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// A ZooKeeper session for resolving ServerSets.
pub struct Resolver {
    client: zk::Client,
}

impl Resolver {
    /// Connects to `ensemble` (`HOST:PORT[,HOST:PORT…][/chroot]`).
    pub async fn connect(ensemble: &str) -> Result<Resolver, ZooKeeperError> {
        Ok(Resolver { client: connect(ensemble, SESSION_TIMEOUT).await? })
    }

    /// Every `member_*` child of `path` in name order, with its member or why its data is not
    /// one; none when the path does not exist. A member deleted while being read is left out.
    pub async fn members(&self, path: &str) -> Result<Vec<(String, Result<Member, String>)>, ZooKeeperError> {
        let read = |detail: String| ZooKeeperError::Read { path: path.to_owned(), detail };
        let mut names = match self.client.list_children(path).await {
            Ok(names) => names,
            Err(zk::Error::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(read(e.to_string())),
        };
        names.retain(|n| n.starts_with(MEMBER_PREFIX));
        names.sort();
        let mut members = Vec::new();
        for name in names {
            match self.client.get_data(&format!("{}/{name}", path.trim_end_matches('/'))).await {
                Ok((data, _)) => members.push((name, Member::from_json(&data).map_err(|e| e.to_string()))),
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(read(e.to_string())),
            }
        }
        Ok(members)
    }

    /// The endpoints of the ALIVE members at `path`: each member's `serviceEndpoint`, or with
    /// `endpoint` its `additionalEndpoints[endpoint]` (members without it are left out).
    /// Sorted; empty when the path does not exist.
    pub async fn resolve(&self, path: &str, endpoint: Option<&str>) -> Result<Vec<Endpoint>, ZooKeeperError> {
        let mut endpoints: Vec<Endpoint> = self
            .members(path)
            .await?
            .into_iter()
            .filter_map(|(_, member)| alive_endpoint(member.ok()?, endpoint))
            .collect();
        endpoints.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
        Ok(endpoints)
    }

    /// Wakes on every change at or under `path` (a ZooKeeper persistent recursive watch).
    pub async fn changes(&self, path: &str) -> Result<Changes, ZooKeeperError> {
        let watcher = self
            .client
            .watch(path, zk::AddWatchMode::PersistentRecursive)
            .await
            .map_err(|e| ZooKeeperError::Read { path: path.to_owned(), detail: e.to_string() })?;
        Ok(Changes { watcher })
    }

    /// Follows `path`: every call to [`Watch::next`] returns the endpoints once they differ
    /// from the last ones returned (the first call returns them at once).
    pub async fn watch<'a>(&'a self, path: &str, endpoint: Option<&str>) -> Result<Watch<'a>, ZooKeeperError> {
        Ok(Watch {
            resolver: self,
            path: path.to_owned(),
            endpoint: endpoint.map(str::to_owned),
            changes: self.changes(path).await?,
            last: None,
        })
    }
}

/// Changes under a path, as they happen.
pub struct Changes {
    watcher: zk::PersistentWatcher,
}

impl Changes {
    /// Waits for the next change.
    pub async fn next(&mut self) {
        self.watcher.changed().await;
    }
}

/// The endpoint a member offers, if it is ALIVE and has it.
pub fn alive_endpoint(member: Member, endpoint: Option<&str>) -> Option<Endpoint> {
    if member.status != MemberStatus::Alive {
        return None;
    }
    match endpoint {
        None => Some(member.service_endpoint),
        Some(name) => member.additional_endpoints.get(name).cloned(),
    }
}

/// A followed ServerSet.
pub struct Watch<'a> {
    resolver: &'a Resolver,
    path: String,
    endpoint: Option<String>,
    changes: Changes,
    last: Option<Vec<Endpoint>>,
}

impl Watch<'_> {
    /// Waits until the endpoints differ from the ones last returned, and returns them.
    pub async fn next(&mut self) -> Result<Vec<Endpoint>, ZooKeeperError> {
        loop {
            let now = self.resolver.resolve(&self.path, self.endpoint.as_deref()).await?;
            if self.last.as_ref() != Some(&now) {
                self.last = Some(now.clone());
                return Ok(now);
            }
            self.changes.next().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_alive_members_with_the_endpoint_resolve() {
        let alive = br#"{"serviceEndpoint":{"host":"h1","port":31000},"additionalEndpoints":{"admin":{"host":"h1","port":31001}},"status":"ALIVE","shard":0}"#;
        let starting =
            br#"{"serviceEndpoint":{"host":"h2","port":31000},"additionalEndpoints":{},"status":"STARTING"}"#;
        let read = |json: &[u8]| Member::from_json(json).unwrap();
        assert_eq!(alive_endpoint(read(alive), None), Some(Endpoint { host: "h1".into(), port: 31000 }));
        assert_eq!(alive_endpoint(read(alive), Some("admin")), Some(Endpoint { host: "h1".into(), port: 31001 }));
        assert_eq!(alive_endpoint(read(alive), Some("thrift")), None);
        assert_eq!(alive_endpoint(read(starting), None), None);
        assert!(Member::from_json(b"not json").is_err(), "such members are skipped by members()");
    }
}

//! ServerSet members: the JSON an announced task writes, and how it is made from a job's
//! `Announcer` and the task's allocated ports (Aurora's `make_endpoints`).

use std::collections::BTreeMap;

use atoll_model::config::{Announcer, PortTarget};
use serde::{Deserialize, Serialize};

/// A host and port, as `{"host": "...", "port": 31000}`; the port is always a JSON integer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// A member's status, by its name in `com.twitter.thrift.Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberStatus {
    Dead,
    Starting,
    Alive,
    Stopping,
    Stopped,
    Warning,
}

/// One ServerSet member. Field order is the order Aurora wrote them in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    #[serde(rename = "serviceEndpoint")]
    pub service_endpoint: Endpoint,
    #[serde(rename = "additionalEndpoints")]
    pub additional_endpoints: BTreeMap<String, Endpoint>,
    pub status: MemberStatus,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<u32>,
}

impl Member {
    /// The member's JSON, as readers expect it.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a member always serializes")
    }

    /// Reads a member's JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Member, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The member with another status (a task that turns healthy or starts stopping).
    pub fn with_status(&self, status: MemberStatus) -> Member {
        Member { status, ..self.clone() }
    }
}

/// The member a task announces: `serviceEndpoint` is the primary port (port 0 if the task has
/// none, as Aurora did); `additionalEndpoints` holds every allocated named port and every
/// portmap entry, aliases resolved to the port they name and static ports as given.
pub fn member_for(
    announcer: &Announcer,
    hostname: &str,
    ports: &BTreeMap<String, u16>,
    shard: u32,
    status: MemberStatus,
) -> Member {
    let mut resolved: BTreeMap<String, u16> = ports.clone();
    for (name, target) in &announcer.portmap {
        let port = match target {
            PortTarget::Static(port) => Some(*port),
            PortTarget::Named(target) => ports.get(target).copied(),
        };
        if let Some(port) = port {
            resolved.insert(name.clone(), port);
        }
    }
    let endpoint = |port: u16| Endpoint { host: hostname.to_owned(), port };
    Member {
        service_endpoint: endpoint(resolved.get(&announcer.primary_port).copied().unwrap_or(0)),
        additional_endpoints: resolved.iter().map(|(name, port)| (name.clone(), endpoint(*port))).collect(),
        status,
        shard: Some(shard),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_auroras_example_member_exactly() {
        // aurora.md §2: default Announcer, ports http=31000 and health=31001, instance 2.
        let ports = BTreeMap::from([("http".to_owned(), 31000), ("health".to_owned(), 31001)]);
        let member = member_for(&Announcer::default(), "h1", &ports, 2, MemberStatus::Alive);
        assert_eq!(
            String::from_utf8(member.to_json()).unwrap(),
            r#"{"serviceEndpoint":{"host":"h1","port":31000},"additionalEndpoints":{"aurora":{"host":"h1","port":31000},"health":{"host":"h1","port":31001},"http":{"host":"h1","port":31000}},"status":"ALIVE","shard":2}"#
        );
    }

    #[test]
    fn reads_the_scheduler_golden_string_and_round_trips() {
        let golden = r#"{"serviceEndpoint":{"host":"foo","port":1000},"additionalEndpoints":{"http":{"host":"foo","port":8080}},"status":"ALIVE"}"#;
        let member = Member::from_json(golden.as_bytes()).unwrap();
        assert_eq!(member.service_endpoint, Endpoint { host: "foo".into(), port: 1000 });
        assert_eq!(member.shard, None);
        assert_eq!(String::from_utf8(member.to_json()).unwrap(), golden);
    }

    #[test]
    fn a_missing_primary_port_is_port_zero_and_static_ports_are_kept() {
        let announcer = Announcer {
            primary_port: "thrift".into(),
            portmap: BTreeMap::from([("admin".to_owned(), PortTarget::Static(9990))]),
            zk_path: None,
        };
        let ports = BTreeMap::from([("http".to_owned(), 31000)]);
        let member = member_for(&announcer, "h2", &ports, 0, MemberStatus::Starting);
        assert_eq!(member.service_endpoint.port, 0);
        assert_eq!(member.additional_endpoints["admin"].port, 9990);
        assert_eq!(member.additional_endpoints["http"].port, 31000);
        assert_eq!(member.with_status(MemberStatus::Alive).status, MemberStatus::Alive);
        let json = String::from_utf8(member.to_json()).unwrap();
        assert!(json.contains(r#""status":"STARTING""#), "{json}");
    }
}

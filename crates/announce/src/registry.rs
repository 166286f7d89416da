//! The embedded registry: ZooKeeper's data model, small enough to live inside the scheduler.
//!
//! A tree of nodes addressed by `/`-separated paths. Persistent nodes last until deleted;
//! ephemeral nodes belong to a session and vanish when it closes or expires (a session expires
//! when it is not kept alive within its timeout). Sequential creation appends the parent's next
//! 10-digit sequence number to the name, so `/a/member_` becomes `/a/member_0000000007`, and a
//! re-created member always gets a new, higher number. Every change is appended to an event
//! log that watchers read from a sequence number onwards.
//!
//! Deterministic: time is an argument; nothing here reads a clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::path::parent_of;

/// A client session, which owns the ephemeral nodes it creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// How a node is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateMode {
    Persistent,
    /// Owned by the session, with a sequence number appended to its name.
    EphemeralSequential(SessionId),
}

/// One change, for watchers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryEvent {
    Created(String),
    Changed(String),
    Deleted(String),
}

impl RegistryEvent {
    pub fn path(&self) -> &str {
        match self {
            RegistryEvent::Created(path) | RegistryEvent::Changed(path) | RegistryEvent::Deleted(path) => path,
        }
    }
}

/// A refused registry operation; the message names the path or session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid path '{0}': paths start with '/' and have no empty, '.' or '..' parts")]
    InvalidPath(String),
    #[error("node {0} already exists")]
    NodeExists(String),
    #[error("node {0} does not exist")]
    NoNode(String),
    #[error("node {0} has children")]
    NotEmpty(String),
    #[error("session {0} is unknown or has expired")]
    NoSession(SessionId),
    #[error("the watcher fell behind: events before {oldest} are gone; list the path again")]
    Lagged { oldest: u64 },
}

#[derive(Clone, Debug)]
struct Node {
    data: Vec<u8>,
    owner: Option<SessionId>,
    next_sequence: u64,
}

#[derive(Clone, Debug)]
struct Session {
    timeout_ms: u64,
    last_heard_ms: u64,
    ephemerals: BTreeSet<String>,
}

/// The registry's whole state.
#[derive(Clone, Debug)]
pub struct Registry {
    nodes: BTreeMap<String, Node>,
    sessions: BTreeMap<SessionId, Session>,
    next_session: u64,
    events: VecDeque<(u64, RegistryEvent)>,
    next_event: u64,
    max_events: usize,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new(100_000)
    }
}

fn check_path(path: &str) -> Result<(), RegistryError> {
    let invalid = || RegistryError::InvalidPath(path.to_owned());
    if path == "/" {
        return Ok(());
    }
    let rest = path.strip_prefix('/').ok_or_else(invalid)?;
    if rest.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(invalid());
    }
    Ok(())
}

impl Registry {
    /// An empty registry (only `/`) that keeps the last `max_events` events for watchers.
    pub fn new(max_events: usize) -> Registry {
        let root = Node { data: Vec::new(), owner: None, next_sequence: 0 };
        Registry {
            nodes: BTreeMap::from([("/".to_owned(), root)]),
            sessions: BTreeMap::new(),
            next_session: 1,
            events: VecDeque::new(),
            next_event: 1,
            max_events: max_events.max(1),
        }
    }

    fn record(&mut self, event: RegistryEvent) {
        self.events.push_back((self.next_event, event));
        self.next_event += 1;
        while self.events.len() > self.max_events {
            self.events.pop_front();
        }
    }

    /// Opens a session that expires `timeout_ms` after it was last kept alive.
    pub fn open_session(&mut self, timeout_ms: u64, now_ms: u64) -> SessionId {
        let id = SessionId(self.next_session);
        self.next_session += 1;
        self.sessions.insert(id, Session { timeout_ms, last_heard_ms: now_ms, ephemerals: BTreeSet::new() });
        id
    }

    /// Keeps a session alive.
    pub fn keep_alive(&mut self, session: SessionId, now_ms: u64) -> Result<(), RegistryError> {
        let found = self.sessions.get_mut(&session).ok_or(RegistryError::NoSession(session))?;
        found.last_heard_ms = now_ms;
        Ok(())
    }

    /// Closes a session, deleting every ephemeral node it owns.
    pub fn close_session(&mut self, session: SessionId) {
        if let Some(closed) = self.sessions.remove(&session) {
            for path in closed.ephemerals.into_iter().rev() {
                if self.nodes.remove(&path).is_some() {
                    self.record(RegistryEvent::Deleted(path));
                }
            }
        }
    }

    /// Expires every session not kept alive within its timeout; returns them.
    pub fn expire_sessions(&mut self, now_ms: u64) -> Vec<SessionId> {
        let expired: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| now_ms.saturating_sub(s.last_heard_ms) > s.timeout_ms)
            .map(|(id, _)| *id)
            .collect();
        for session in &expired {
            self.close_session(*session);
        }
        expired
    }

    /// Creates a node, and any missing parents as empty persistent nodes. Returns the path
    /// created (with its sequence number, for sequential nodes).
    pub fn create(&mut self, path: &str, data: &[u8], mode: CreateMode) -> Result<String, RegistryError> {
        check_path(path)?;
        if path == "/" {
            return Err(RegistryError::NodeExists(path.to_owned()));
        }
        if let CreateMode::EphemeralSequential(session) = mode
            && !self.sessions.contains_key(&session)
        {
            return Err(RegistryError::NoSession(session));
        }
        self.make_parents(parent_of(path));
        let parent = parent_of(path).to_owned();
        let (actual, owner) = match mode {
            CreateMode::Persistent => (path.to_owned(), None),
            CreateMode::EphemeralSequential(session) => {
                let node = self.nodes.get_mut(&parent).expect("parents were just made");
                let sequence = node.next_sequence;
                node.next_sequence += 1;
                (format!("{path}{sequence:010}"), Some(session))
            }
        };
        if self.nodes.contains_key(&actual) {
            return Err(RegistryError::NodeExists(actual));
        }
        self.nodes.insert(actual.clone(), Node { data: data.to_vec(), owner, next_sequence: 0 });
        if let Some(session) = owner
            && let Some(found) = self.sessions.get_mut(&session)
        {
            found.ephemerals.insert(actual.clone());
        }
        self.record(RegistryEvent::Created(actual.clone()));
        Ok(actual)
    }

    fn make_parents(&mut self, path: &str) {
        if path == "/" || self.nodes.contains_key(path) {
            return;
        }
        self.make_parents(parent_of(path));
        self.nodes.insert(path.to_owned(), Node { data: Vec::new(), owner: None, next_sequence: 0 });
        self.record(RegistryEvent::Created(path.to_owned()));
    }

    /// Replaces a node's data.
    pub fn set_data(&mut self, path: &str, data: &[u8]) -> Result<(), RegistryError> {
        check_path(path)?;
        let node = self.nodes.get_mut(path).ok_or_else(|| RegistryError::NoNode(path.to_owned()))?;
        node.data = data.to_vec();
        self.record(RegistryEvent::Changed(path.to_owned()));
        Ok(())
    }

    /// Deletes a node that has no children.
    pub fn delete(&mut self, path: &str) -> Result<(), RegistryError> {
        check_path(path)?;
        let node = self.nodes.get(path).ok_or_else(|| RegistryError::NoNode(path.to_owned()))?;
        if path == "/" || !self.children(path)?.is_empty() {
            return Err(RegistryError::NotEmpty(path.to_owned()));
        }
        if let Some(owner) = node.owner
            && let Some(session) = self.sessions.get_mut(&owner)
        {
            session.ephemerals.remove(path);
        }
        self.nodes.remove(path);
        self.record(RegistryEvent::Deleted(path.to_owned()));
        Ok(())
    }

    /// A node's data, if the node exists.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.nodes.get(path).map(|n| n.data.as_slice())
    }

    /// The names of a node's children, in order.
    pub fn children(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        check_path(path)?;
        if !self.nodes.contains_key(path) {
            return Err(RegistryError::NoNode(path.to_owned()));
        }
        let prefix = if path == "/" { "/".to_owned() } else { format!("{path}/") };
        Ok(self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, _)| p.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_owned)
            .collect())
    }

    /// The owner of an ephemeral node.
    pub fn owner(&self, path: &str) -> Option<SessionId> {
        self.nodes.get(path).and_then(|n| n.owner)
    }

    /// The sequence number the next event will get: a watcher starts reading there.
    pub fn next_event(&self) -> u64 {
        self.next_event
    }

    /// Events numbered `from` onwards for paths at or under `prefix`.
    pub fn events_since(&self, from: u64, prefix: &str) -> Result<Vec<(u64, RegistryEvent)>, RegistryError> {
        let oldest = self.events.front().map_or(self.next_event, |(seq, _)| *seq);
        if from < oldest {
            return Err(RegistryError::Lagged { oldest });
        }
        let under = |path: &str| path == prefix || prefix == "/" || path.starts_with(&format!("{prefix}/"));
        Ok(self.events.iter().filter(|(seq, e)| *seq >= from && under(e.path())).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "/aurora/www-data/prod/hello";

    #[test]
    fn ephemeral_sequential_members_get_rising_names_and_persistent_empty_parents() {
        let mut registry = Registry::default();
        let session = registry.open_session(10_000, 0);
        let first =
            registry.create(&format!("{JOB}/member_"), b"{}", CreateMode::EphemeralSequential(session)).unwrap();
        let second =
            registry.create(&format!("{JOB}/member_"), b"{}", CreateMode::EphemeralSequential(session)).unwrap();
        assert_eq!(first, format!("{JOB}/member_0000000000"));
        assert_eq!(second, format!("{JOB}/member_0000000001"));
        assert_eq!(registry.get(JOB), Some(&b""[..]), "parents hold empty data");
        assert_eq!(registry.owner(JOB), None, "parents are persistent");
        assert_eq!(registry.children(JOB).unwrap(), vec!["member_0000000000", "member_0000000001"]);
        assert_eq!(registry.children("/aurora").unwrap(), vec!["www-data"]);
    }

    #[test]
    fn a_closed_or_expired_session_takes_its_members_with_it_and_recreation_gets_a_new_number() {
        let mut registry = Registry::default();
        let quiet = registry.open_session(1_000, 0);
        let alive = registry.open_session(1_000, 0);
        registry.create(&format!("{JOB}/member_"), b"a", CreateMode::EphemeralSequential(quiet)).unwrap();
        registry.create(&format!("{JOB}/member_"), b"b", CreateMode::EphemeralSequential(alive)).unwrap();
        registry.keep_alive(alive, 900).unwrap();
        assert_eq!(registry.expire_sessions(1_500), vec![quiet]);
        assert_eq!(registry.children(JOB).unwrap(), vec!["member_0000000001"]);
        assert_eq!(registry.keep_alive(quiet, 1_600), Err(RegistryError::NoSession(quiet)));
        let renewed = registry.open_session(1_000, 1_600);
        let again = registry.create(&format!("{JOB}/member_"), b"a", CreateMode::EphemeralSequential(renewed)).unwrap();
        assert_eq!(again, format!("{JOB}/member_0000000002"));
        registry.close_session(alive);
        assert_eq!(registry.children(JOB).unwrap(), vec!["member_0000000002"]);
    }

    #[test]
    fn watchers_read_events_under_a_path_from_a_sequence_number() {
        let mut registry = Registry::new(10);
        let session = registry.open_session(1_000, 0);
        let start = registry.next_event();
        let member =
            registry.create(&format!("{JOB}/member_"), b"x", CreateMode::EphemeralSequential(session)).unwrap();
        registry.set_data(&member, b"y").unwrap();
        registry.create("/elsewhere", b"", CreateMode::Persistent).unwrap();
        let events: Vec<RegistryEvent> =
            registry.events_since(start, JOB).unwrap().into_iter().map(|(_, e)| e).collect();
        assert_eq!(
            events,
            vec![
                RegistryEvent::Created(JOB.into()),
                RegistryEvent::Created(member.clone()),
                RegistryEvent::Changed(member)
            ]
        );
        for n in 0..10 {
            registry.create(&format!("/filler/{n}"), b"", CreateMode::Persistent).unwrap();
        }
        assert!(
            matches!(registry.events_since(start, "/"), Err(RegistryError::Lagged { .. })),
            "only 10 events are kept"
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let mut registry = Registry::default();
        assert_eq!(
            registry.create("relative", b"", CreateMode::Persistent),
            Err(RegistryError::InvalidPath("relative".into()))
        );
        assert!(registry.create("/a/../b", b"", CreateMode::Persistent).is_err());
        registry.create("/a/b", b"", CreateMode::Persistent).unwrap();
        assert_eq!(registry.create("/a/b", b"", CreateMode::Persistent), Err(RegistryError::NodeExists("/a/b".into())));
        assert_eq!(registry.delete("/a"), Err(RegistryError::NotEmpty("/a".into())));
        assert_eq!(registry.set_data("/nope", b""), Err(RegistryError::NoNode("/nope".into())));
        let gone = SessionId(99);
        assert_eq!(
            registry.create("/a/m_", b"", CreateMode::EphemeralSequential(gone)),
            Err(RegistryError::NoSession(gone))
        );
        registry.delete("/a/b").unwrap();
        assert!(registry.children("/a").unwrap().is_empty());
        assert_eq!(RegistryError::NoSession(gone).to_string(), "session 0x63 is unknown or has expired");
    }
}

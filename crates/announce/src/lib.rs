//! Service discovery, the pure part: ZooKeeper ServerSet members exactly as Aurora wrote them,
//! the paths they live at, and an embedded registry with ZooKeeper's model (a path tree,
//! ephemeral sequential nodes bound to sessions, watches) for clusters without ZooKeeper.
//!
//! Invariants: no I/O, no clock and no randomness of its own (time is an argument); the member
//! JSON is byte-for-byte the shape existing consumers (Finagle, Prometheus, kazoo readers)
//! read: `serviceEndpoint`, `additionalEndpoints`, `status`, `shard`, with integer ports.

pub mod member;
pub mod path;
pub mod registry;

pub use member::{Endpoint, Member, MemberStatus, member_for};
pub use path::{DEFAULT_ROOT, MEMBER_PREFIX, member_name, parent_of, serverset_path};
pub use registry::{CreateMode, Registry, RegistryError, RegistryEvent, SessionId};

//! The domain vocabulary of Atoll: job keys, job and task specs, resources, task states and
//! their legal transitions, agent resources and attributes, and the run-time template bindings.
//!
//! This crate is pure data plus validation. It knows nothing of tokio, gRPC, sled or Rhai; every
//! other crate speaks in these types, and the network and storage edges convert to and from them.

pub mod admin;
pub mod agent;
pub mod config;
pub mod constraint;
pub mod cron;
pub mod event;
pub mod framework;
pub mod instances;
pub mod job;
pub mod key;
pub mod suggest;
pub mod task;
pub mod template;
pub mod update;
pub mod version;

pub use admin::{MaintenanceMode, ResourceAggregate, Tier, UnknownMaintenanceMode};
pub use agent::{AgentId, AgentResources, Attributes, PortRange, ResourceParseError};
pub use constraint::{Constraint, ConstraintError, ConstraintRule};
pub use instances::{InstanceSet, InstanceSetError};
pub use job::{JobSpec, ProcessSpec, Resources, TaskConfig, TaskSpec};
pub use key::{JobKey, JobKeyError, JobKeyPrefix};
pub use task::{Assignment, ScheduledTask, TaskEvent, TaskId, TaskState};
pub use update::{ChangeKind, InstanceAction, Progress, UpdateState};
pub use version::{ConfigId, ConfigIdError, ConfigVersion};

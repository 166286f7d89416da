//! The host agent: registers with the scheduler, receives launches and kills, runs each task
//! under its own executor process in a sandbox, and reports every task state change.
//!
//! Invariant: the agent never runs task processes itself; each task has one executor process
//! (`atoll executor`, the `atoll-executor` crate, which this crate does not depend on), which
//! owns the task's process groups, so tasks can outlive the agent. The agent and an executor
//! share only the sandbox's files (`atoll-sandbox`).

pub mod host;
pub mod incarnation;
pub mod isolation;
mod launch;
pub mod logs;
pub mod metrics;
pub mod pulse;
pub mod sandbox_gc;
pub mod scheduler_link;
mod supervisor;
pub mod users;

pub use scheduler_link::{AgentConfig, AgentError, OnExit, TlsFiles, run};

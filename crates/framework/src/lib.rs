//! Write frameworks for Atoll: schedulers of their own that share the cluster through
//! FrameworkService's offers, as Mesos frameworks do (`proto/atoll/v1/frameworks.proto` is
//! the contract), and the custom executors that run their tasks
//! (`proto/atoll/v1/executor.proto`).
//!
//! The scheduler's side:
//! - [`Scheduler`]: the framework's callbacks (registered, offers, status updates, messages
//!   from its executors, …).
//! - [`SchedulerDriver`]: subscribes, keeps the event stream, subscribes again with the
//!   framework's id after a disconnect (exponential backoff with jitter; several missed
//!   heartbeat intervals count as a disconnect), acknowledges status updates once their
//!   callback returns (or leaves it to the framework), and makes the framework's calls:
//!   launch, decline, kill, revive, suppress, reconcile, acknowledge, message a task's custom
//!   executor, stop (with failover, or tearing the framework down), and reading a task's log.
//! - [`OfferPacker`] and [`fit`]: place task requests (cpu, RAM, disk, GPUs, named ports)
//!   into offers. A [`TaskRequest`] runs a shell command under Atoll's own executor
//!   ([`TaskRequest::new`]) or a custom executor ([`TaskRequest::with_executor`], with
//!   [`data`](TaskRequest::data) for it).
//!
//! The executor's side, for a task launched with an executor command: that command is the
//! task's one process, in its sandbox, cgroup and user, with its logs, and speaks the executor
//! API to Atoll's executor over the Unix socket `$ATOLL_EXECUTOR_SOCKET` names.
//! - [`Executor`]: the custom executor's callbacks (registered, launch, kill, framework
//!   messages, acknowledgements, shutdown).
//! - [`ExecutorDriver`]: subscribes, calls back for each event until SHUTDOWN (or the stream's
//!   end), and makes the executor's calls: report the task's state (RUNNING, then FINISHED,
//!   FAILED or KILLED), message the framework, stop. Clones of it report from anywhere.
//!
//! One custom executor runs one task; it does not outlive it, and is not shared among tasks.
//!
//! The wire types are [`atoll_proto::v1`]'s, re-exported as [`v1`].
//!
//! # Example
//!
//! A framework that runs one task somewhere and tears itself down once it has finished:
//!
//! ```no_run
//! use atoll_framework::v1::{FrameworkInfo, Offer, Resources, TaskState, TaskUpdate};
//! use atoll_framework::{DriverConfig, OfferPacker, Scheduler, SchedulerDriver, TaskRequest};
//!
//! struct Hello {
//!     launched: bool,
//! }
//!
//! impl Scheduler for Hello {
//!     async fn resource_offers(&mut self, driver: &mut SchedulerDriver, offers: Vec<Offer>) {
//!         let resources = Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 };
//!         let wanted = match self.launched {
//!             false => vec![TaskRequest::new("hello", "echo hello from $(hostname)", resources)],
//!             true => Vec::new(),
//!         };
//!         let packing = OfferPacker::first_fit().pack(&offers, wanted);
//!         let unused = packing.unused_offer_ids();
//!         for placement in packing.placements.into_iter().filter(|p| !p.tasks.is_empty()) {
//!             match driver.launch(&[placement.offer_id], placement.tasks, None).await {
//!                 Ok(_) => self.launched = true,
//!                 Err(error) => eprintln!("launch refused: {error}"),
//!             }
//!         }
//!         if !unused.is_empty() {
//!             let _ = driver.decline(&unused, None).await;
//!         }
//!     }
//!
//!     async fn status_update(&mut self, driver: &mut SchedulerDriver, update: TaskUpdate) {
//!         match update.state() {
//!             TaskState::Finished => driver.stop(false),
//!             TaskState::Failed | TaskState::Killed | TaskState::Lost => self.launched = false,
//!             _ => {}
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), atoll_framework::FrameworkError> {
//!     let info = FrameworkInfo { name: "hello".into(), role: "www-data".into(), failover_timeout_secs: None };
//!     let config = DriverConfig::new("http://127.0.0.1:7070", info);
//!     let stopped = SchedulerDriver::run(config, &mut Hello { launched: false }).await?;
//!     println!("done; framework {:?} torn down: {}", stopped.framework_id, stopped.torn_down);
//!     Ok(())
//! }
//! ```
//!
//! A custom executor that runs its task for as long as it is not killed, answering its
//! framework's messages:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use atoll_framework::v1::{ExecutorLaunch, TaskState};
//! use atoll_framework::{Executor, ExecutorDriver};
//!
//! struct Waiter;
//!
//! impl Executor for Waiter {
//!     async fn launch_task(&mut self, driver: &ExecutorDriver, task: ExecutorLaunch) {
//!         let said = String::from_utf8_lossy(&task.data).into_owned();
//!         if let Err(error) = driver.update(TaskState::Running, format!("waiting, told {said:?}")).await {
//!             eprintln!("could not report RUNNING: {error}");
//!         }
//!     }
//!
//!     async fn framework_message(&mut self, driver: &ExecutorDriver, data: Vec<u8>) {
//!         let _ = driver.message([b"got: ".as_slice(), &data].concat()).await;
//!     }
//!
//!     async fn kill_task(&mut self, driver: &ExecutorDriver, _task_id: &str, _grace: Duration) {
//!         let _ = driver.update(TaskState::Killed, "killed as asked").await;
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), atoll_framework::ExecutorError> {
//!     // Returns once Atoll's executor says SHUTDOWN, which follows the KILLED update.
//!     let end = ExecutorDriver::run(&mut Waiter).await?;
//!     println!("done: {end:?}");
//!     Ok(())
//! }
//! ```

mod acks;
mod config;
mod driver;
mod error;
mod executor;
mod executor_driver;
mod offers;
mod reports;
mod scheduler;

pub use atoll_proto::v1;
pub use config::{DriverConfig, StopHandle};
pub use driver::{SchedulerDriver, Stopped};
pub use error::{ExecutorError, FrameworkError};
pub use executor::Executor;
pub use executor_driver::{ExecutorDriver, ExecutorEnd, SOCKET_VARIABLE};
pub use offers::{OfferPacker, Packing, Placement, Strategy, TaskRequest, fit};
pub use scheduler::Scheduler;

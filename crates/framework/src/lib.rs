//! Write frameworks for Atoll: schedulers of their own that share the cluster through
//! FrameworkService's offers, as Mesos frameworks do (`proto/atoll/v1/frameworks.proto` is
//! the contract).
//!
//! - [`Scheduler`]: the framework's callbacks (registered, offers, status updates, …).
//! - [`SchedulerDriver`]: subscribes, keeps the event stream, subscribes again with the
//!   framework's id after a disconnect (exponential backoff with jitter; several missed
//!   heartbeat intervals count as a disconnect), acknowledges status updates once their
//!   callback returns (or leaves it to the framework), and makes the framework's calls:
//!   launch, decline, kill, revive, suppress, reconcile, acknowledge, message, stop (with
//!   failover, or tearing the framework down), and reading a task's log.
//! - [`OfferPacker`] and [`fit`]: place task requests (cpu, RAM, disk, GPUs, named ports)
//!   into offers.
//!
//! Custom executors are not supported yet: Atoll runs every task's command under its own
//! executor, so there is no `Executor` trait or executor driver, and the scheduler refuses
//! [`SchedulerDriver::message`].
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

mod acks;
mod backoff;
mod config;
mod driver;
mod error;
mod offers;
mod scheduler;

pub use atoll_proto::v1;
pub use config::{DriverConfig, StopHandle};
pub use driver::{SchedulerDriver, Stopped};
pub use error::FrameworkError;
pub use offers::{OfferPacker, Packing, Placement, Strategy, TaskRequest, fit};
pub use scheduler::Scheduler;

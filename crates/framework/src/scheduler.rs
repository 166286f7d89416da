//! The [`Scheduler`] trait: what a framework does when the driver hears from the scheduler.
//! Each callback gets the [`SchedulerDriver`] to make calls with; the driver calls one at a
//! time, in the order the events came, and reads the next event only once the callback
//! returns, so a framework's state needs no locking. A callback that waits long delays
//! everything after it (heartbeats included, though time spent in a callback never counts
//! as missed heartbeats).

use std::future::Future;

use atoll_proto::v1::{Offer, TaskUpdate};

use crate::SchedulerDriver;

/// A framework's scheduler. Implement the callbacks with `async fn`; only
/// [`resource_offers`](Scheduler::resource_offers) and
/// [`status_update`](Scheduler::status_update) are required, the others do nothing by
/// default. Their futures must be `Send`, so that the driver can run on any tokio task.
pub trait Scheduler: Send {
    /// The driver's first subscription succeeded; `framework_id` is the framework's id (new,
    /// or the one [`DriverConfig::framework_id`](crate::DriverConfig::framework_id) resumed).
    fn registered(&mut self, driver: &mut SchedulerDriver, framework_id: &str) -> impl Future<Output = ()> + Send {
        let _ = (driver, framework_id);
        async {}
    }

    /// The driver subscribed again after a disconnect, as the same framework. Outstanding
    /// offers were lost with the old subscription; the scheduler sends every unacknowledged
    /// status update again. A good moment to [`reconcile`](SchedulerDriver::reconcile).
    fn reregistered(&mut self, driver: &mut SchedulerDriver, framework_id: &str) -> impl Future<Output = ()> + Send {
        let _ = (driver, framework_id);
        async {}
    }

    /// The subscription was lost (the stream ended or broke, or heartbeats stopped coming);
    /// the driver is subscribing again. Calls fail with
    /// [`NotSubscribed`](crate::FrameworkError::NotSubscribed) until it has.
    fn disconnected(&mut self, driver: &mut SchedulerDriver) -> impl Future<Output = ()> + Send {
        let _ = driver;
        async {}
    }

    /// Offers, each of one agent's free resources, for this framework alone until launched
    /// on, declined, rescinded or timed out. Launch on them or decline them: an offer kept
    /// idle holds resources others could use.
    fn resource_offers(&mut self, driver: &mut SchedulerDriver, offers: Vec<Offer>) -> impl Future<Output = ()> + Send;

    /// An offer is no longer valid (its agent went away, or it timed out); calls naming it
    /// will be refused.
    fn offer_rescinded(&mut self, driver: &mut SchedulerDriver, offer_id: &str) -> impl Future<Output = ()> + Send {
        let _ = (driver, offer_id);
        async {}
    }

    /// A task's state changed, or a reconciliation answered (no uuid). Updates come at least
    /// once: handle them so that a repeat does no harm. With implicit acknowledgements (the
    /// default) the driver acknowledges the update once this returns.
    fn status_update(&mut self, driver: &mut SchedulerDriver, update: TaskUpdate) -> impl Future<Output = ()> + Send;

    /// Data the custom executor of task `task_id`, on agent `agent_id`, sent
    /// ([`ExecutorDriver::message`](crate::ExecutorDriver::message)). Best effort, as Mesos'
    /// framework messages are: a message may be lost (a disconnect, a full stream), and none
    /// comes again.
    fn framework_message(
        &mut self,
        driver: &mut SchedulerDriver,
        task_id: &str,
        agent_id: &str,
        data: Vec<u8>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (driver, task_id, agent_id, data);
        async {}
    }

    /// An agent was lost; this framework's tasks there come as LOST updates.
    fn agent_lost(
        &mut self,
        driver: &mut SchedulerDriver,
        agent_id: &str,
        hostname: &str,
    ) -> impl Future<Output = ()> + Send {
        let _ = (driver, agent_id, hostname);
        async {}
    }

    /// The scheduler ended the framework (torn down, or replaced by a newer subscription of
    /// its id). The last callback: the driver then returns
    /// [`FrameworkError::Ended`](crate::FrameworkError::Ended).
    fn error(&mut self, driver: &mut SchedulerDriver, message: &str) -> impl Future<Output = ()> + Send {
        let _ = (driver, message);
        async {}
    }
}

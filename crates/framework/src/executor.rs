//! The [`Executor`] trait: what a custom executor does when Atoll's executor tells it something
//! over the executor API (`proto/atoll/v1/executor.proto`). A framework launches a task with
//! an executor command ([`TaskRequest::with_executor`](crate::TaskRequest::with_executor));
//! that command is the task's one process, and runs an [`ExecutorDriver`], which calls back
//! here. The driver calls one callback at a time, in the order the events came, and reads the
//! next event only once the callback returns, so an executor's state needs no locking; work
//! that takes long belongs on a task of its own, with a clone of the driver to report from.

use std::future::Future;
use std::time::Duration;

use atoll_proto::v1::{ExecutorLaunch, ExecutorSubscribed};

use crate::ExecutorDriver;

/// A framework's custom executor. Implement the callbacks with `async fn`; only
/// [`launch_task`](Executor::launch_task) and [`kill_task`](Executor::kill_task) are required,
/// the others do nothing by default. Their futures must be `Send`, so that the driver can run
/// on any tokio task.
///
/// The task's state is the executor's to report, with
/// [`ExecutorDriver::update`]: it is STARTING until the executor reports RUNNING, and it ends
/// when the executor reports FINISHED, FAILED or KILLED (after which Atoll's executor tells
/// it to shut down) or when the process exits.
pub trait Executor: Send {
    /// The driver subscribed: `info` names the framework, the agent, its hostname and the
    /// task's sandbox (the process's working directory). LAUNCH comes next.
    fn registered(&mut self, driver: &ExecutorDriver, info: ExecutorSubscribed) -> impl Future<Output = ()> + Send {
        let _ = (driver, info);
        async {}
    }

    /// The task to run: its id (the framework's), resources, the data the framework gave it
    /// ([`TaskRequest::data`](crate::TaskRequest::data)) and its ports. Report RUNNING once it
    /// runs ([`ExecutorDriver::update`]), and its end when it ends.
    fn launch_task(&mut self, driver: &ExecutorDriver, task: ExecutorLaunch) -> impl Future<Output = ()> + Send;

    /// The task is to stop (its framework killed it, or Atoll is killing it): report its end,
    /// KILLED as a rule, and exit within `grace`, after which the process is killed.
    fn kill_task(&mut self, driver: &ExecutorDriver, task_id: &str, grace: Duration)
    -> impl Future<Output = ()> + Send;

    /// Data from the task's framework
    /// ([`SchedulerDriver::message`](crate::SchedulerDriver::message)). Best effort: a message
    /// may be lost, and none comes again.
    fn framework_message(&mut self, driver: &ExecutorDriver, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        let _ = (driver, data);
        async {}
    }

    /// The update the driver sent with `uuid` (returned by [`ExecutorDriver::update`]) is
    /// recorded in the task's sandbox, from where the agent reports it: it is no longer among
    /// [`ExecutorDriver::unacknowledged`].
    fn acknowledged(&mut self, driver: &ExecutorDriver, task_id: &str, uuid: &str) -> impl Future<Output = ()> + Send {
        let _ = (driver, task_id, uuid);
        async {}
    }

    /// Exit within `grace`, after which the process is killed. The last callback: the driver's
    /// run then returns [`ExecutorEnd::Shutdown`](crate::ExecutorEnd::Shutdown).
    fn shutdown(&mut self, driver: &ExecutorDriver, grace: Duration) -> impl Future<Output = ()> + Send {
        let _ = (driver, grace);
        async {}
    }

    /// The event stream broke, or Atoll's executor did not follow the executor API. The last
    /// callback: the driver's run then returns the error.
    fn error(&mut self, driver: &ExecutorDriver, message: &str) -> impl Future<Output = ()> + Send {
        let _ = (driver, message);
        async {}
    }
}

//! How a driver is set up ([`DriverConfig`]): the scheduler's address and credentials, the
//! framework, how acknowledgements are sent, how heartbeats are watched and how reconnects
//! back off; and a [`StopHandle`] to stop a running driver from outside its callbacks (on
//! Ctrl-C, say).

use std::time::Duration;

use atoll_proto::TlsIdentity;
use atoll_proto::v1::FrameworkInfo;
use tokio::sync::watch;

/// How a driver stops: leaving the framework registered for a later failover, or tearing it
/// down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Failover,
    Teardown,
}

impl Stop {
    pub(crate) fn new(failover: bool) -> Stop {
        if failover { Stop::Failover } else { Stop::Teardown }
    }
}

/// Everything [`SchedulerDriver::run`](crate::SchedulerDriver::run) needs, built up from
/// [`DriverConfig::new`].
pub struct DriverConfig {
    pub(crate) scheduler: String,
    pub(crate) info: FrameworkInfo,
    pub(crate) framework_id: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) ca_pem: Option<Vec<u8>>,
    pub(crate) identity: Option<TlsIdentity>,
    pub(crate) suppressed: bool,
    pub(crate) explicit_acknowledgements: bool,
    pub(crate) missed_heartbeats: u32,
    pub(crate) first_backoff: Duration,
    pub(crate) most_backoff: Duration,
    pub(crate) give_up_after: Option<Duration>,
    pub(crate) call_timeout: Duration,
    pub(crate) stop: watch::Sender<Option<Stop>>,
}

impl DriverConfig {
    /// A driver for framework `info` at the scheduler `scheduler` (`http://HOST:PORT`, or
    /// `https://` with [`ca_certificate`](DriverConfig::ca_certificate)), registering a new
    /// framework, with implicit acknowledgements, a subscription taken as lost after 5 missed
    /// heartbeats, reconnects backing off from 0.5 s to 15 s and tried for ever, and calls
    /// given 30 s.
    pub fn new(scheduler: impl Into<String>, info: FrameworkInfo) -> DriverConfig {
        DriverConfig {
            scheduler: scheduler.into(),
            info,
            framework_id: None,
            token: None,
            ca_pem: None,
            identity: None,
            suppressed: false,
            explicit_acknowledgements: false,
            missed_heartbeats: 5,
            first_backoff: Duration::from_millis(500),
            most_backoff: Duration::from_secs(15),
            give_up_after: None,
            call_timeout: Duration::from_secs(30),
            stop: watch::Sender::new(None),
        }
    }

    /// Resumes the framework `id` (from an earlier run's [`Stopped`](crate::Stopped) or
    /// `registered`): its tasks, if it is still within its failover timeout, are its again.
    pub fn framework_id(mut self, id: impl Into<String>) -> DriverConfig {
        self.framework_id = Some(id.into());
        self
    }

    /// Sends `token` on every call (`authorization: Bearer TOKEN`).
    pub fn token(mut self, token: impl Into<String>) -> DriverConfig {
        self.token = Some(token.into());
        self
    }

    /// Checks an `https://` scheduler's certificate against this CA certificate (PEM).
    pub fn ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> DriverConfig {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Presents this client certificate to an `https://` scheduler, which names the caller
    /// from it when no token is sent.
    pub fn identity(mut self, identity: TlsIdentity) -> DriverConfig {
        self.identity = Some(identity);
        self
    }

    /// Subscribes suppressed: no offers until the framework revives.
    pub fn subscribe_suppressed(mut self) -> DriverConfig {
        self.suppressed = true;
        self
    }

    /// Leaves acknowledging status updates to the framework
    /// ([`SchedulerDriver::acknowledge`](crate::SchedulerDriver::acknowledge)), say once it has
    /// recorded them durably; by default the driver acknowledges each update with a uuid once
    /// `status_update` returns.
    pub fn explicit_acknowledgements(mut self) -> DriverConfig {
        self.explicit_acknowledgements = true;
        self
    }

    /// Takes the subscription as lost after `count` heartbeat intervals without any event (at
    /// least 1; 5 by default, as Mesos advises).
    pub fn missed_heartbeats(mut self, count: u32) -> DriverConfig {
        self.missed_heartbeats = count.max(1);
        self
    }

    /// Waits from `first` to about `most` between attempts to subscribe, doubling after each
    /// failure, each lengthened by a random part of up to itself (Atoll's `atoll-retry`).
    pub fn reconnect_backoff(mut self, first: Duration, most: Duration) -> DriverConfig {
        self.first_backoff = first;
        self.most_backoff = most;
        self
    }

    /// Gives up (with [`FrameworkError::Unreachable`](crate::FrameworkError::Unreachable)) once
    /// no subscription could be had for `limit`; by default the driver keeps trying.
    pub fn give_up_after(mut self, limit: Duration) -> DriverConfig {
        self.give_up_after = Some(limit);
        self
    }

    /// How long each call (Accept, Decline, …) may take; 30 s by default. The event stream and
    /// log reads have no such limit.
    pub fn call_timeout(mut self, timeout: Duration) -> DriverConfig {
        self.call_timeout = timeout;
        self
    }

    /// A handle that stops the driver once it runs (or at once, if stopped before).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }
}

/// Stops a running driver from outside its callbacks, as
/// [`SchedulerDriver::stop`](crate::SchedulerDriver::stop) does from inside one: the driver
/// finishes the callback under way, then stops.
#[derive(Clone, Debug)]
pub struct StopHandle(watch::Sender<Option<Stop>>);

impl StopHandle {
    /// Stops the driver; with `failover` the framework stays registered (its tasks run on,
    /// for its failover timeout), without it the framework is torn down (its tasks killed).
    /// The first stop asked for is the one that counts.
    pub fn stop(&self, failover: bool) {
        self.0.send_if_modified(|stop| {
            let first = stop.is_none();
            if first {
                *stop = Some(Stop::new(failover));
            }
            first
        });
    }
}

/// Shown without its token: a config printed in a log must not give the framework's secret away.
impl std::fmt::Debug for DriverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverConfig")
            .field("scheduler", &self.scheduler)
            .field("info", &self.info)
            .field("framework_id", &self.framework_id)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("ca_pem", &self.ca_pem.is_some())
            .field("identity", &self.identity)
            .field("suppressed", &self.suppressed)
            .field("explicit_acknowledgements", &self.explicit_acknowledgements)
            .field("missed_heartbeats", &self.missed_heartbeats)
            .field("first_backoff", &self.first_backoff)
            .field("most_backoff", &self.most_backoff)
            .field("give_up_after", &self.give_up_after)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_shown_in_a_log_hides_its_token() {
        let info = FrameworkInfo { name: "fw".into(), role: "r".into(), failover_timeout_secs: None };
        let shown = format!("{:?}", DriverConfig::new("http://127.0.0.1:7070", info).token("s3cret-token"));
        assert!(!shown.contains("s3cret-token") && shown.contains("token: Some(\"(set)\")"), "{shown}");
    }
}

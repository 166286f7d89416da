//! Waking a waiting command when something happens, instead of asking the scheduler over and
//! over: at each event the scheduler's event stream brings of the jobs the command watches. A
//! scheduler without the stream (older than it), or a stream that broke, is asked again every
//! fallback interval instead.

use std::time::Duration;

use atoll_client::{Events, SchedulerClient};
use atoll_model::event::{ClusterEvent, EventFilter};

pub struct Wakeups {
    events: Option<Events>,
    fallback: Duration,
}

impl Wakeups {
    /// Subscribes to the new events `filter` takes; once this returns, none is missed.
    pub async fn subscribe(client: &SchedulerClient, filter: &EventFilter, fallback: Duration) -> Wakeups {
        let events = match client.events(filter, None, true).await {
            Ok(events) => Some(events),
            Err(error) => {
                tracing::debug!(%error, "no event stream; looking every {fallback:?}");
                None
            }
        };
        Wakeups { events, fallback }
    }

    /// Waits for the next event, at most `at_most`: the event, or `None` when the time was up
    /// first.
    pub async fn next(&mut self, at_most: Duration) -> Option<ClusterEvent> {
        let Some(events) = &mut self.events else {
            tokio::time::sleep(at_most.min(self.fallback)).await;
            return None;
        };
        match tokio::time::timeout(at_most, events.next()).await {
            Ok(Ok(Some(event))) => Some(event),
            Ok(Ok(None) | Err(_)) => {
                tracing::debug!("the event stream ended; looking every {:?}", self.fallback);
                self.events = None;
                None
            }
            Err(_) => None,
        }
    }
}

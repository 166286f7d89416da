//! The scheduler's event stream: the events kept from an index on, and new ones as they come.

use atoll_model::event::{ClusterEvent, EventFilter};
use atoll_proto::v1::{self, event_service_client::EventServiceClient};

use crate::{ClientError, SchedulerClient};

/// Events as they arrive.
pub struct Events {
    address: String,
    stream: tonic::Streaming<v1::Event>,
    oldest_kept: Option<u64>,
}

impl Events {
    /// The oldest event the scheduler kept when the stream began (none when it kept none): a
    /// stream asked to start before it starts there.
    pub fn oldest_kept(&self) -> Option<u64> {
        self.oldest_kept
    }

    /// The next event, or `None` once the stream has ended (without `follow`, after the kept
    /// events; with it, when the scheduler stops).
    pub async fn next(&mut self) -> Result<Option<ClusterEvent>, ClientError> {
        match self.stream.message().await {
            Ok(None) => Ok(None),
            Ok(Some(event)) => {
                ClusterEvent::try_from(&event).map(Some).map_err(|e| ClientError::Malformed(format!("an event: {e}")))
            }
            Err(status) => Err(ClientError::from_status(&self.address, &status)),
        }
    }
}

impl SchedulerClient {
    /// Subscribes to the events `filter` takes: the kept ones from index `from` on (none: only
    /// new ones), then, with `follow`, each new one. Once this returns, every later event is on
    /// its way.
    pub async fn events(&self, filter: &EventFilter, from: Option<u64>, follow: bool) -> Result<Events, ClientError> {
        // A followed stream lasts as long as the caller wants: no call deadline.
        let channel = crate::connect_channel(&self.address, None, &self.credentials).await?;
        let request = atoll_proto::subscribe_request(filter, from, follow);
        let response = EventServiceClient::new(channel).subscribe(request).await.map_err(|s| self.api_error(s))?;
        let oldest_kept =
            response.metadata().get(atoll_proto::OLDEST_EVENT_HEADER).and_then(|v| v.to_str().ok()?.parse().ok());
        Ok(Events { address: self.address.clone(), stream: response.into_inner(), oldest_kept })
    }
}

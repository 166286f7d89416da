//! `atoll.v1.EventService`: the event stream. Each subscriber gets the kept events it asked for
//! from the state's journal, then every new one from the control plane's broadcast, in index
//! order, none twice. A subscriber that reads slowly never slows the scheduler: the broadcast
//! drops what it has not read, and its task fills the gap from the journal, which keeps the
//! newest `atoll_state::EVENTS_KEPT`.

use std::pin::Pin;
use std::sync::Arc;

use atoll_model::event::{ClusterEvent, EventFilter};
use atoll_proto::v1;
use atoll_proto::v1::event_service_server::{EventService, EventServiceServer};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::core::ControlPlane;
use crate::scheduler_api::wire_status;

/// Events a subscriber's stream holds before its task waits for the client to read.
const STREAM_BUFFER: usize = 256;

pub(crate) struct EventsApi {
    control_plane: ControlPlane,
}

/// The service, ready to serve.
pub(crate) fn service(control_plane: ControlPlane) -> EventServiceServer<EventsApi> {
    EventServiceServer::new(EventsApi { control_plane })
}

type EventStream = Pin<Box<dyn Stream<Item = Result<v1::Event, Status>> + Send>>;

#[tonic::async_trait]
impl EventService for EventsApi {
    type SubscribeStream = EventStream;

    async fn subscribe(&self, request: Request<v1::SubscribeRequest>) -> Result<Response<EventStream>, Status> {
        let request = request.into_inner();
        let filter = atoll_proto::event_filter(&request).map_err(wire_status)?;
        let (backlog, next, oldest, live) = self.control_plane.subscribe_events(request.from_index, &filter);
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let control_plane = self.control_plane.clone();
        control_plane.metrics().subscribers(1);
        tokio::spawn(async move {
            let mut feed = Feed { control_plane, filter, sender, next };
            for event in &backlog {
                if !feed.send(event).await {
                    return;
                }
            }
            if request.follow {
                feed.follow(live).await;
            }
        });
        let mut response: Response<EventStream> = Response::new(Box::pin(ReceiverStream::new(receiver)));
        if let Some(oldest) = oldest {
            response.metadata_mut().insert(atoll_proto::OLDEST_EVENT_HEADER, oldest.into());
        }
        Ok(response)
    }
}

/// One subscriber's side: what it wants, where it stands, and its stream.
struct Feed {
    control_plane: ControlPlane,
    filter: EventFilter,
    sender: mpsc::Sender<Result<v1::Event, Status>>,
    /// The index of the next event the subscriber has not been offered.
    next: u64,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.control_plane.metrics().subscribers(-1);
    }
}

impl Feed {
    /// Offers `event`; false once the subscriber has gone away.
    async fn send(&mut self, event: &ClusterEvent) -> bool {
        self.next = self.next.max(event.index + 1);
        !self.filter.matches(event) || self.sender.send(Ok(v1::Event::from(event))).await.is_ok()
    }

    /// Passes on every new event until the subscriber goes away or the scheduler stops.
    async fn follow(&mut self, mut live: broadcast::Receiver<Arc<ClusterEvent>>) {
        loop {
            // A subscriber that went away is noticed at once, not at the next event it wants.
            let received = tokio::select! {
                () = self.sender.closed() => return,
                received = live.recv() => received,
            };
            let gap_to = match received {
                Ok(event) if event.index < self.next => continue,
                Ok(event) if event.index == self.next => {
                    if !self.send(&event).await {
                        return;
                    }
                    continue;
                }
                // Events the broadcast dropped: read them from the journal, then go on.
                Ok(event) => Some(event),
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            // Every event is offered (the filter is applied on sending), so `next` moves past
            // the ones this subscriber does not want too.
            let every = EventFilter::cluster(&self.filter.jobs.cluster);
            let missed = self.control_plane.events_since(self.next, &every);
            if let Some(oldest) = missed.first().map(|e| e.index).filter(|oldest| *oldest > self.next) {
                // Fallen behind what is kept: say so rather than skip events unseen.
                let message = format!(
                    "this subscriber fell behind: events {} to {} are no longer kept; subscribe again from {oldest}",
                    self.next,
                    oldest - 1
                );
                let _ = self.sender.send(Err(Status::data_loss(message))).await;
                return;
            }
            for missed in missed {
                if gap_to.as_ref().is_some_and(|until| missed.index >= until.index) {
                    break;
                }
                if !self.send(&missed).await {
                    return;
                }
            }
            if let Some(event) = gap_to
                && !self.send(&event).await
            {
                return;
            }
        }
    }
}

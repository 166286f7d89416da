//! The embedded registry (`atoll_announce::Registry`) served as `atoll.v1.RegistryService`, so
//! clusters without ZooKeeper still have ServerSets. One lock guards the registry; a loop
//! expires sessions that were not kept alive; watchers wake on every change.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use atoll_announce::{CreateMode, Registry, RegistryError, RegistryEvent, SessionId};
use atoll_proto::v1::{self, registry_service_server::RegistryService};
use tokio::sync::{Notify, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::Clock;

/// How often sessions are checked for expiry.
const EXPIRY_INTERVAL: Duration = Duration::from_millis(200);
/// The longest and shortest session timeouts a client may ask for.
const SESSION_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1_000..=120_000;

struct Shared {
    registry: Mutex<Registry>,
    changed: Notify,
    clock: Arc<dyn Clock>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `change` on the registry and wakes every watcher.
    fn change<T>(&self, change: impl FnOnce(&mut Registry, u64) -> Result<T, RegistryError>) -> Result<T, Status> {
        let now = self.clock.now_ms();
        let result = change(&mut self.lock(), now);
        self.changed.notify_waiters();
        result.map_err(status)
    }
}

fn status(e: RegistryError) -> Status {
    match e {
        RegistryError::InvalidPath(_) => Status::invalid_argument(e.to_string()),
        RegistryError::NodeExists(_) => Status::already_exists(e.to_string()),
        RegistryError::NoNode(_) | RegistryError::NoSession(_) => Status::not_found(e.to_string()),
        RegistryError::NotEmpty(_) | RegistryError::Lagged { .. } => Status::failed_precondition(e.to_string()),
    }
}

pub(crate) struct RegistryApi {
    shared: Arc<Shared>,
}

impl RegistryApi {
    /// An empty registry, with its session-expiry loop running until the runtime stops.
    pub(crate) fn start(clock: Arc<dyn Clock>) -> RegistryApi {
        let shared = Arc::new(Shared { registry: Mutex::new(Registry::default()), changed: Notify::new(), clock });
        let expiring = Arc::downgrade(&shared);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(EXPIRY_INTERVAL);
            loop {
                interval.tick().await;
                let Some(shared) = expiring.upgrade() else { return };
                let now = shared.clock.now_ms();
                let expired = shared.lock().expire_sessions(now);
                if !expired.is_empty() {
                    tracing::info!(sessions = expired.len(), "registry sessions expired");
                    shared.changed.notify_waiters();
                }
            }
        });
        RegistryApi { shared }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<v1::WatchEvent, Status>> + Send>>;

fn watch_event(sequence: u64, event: &RegistryEvent) -> v1::WatchEvent {
    let kind = match event {
        RegistryEvent::Created(_) => v1::WatchEventKind::Created,
        RegistryEvent::Changed(_) => v1::WatchEventKind::Changed,
        RegistryEvent::Deleted(_) => v1::WatchEventKind::Deleted,
    };
    v1::WatchEvent { sequence, kind: kind as i32, path: event.path().to_owned() }
}

#[tonic::async_trait]
impl RegistryService for RegistryApi {
    async fn open_session(
        &self,
        request: Request<v1::OpenSessionRequest>,
    ) -> Result<Response<v1::OpenSessionResponse>, Status> {
        crate::auth::caller(&request)?.must_be_agent("write to the registry")?;
        let timeout = request.into_inner().timeout_ms;
        if !SESSION_TIMEOUT_MS.contains(&timeout) {
            return Err(Status::invalid_argument(format!(
                "session timeout {timeout} ms is outside {}..={} ms",
                SESSION_TIMEOUT_MS.start(),
                SESSION_TIMEOUT_MS.end()
            )));
        }
        let session = self.shared.change(|registry, now| Ok(registry.open_session(timeout, now)))?;
        Ok(Response::new(v1::OpenSessionResponse { session_id: session.0 }))
    }

    async fn keep_alive(
        &self,
        request: Request<v1::KeepAliveRequest>,
    ) -> Result<Response<v1::KeepAliveResponse>, Status> {
        crate::auth::caller(&request)?.must_be_agent("write to the registry")?;
        let session = SessionId(request.into_inner().session_id);
        let now = self.shared.clock.now_ms();
        self.shared.lock().keep_alive(session, now).map_err(status)?;
        Ok(Response::new(v1::KeepAliveResponse {}))
    }

    async fn close_session(
        &self,
        request: Request<v1::CloseSessionRequest>,
    ) -> Result<Response<v1::CloseSessionResponse>, Status> {
        crate::auth::caller(&request)?.must_be_agent("write to the registry")?;
        let session = SessionId(request.into_inner().session_id);
        self.shared.change(|registry, _| {
            registry.close_session(session);
            Ok(())
        })?;
        Ok(Response::new(v1::CloseSessionResponse {}))
    }

    async fn create_node(
        &self,
        request: Request<v1::CreateNodeRequest>,
    ) -> Result<Response<v1::CreateNodeResponse>, Status> {
        crate::auth::caller(&request)?.must_be_agent("write to the registry")?;
        let request = request.into_inner();
        let mode = if request.ephemeral_sequential {
            CreateMode::EphemeralSequential(SessionId(request.session_id))
        } else {
            CreateMode::Persistent
        };
        let path = self.shared.change(|registry, _| registry.create(&request.path, &request.data, mode))?;
        Ok(Response::new(v1::CreateNodeResponse { path }))
    }

    async fn set_data(&self, request: Request<v1::SetDataRequest>) -> Result<Response<v1::SetDataResponse>, Status> {
        crate::auth::caller(&request)?.must_be_agent("write to the registry")?;
        let request = request.into_inner();
        self.shared.change(|registry, _| registry.set_data(&request.path, &request.data))?;
        Ok(Response::new(v1::SetDataResponse {}))
    }

    async fn delete_node(
        &self,
        request: Request<v1::DeleteNodeRequest>,
    ) -> Result<Response<v1::DeleteNodeResponse>, Status> {
        crate::auth::caller(&request)?.must_be_agent("write to the registry")?;
        let path = request.into_inner().path;
        self.shared.change(|registry, _| registry.delete(&path))?;
        Ok(Response::new(v1::DeleteNodeResponse {}))
    }

    async fn get_node(&self, request: Request<v1::GetNodeRequest>) -> Result<Response<v1::GetNodeResponse>, Status> {
        let path = request.into_inner().path;
        let registry = self.shared.lock();
        let data = registry.get(&path).ok_or_else(|| status(RegistryError::NoNode(path.clone())))?;
        let owner = registry.owner(&path).map_or(0, |s| s.0);
        Ok(Response::new(v1::GetNodeResponse { data: data.to_vec(), owner_session_id: owner }))
    }

    async fn get_children(
        &self,
        request: Request<v1::GetChildrenRequest>,
    ) -> Result<Response<v1::GetChildrenResponse>, Status> {
        let path = request.into_inner().path;
        let names = self.shared.lock().children(&path).map_err(status)?;
        Ok(Response::new(v1::GetChildrenResponse { names }))
    }

    type WatchStream = WatchStream;

    async fn watch(&self, request: Request<v1::WatchRequest>) -> Result<Response<WatchStream>, Status> {
        let path = request.into_inner().path;
        if !path.starts_with('/') {
            return Err(Status::invalid_argument(format!("invalid path '{path}': paths start with '/'")));
        }
        let shared = self.shared.clone();
        let (sender, receiver) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut from = shared.lock().next_event();
            loop {
                let notified = shared.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let (events, resync) = {
                    let registry = shared.lock();
                    match registry.events_since(from, &path) {
                        Ok(events) => (events, false),
                        Err(_) => (Vec::new(), true),
                    }
                };
                if resync {
                    from = shared.lock().next_event();
                    let event =
                        v1::WatchEvent { sequence: from, kind: v1::WatchEventKind::Resync as i32, path: path.clone() };
                    if sender.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                for (sequence, event) in &events {
                    if sender.send(Ok(watch_event(*sequence, event))).await.is_err() {
                        return;
                    }
                    from = sequence + 1;
                }
                tokio::select! {
                    () = notified => {}
                    () = sender.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

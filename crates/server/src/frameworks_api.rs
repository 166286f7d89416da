//! `atoll.v1.FrameworkService`: other frameworks' way in, as Mesos' v1 scheduler API. A
//! subscription is a server stream: SUBSCRIBED first, then what the state machine tells the
//! framework (offers, rescinds, status updates, lost agents) once it is durable, and a heartbeat
//! every [`HEARTBEAT`]. Every other call names the framework and its subscription's stream id;
//! the state machine refuses a call from a subscription that was replaced. A stream that ends
//! (the framework went away, or read too slowly and its buffer filled) disconnects the
//! framework, which keeps its tasks for its failover timeout.

use std::pin::Pin;
use std::time::Duration;

use atoll_proto::v1;
use atoll_proto::v1::framework_service_server::{FrameworkService, FrameworkServiceServer};
use atoll_state::{
    ClusterState, FrameworkError, FrameworkEvent, FrameworkView, Launch, OfferMade, StateError, Subscription,
    TaskUpdate,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::auth::{Caller, caller};
use crate::core::{ControlPlane, CoreError};
use crate::scheduler_api::core_status;

/// How often a subscribed framework hears a heartbeat.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(15);

/// Events a subscription's stream holds for a framework that has not read them; past it the
/// framework is disconnected (it subscribes again and is sent what it has not acknowledged).
/// Each task has one update in flight at most, so a framework's backlog is about one event per
/// task kept, plus offers.
pub(crate) const FRAMEWORK_BUFFER: usize = 65_536;

/// Declined resources stay hidden this long when the decline names no `refuse_seconds`
/// (Mesos' 5 s keeps offers cycling among frameworks that do not want them).
const DECLINE_REFUSE_SECONDS: f64 = 60.0;

/// What an accept's tasks leave unused stays hidden this long when it names none.
const ACCEPT_REFUSE_SECONDS: f64 = atoll_allocator::DEFAULT_REFUSE_SECONDS;

pub(crate) type FrameworkSender = mpsc::Sender<Result<v1::FrameworkEvent, Status>>;

pub(crate) struct FrameworksApi {
    control_plane: ControlPlane,
}

/// The service, ready to serve.
pub(crate) fn service(control_plane: ControlPlane) -> FrameworkServiceServer<FrameworksApi> {
    FrameworkServiceServer::new(FrameworksApi { control_plane })
}

type EventStream = Pin<Box<dyn Stream<Item = Result<v1::FrameworkEvent, Status>> + Send>>;

/// The status of a refused framework call.
pub(crate) fn refusal_status(refusal: FrameworkError) -> Status {
    let message = refusal.to_string();
    match refusal {
        FrameworkError::NotFound(_) | FrameworkError::TaskNotFound { .. } => Status::not_found(message),
        FrameworkError::NotSubscribed(_)
        | FrameworkError::StaleStream(_)
        | FrameworkError::RoleChange { .. }
        | FrameworkError::Offer(_)
        | FrameworkError::Builtin(_)
        | FrameworkError::NoExecutor(_) => Status::failed_precondition(message),
        FrameworkError::Invalid(_) => Status::invalid_argument(message),
    }
}

/// Seconds from the wire: finite and not negative.
fn seconds(value: f64, what: &str) -> Result<f64, Status> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(Status::invalid_argument(format!("{what} must be a number of seconds, 0 or more, not {value}")))
    }
}

/// Random hex digits from the standard library's per-process random keys and the clock: for
/// ids that must not repeat, not for secrets.
fn random_hex(digits: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    let mut round = 0u64;
    while out.len() < digits {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(round);
        hasher.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
        );
        out.push_str(&format!("{:016x}", hasher.finish()));
        round += 1;
    }
    out.truncate(digits);
    out
}

impl FrameworksApi {
    /// A call of a subscribed framework: its role is the caller's to manage, the change is
    /// made through the control plane and recorded in the audit log.
    async fn call<T>(
        &self,
        caller: &Caller,
        call: Option<v1::FrameworkCall>,
        name: &str,
        f: impl FnOnce(&mut ClusterState, &str, &str, u64) -> Result<(T, atoll_state::Outcome), StateError>,
    ) -> Result<T, Status> {
        let call = call.ok_or_else(|| Status::invalid_argument("call is required: framework_id and stream_id"))?;
        if call.framework_id.is_empty() || call.stream_id.is_empty() {
            return Err(Status::invalid_argument(
                "call needs framework_id and the stream_id its subscription was given",
            ));
        }
        let role = self.control_plane.read(|state| state.framework_role(&call.framework_id).map(str::to_owned));
        let Some(role) = role else {
            return Err(core_status(CoreError::Refused(FrameworkError::NotFound(call.framework_id).into())));
        };
        let result = match caller.may_act_for(&role, "call for a framework of") {
            Ok(()) => self
                .control_plane
                .mutate(|state, now| f(state, &call.framework_id, &call.stream_id, now))
                .await
                .map_err(core_status),
            Err(refused) => Err(refused),
        };
        self.control_plane.audit(caller, name, &call.framework_id, &result);
        result
    }
}

#[tonic::async_trait]
impl FrameworkService for FrameworksApi {
    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<v1::FrameworkSubscribeRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let info =
            request.info.ok_or_else(|| Status::invalid_argument("info is required: the framework's name and role"))?;
        let failover_timeout_ms = match info.failover_timeout_secs {
            Some(secs) => Some((seconds(secs, "failover_timeout_secs")?.min(365.0 * 24.0 * 3600.0) * 1000.0) as u64),
            None => None,
        };
        let framework_id = (!request.framework_id.is_empty()).then(|| request.framework_id.clone());
        let subscription = Subscription {
            framework_id: framework_id.clone(),
            name: info.name.clone(),
            role: info.role.clone(),
            failover_timeout_ms,
            principal: caller.name().to_owned(),
            suppressed: request.suppressed,
        };
        // The rest (name, role, a known id in that role) the state machine checks.
        if let Err(refused) = caller.may_act_for(&info.role, "subscribe a framework in") {
            self.control_plane.audit(&caller, "SubscribeFramework", &info.name, &Err::<(), _>(refused.clone()));
            return Err(refused);
        }
        let new_id = format!("{}-{}", info.name, random_hex(8));
        let id = framework_id.clone().unwrap_or_else(|| new_id.clone());
        let stream_id = random_hex(16);
        let (sender, receiver) = mpsc::channel(FRAMEWORK_BUFFER);
        let subscribed = v1::FrameworkEvent {
            event: Some(v1::framework_event::Event::Subscribed(v1::Subscribed {
                framework_id: id.clone(),
                stream_id: stream_id.clone(),
                heartbeat_interval_secs: HEARTBEAT.as_secs_f64(),
                resubscribed: framework_id.is_some(),
                offer_timeout_secs: self.control_plane.config().state.frameworks.offer_timeout_ms as f64 / 1000.0,
            })),
        };
        // The first event, before anything the subscription lets go can be.
        let _ = sender.try_send(Ok(subscribed));
        // The stream takes over only once the state machine took the subscription (under its
        // lock, so before anything the subscription lets go): a refused one replaces nothing.
        let links = self.control_plane.clone();
        let result = self
            .control_plane
            .mutate(|state, now| {
                let made = state.subscribe_framework(subscription, &new_id, &stream_id, now)?;
                links.open_framework_link(&id, &stream_id, sender);
                Ok(made)
            })
            .await
            .map_err(core_status);
        self.control_plane.audit(&caller, "SubscribeFramework", &id, &result);
        if let Err(failed) = result {
            self.control_plane.close_framework_link(&id, &stream_id);
            if !matches!(
                failed.code(),
                tonic::Code::InvalidArgument | tonic::Code::NotFound | tonic::Code::FailedPrecondition
            ) {
                // Not refused: the subscription may yet be made (a slow flush); it is ended
                // then, so the framework is not left subscribed to a stream no one reads.
                let control_plane = self.control_plane.clone();
                tokio::spawn(async move {
                    let ended =
                        |state: &mut ClusterState, now| Ok(((), state.framework_disconnected(&id, &stream_id, now)));
                    if let Err(e) = control_plane.mutate(ended).await {
                        tracing::error!(framework = %id, error = %e, "ending a failed subscription failed");
                    }
                });
            }
            return Err(failed);
        }
        tracing::info!(framework = %id, role = %info.role, resubscribed = framework_id.is_some(), "framework subscribed");
        tokio::spawn(self.control_plane.clone().watch_framework_link(id, stream_id));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn accept(&self, request: Request<v1::AcceptRequest>) -> Result<Response<v1::AcceptResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let refuse = seconds(request.refuse_seconds.unwrap_or(ACCEPT_REFUSE_SECONDS), "refuse_seconds")?;
        let launches = request.tasks.iter().map(launch_from_wire).collect::<Result<Vec<_>, Status>>()?;
        let offers = request.offer_ids;
        let ids = self
            .call(&caller, request.call, "AcceptOffers", |state, framework, stream, now| {
                state.accept_offers(framework, stream, &offers, launches, refuse, now)
            })
            .await?;
        Ok(Response::new(v1::AcceptResponse { atoll_task_ids: ids.into_iter().map(|id| id.0).collect() }))
    }

    async fn decline(&self, request: Request<v1::DeclineRequest>) -> Result<Response<v1::DeclineResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let refuse = seconds(request.refuse_seconds.unwrap_or(DECLINE_REFUSE_SECONDS), "refuse_seconds")?;
        let offers = request.offer_ids;
        self.call(&caller, request.call, "DeclineOffers", |state, framework, stream, now| {
            state.decline_offers(framework, stream, &offers, refuse, now)
        })
        .await?;
        Ok(Response::new(v1::DeclineResponse {}))
    }

    async fn revive(&self, request: Request<v1::FrameworkCall>) -> Result<Response<v1::FrameworkCallResponse>, Status> {
        let caller = caller(&request)?;
        self.call(&caller, Some(request.into_inner()), "Revive", |state, framework, stream, _| {
            state.revive_framework(framework, stream, true)
        })
        .await?;
        Ok(Response::new(v1::FrameworkCallResponse {}))
    }

    async fn suppress(
        &self,
        request: Request<v1::FrameworkCall>,
    ) -> Result<Response<v1::FrameworkCallResponse>, Status> {
        let caller = caller(&request)?;
        self.call(&caller, Some(request.into_inner()), "Suppress", |state, framework, stream, _| {
            state.revive_framework(framework, stream, false)
        })
        .await?;
        Ok(Response::new(v1::FrameworkCallResponse {}))
    }

    async fn kill(
        &self,
        request: Request<v1::FrameworkKillRequest>,
    ) -> Result<Response<v1::FrameworkCallResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let task = request.task_id;
        self.call(&caller, request.call, "KillFrameworkTask", |state, framework, stream, now| {
            state.kill_framework_task(framework, stream, &task, now)
        })
        .await?;
        Ok(Response::new(v1::FrameworkCallResponse {}))
    }

    async fn acknowledge(
        &self,
        request: Request<v1::AcknowledgeRequest>,
    ) -> Result<Response<v1::FrameworkCallResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let (task, uuid) = (request.task_id, request.uuid);
        self.call(&caller, request.call, "Acknowledge", |state, framework, stream, _| {
            state.acknowledge_update(framework, stream, &task, &uuid)
        })
        .await?;
        Ok(Response::new(v1::FrameworkCallResponse {}))
    }

    async fn reconcile(
        &self,
        request: Request<v1::ReconcileRequest>,
    ) -> Result<Response<v1::FrameworkCallResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let tasks = request.task_ids;
        self.call(&caller, request.call, "Reconcile", |state, framework, stream, now| {
            state.reconcile_tasks(framework, stream, &tasks, now)
        })
        .await?;
        Ok(Response::new(v1::FrameworkCallResponse {}))
    }

    async fn message(
        &self,
        request: Request<v1::FrameworkMessageRequest>,
    ) -> Result<Response<v1::FrameworkCallResponse>, Status> {
        let caller = caller(&request)?;
        let request = request.into_inner();
        let (task, data) = (request.task_id, request.data);
        self.call(&caller, request.call, "FrameworkMessage", |state, framework, stream, _| {
            state.executor_message(framework, stream, &task, data)
        })
        .await?;
        Ok(Response::new(v1::FrameworkCallResponse {}))
    }

    async fn teardown(
        &self,
        request: Request<v1::TeardownRequest>,
    ) -> Result<Response<v1::FrameworkCallResponse>, Status> {
        let caller = caller(&request)?;
        let call =
            request.into_inner().call.ok_or_else(|| Status::invalid_argument("call is required: framework_id"))?;
        if call.stream_id.is_empty() {
            // An operator's teardown.
            let id = call.framework_id;
            let role = self.control_plane.read(|state| state.framework_role(&id).map(str::to_owned));
            let Some(role) = role else {
                return Err(core_status(CoreError::Refused(FrameworkError::NotFound(id).into())));
            };
            let message = format!("Torn down by {}", caller.name());
            let result = match caller.may_act_for(&role, "tear down a framework of") {
                Ok(()) => self
                    .control_plane
                    .mutate(|state, now| state.teardown_framework(&id, None, &message, now))
                    .await
                    .map_err(core_status),
                Err(refused) => Err(refused),
            };
            self.control_plane.audit(&caller, "TeardownFramework", &id, &result);
            result?;
        } else {
            self.call(&caller, Some(call), "TeardownFramework", |state, framework, stream, now| {
                state.teardown_framework(framework, Some(stream), "Torn down by the framework", now)
            })
            .await?;
        }
        Ok(Response::new(v1::FrameworkCallResponse {}))
    }

    async fn list_frameworks(
        &self,
        _request: Request<v1::ListFrameworksRequest>,
    ) -> Result<Response<v1::ListFrameworksResponse>, Status> {
        let frameworks = self.control_plane.read(|state| state.frameworks());
        Ok(Response::new(v1::ListFrameworksResponse { frameworks: frameworks.iter().map(summary_to_wire).collect() }))
    }

    async fn get_framework(
        &self,
        request: Request<v1::GetFrameworkRequest>,
    ) -> Result<Response<v1::GetFrameworkResponse>, Status> {
        let id = request.into_inner().framework_id;
        let found = self.control_plane.read(|state| {
            let view = state.framework_view(&id)?;
            let tasks: Vec<v1::FrameworkTask> = state.framework_tasks(&id).into_iter().map(task_to_wire).collect();
            Some((view, tasks))
        });
        let Some((view, tasks)) = found else {
            return Err(core_status(CoreError::Refused(FrameworkError::NotFound(id).into())));
        };
        Ok(Response::new(v1::GetFrameworkResponse {
            framework: Some(summary_to_wire(&view)),
            offers: view.offers.iter().map(offer_to_wire).collect(),
            tasks,
        }))
    }
}

fn launch_from_wire(task: &v1::TaskInfo) -> Result<Launch, Status> {
    let resources = task
        .resources
        .as_ref()
        .map(atoll_model::Resources::from)
        .ok_or_else(|| Status::invalid_argument(format!("task {} has no resources", task.task_id)))?;
    let ports = task
        .ports
        .iter()
        .map(|(name, port)| {
            u16::try_from(*port)
                .map(|p| (name.clone(), p))
                .map_err(|_| Status::invalid_argument(format!("task {}: port {port} is not a port", task.task_id)))
        })
        .collect::<Result<_, Status>>()?;
    Ok(Launch {
        task_id: task.task_id.clone(),
        resources,
        command: task.command.clone(),
        ports,
        environment: task.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        executor_command: task.executor_command.clone(),
        data: task.data.clone(),
    })
}

/// The wire form of what a framework is told.
pub(crate) fn event_to_wire(event: &FrameworkEvent) -> v1::FrameworkEvent {
    use v1::framework_event::Event;
    let event = match event {
        FrameworkEvent::Offers(offers) => {
            Event::Offers(v1::Offers { offers: offers.iter().map(offer_to_wire).collect() })
        }
        FrameworkEvent::Rescind { offer, reason } => {
            Event::Rescind(v1::Rescind { offer_id: offer.clone(), reason: reason.clone() })
        }
        FrameworkEvent::Update(update) => Event::Update(update_to_wire(update)),
        FrameworkEvent::AgentLost { agent, hostname } => {
            Event::Failure(v1::AgentFailure { agent_id: agent.0.clone(), hostname: hostname.clone() })
        }
        FrameworkEvent::Ended { message } => Event::Error(v1::FrameworkError { message: message.clone() }),
        FrameworkEvent::Message { task_id, agent, data } => Event::Message(v1::ExecutorMessage {
            task_id: task_id.clone(),
            agent_id: agent.0.clone(),
            data: data.clone(),
        }),
    };
    v1::FrameworkEvent { event: Some(event) }
}

fn offer_to_wire(offer: &OfferMade) -> v1::Offer {
    v1::Offer {
        id: offer.id.clone(),
        agent_id: offer.agent.0.clone(),
        hostname: offer.hostname.clone(),
        resources: Some(v1::Resources::from(&offer.resources)),
        ports: offer.ports.iter().map(|r| v1::PortRange { begin: r.begin.into(), end: r.end.into() }).collect(),
        attributes: offer.attributes.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

fn update_to_wire(update: &TaskUpdate) -> v1::TaskUpdate {
    v1::TaskUpdate {
        task_id: update.task_id.clone(),
        state: v1::TaskState::from(update.state) as i32,
        message: update.message.clone(),
        agent_id: update.agent.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
        hostname: update.hostname.clone(),
        uuid: update.uuid.clone().unwrap_or_default(),
        at_ms: update.at_ms,
        exit_code: update.exit_code,
        atoll_task_id: update.atoll_task_id.0.clone(),
        job: Some(v1::JobKey::from(&update.job)),
        instance: update.instance,
    }
}

fn summary_to_wire(view: &FrameworkView) -> v1::FrameworkSummary {
    v1::FrameworkSummary {
        id: view.id.clone(),
        name: view.name.clone(),
        role: view.role.clone(),
        weight: view.weight,
        builtin: view.builtin,
        connected: view.connected,
        disconnected_at_ms: view.disconnected_since_ms,
        failover_timeout_secs: view.failover_timeout_ms as f64 / 1000.0,
        registered_at_ms: view.registered_ms,
        allocated: Some(v1::Resources::from(&view.allocated)),
        offered: Some(v1::Resources::from(&view.offered)),
        dominant_share: view.dominant_share,
        offers_outstanding: view.offers.len() as u32,
        active_tasks: view.active_tasks as u32,
        suppressed: view.suppressed,
        principal: view.principal.clone(),
    }
}

fn task_to_wire(task: &atoll_model::ScheduledTask) -> v1::FrameworkTask {
    let assignment = task.assignment.as_ref();
    v1::FrameworkTask {
        task_id: atoll_model::framework::framework_task_id(&task.id, &task.job, task.instance),
        atoll_task_id: task.id.0.clone(),
        state: v1::TaskState::from(task.state) as i32,
        agent_id: assignment.map(|a| a.agent.0.clone()).unwrap_or_default(),
        hostname: assignment.map(|a| a.hostname.clone()).unwrap_or_default(),
        resources: Some(v1::Resources::from(&task.config.task.resources)),
        command: task.config.task.processes.first().map(|p| p.cmdline.clone()).unwrap_or_default(),
        job: Some(v1::JobKey::from(&task.job)),
        instance: task.instance,
        since_ms: task.since_ms(),
        message: task.events.last().map(|e| e.message.clone()).unwrap_or_default(),
    }
}

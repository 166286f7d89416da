//! The scheduler's metrics, in Prometheus' text format (docs/metrics.md lists them all).
//!
//! Two kinds: what the control plane counts as it goes (placement rounds, store commits, gRPC
//! calls, updates and cron runs that ended, event subscribers), kept in [`SchedulerMetrics`];
//! and what the state holds (tasks by job and state, pending tasks by reason, agents, hosts in
//! maintenance), counted from a [`Census`] at each scrape. Every label takes values from a
//! bounded set: states, reasons, known gRPC methods (anything else is `other`), jobs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use atoll_model::event::{ClusterEvent, EventDetail};
use atoll_state::Census;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FrameworkLabels {
    framework: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    /// Not `job`, which Prometheus gives every scraped sample (its scrape job).
    job_key: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: String,
}

type HistogramFamily = Family<MethodLabels, Histogram, fn() -> Histogram>;

/// What the control plane counts as it goes. Cloning shares the counts.
#[derive(Clone, Debug)]
pub struct SchedulerMetrics {
    inner: Arc<Counted>,
}

#[derive(Debug)]
struct Counted {
    round_seconds: Histogram,
    rounds: Counter,
    placed: Counter,
    unplaced: Gauge,
    commit_seconds: Histogram,
    commit_bytes: Counter,
    flush_seconds: Histogram,
    calls: Family<CallLabels, Counter>,
    call_seconds: HistogramFamily,
    updates_ended: Family<StateLabels, Counter>,
    cron_runs: Family<StateLabels, Counter>,
    subscribers: Gauge,
    webhook_delivered: Counter,
    webhook_dropped: Counter,
    /// The gRPC methods the scheduler serves, `/package.Service/Method`.
    methods: BTreeSet<String>,
}

fn latency_buckets() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl SchedulerMetrics {
    /// Counts for a scheduler serving `methods`.
    pub fn new(methods: BTreeSet<String>) -> SchedulerMetrics {
        SchedulerMetrics {
            inner: Arc::new(Counted {
                round_seconds: latency_buckets(),
                rounds: Counter::default(),
                placed: Counter::default(),
                unplaced: Gauge::default(),
                commit_seconds: latency_buckets(),
                commit_bytes: Counter::default(),
                flush_seconds: latency_buckets(),
                calls: Family::default(),
                call_seconds: Family::new_with_constructor(latency_buckets),
                updates_ended: Family::default(),
                cron_runs: Family::default(),
                subscribers: Gauge::default(),
                webhook_delivered: Counter::default(),
                webhook_dropped: Counter::default(),
                methods,
            }),
        }
    }

    /// A placement round that took `took`, placed `placed` tasks and left `unplaced` PENDING.
    pub(crate) fn placement_round(&self, took: Duration, placed: usize, unplaced: usize) {
        self.inner.round_seconds.observe(took.as_secs_f64());
        self.inner.rounds.inc();
        self.inner.placed.inc_by(placed as u64);
        self.inner.unplaced.set(i64::try_from(unplaced).unwrap_or(i64::MAX));
    }

    /// A change committed `took` after its write began (the wait for its group flush
    /// included), having written `bytes`.
    pub(crate) fn commit(&self, took: Duration, bytes: u64) {
        self.inner.commit_seconds.observe(took.as_secs_f64());
        self.inner.commit_bytes.inc_by(bytes);
    }

    /// A group flush (one fsync for every change written before it) that took `took`.
    pub(crate) fn flush(&self, took: Duration) {
        self.inner.flush_seconds.observe(took.as_secs_f64());
    }

    /// A gRPC call of `path` that answered `code` after `took`.
    pub(crate) fn call(&self, path: &str, code: &str, took: Duration) {
        let method = if self.inner.methods.contains(path) { path.to_owned() } else { "other".to_owned() };
        self.inner.calls.get_or_create(&CallLabels { method: method.clone(), code: code.to_owned() }).inc();
        self.inner.call_seconds.get_or_create(&MethodLabels { method }).observe(took.as_secs_f64());
    }

    /// An event made durable: updates and cron runs that ended are counted by how.
    pub(crate) fn event(&self, event: &ClusterEvent) {
        match &event.detail {
            EventDetail::Update { state, .. } if state.is_terminal() => {
                self.inner.updates_ended.get_or_create(&StateLabels { state: state.to_string() }).inc();
            }
            EventDetail::Cron { state, .. } if !state.is_open() => {
                self.inner.cron_runs.get_or_create(&StateLabels { state: state.name().to_owned() }).inc();
            }
            _ => {}
        }
    }

    /// An event subscriber came (`+1`) or went (`-1`).
    pub(crate) fn subscribers(&self, change: i64) {
        self.inner.subscribers.inc_by(change);
    }

    /// A webhook POST the receiver took.
    pub(crate) fn webhook_delivered(&self) {
        self.inner.webhook_delivered.inc();
    }

    /// Task state changes the webhook never delivered.
    pub(crate) fn webhook_dropped(&self, count: u64) {
        self.inner.webhook_dropped.inc_by(count);
    }

    /// Every metric, the counted ones and those of `census`, in the text format.
    pub fn render(&self, census: &Census) -> String {
        let mut registry = Registry::with_prefix("atoll");
        let c = &self.inner;
        registry.register_with_unit(
            "placement_round_duration",
            "Time a placement round took",
            Unit::Seconds,
            c.round_seconds.clone(),
        );
        registry.register("placement_rounds", "Placement rounds run", c.rounds.clone());
        registry.register("placement_tasks_placed", "Tasks placement rounds gave an agent", c.placed.clone());
        registry.register(
            "placement_tasks_unplaced",
            "PENDING tasks the last placement round could not place",
            c.unplaced.clone(),
        );
        registry.register_with_unit(
            "store_commit_duration",
            "Time from a change's write to its being durable, its group flush included",
            Unit::Seconds,
            c.commit_seconds.clone(),
        );
        registry.register_with_unit(
            "store_flush_duration",
            "Time a group flush took: one fsync for every change written before it (their count is commits over flushes)",
            Unit::Seconds,
            c.flush_seconds.clone(),
        );
        registry.register_with_unit("store_written", "Bytes store commits wrote", Unit::Bytes, c.commit_bytes.clone());
        registry.register("grpc_calls", "gRPC calls answered, by method and status code", c.calls.clone());
        registry.register_with_unit(
            "grpc_call_duration",
            "Time to a gRPC call's answer (to its first message, for streams), by method",
            Unit::Seconds,
            c.call_seconds.clone(),
        );
        registry.register("updates_ended", "Updates that ended, by their end state", c.updates_ended.clone());
        registry.register("cron_runs_ended", "Cron runs that ended or never ran, by how", c.cron_runs.clone());
        registry.register("event_subscribers", "Event stream subscribers connected", c.subscribers.clone());
        registry.register(
            "webhook_deliveries",
            "Task state changes the webhook receiver took",
            c.webhook_delivered.clone(),
        );
        registry.register(
            "webhook_dropped",
            "Webhook deliveries dropped: task state changes whose retries were spent, and events skipped when the webhook fell behind the events kept",
            c.webhook_dropped.clone(),
        );
        register_census(&mut registry, census);
        atoll_metrics::exposition(&registry)
    }
}

/// The state's counts as gauges.
fn register_census(registry: &mut Registry, census: &Census) {
    let tasks = Family::<TaskLabels, Gauge>::default();
    for ((job, state), count) in &census.tasks {
        tasks
            .get_or_create(&TaskLabels { job_key: job.to_string(), state: state.name().to_owned() })
            .set(gauge(*count));
    }
    registry.register("tasks", "Tasks kept, by job and state", tasks);
    let pending = Family::<ReasonLabels, Gauge>::default();
    for (reason, count) in &census.pending_by_reason {
        pending.get_or_create(&ReasonLabels { reason: reason.clone() }).set(gauge(*count));
    }
    registry.register("tasks_pending", "PENDING tasks not placed, by why (the reason's summary)", pending);
    let agents = Family::<StateLabels, Gauge>::default();
    agents.get_or_create(&StateLabels { state: "registered".into() }).set(gauge(census.agents_registered));
    agents.get_or_create(&StateLabels { state: "awaited".into() }).set(gauge(census.agents_awaited));
    registry.register("agents", "Agents: registered, or known from their tasks and not heard from yet", agents);
    let hosts = Family::<ModeLabels, Gauge>::default();
    for (mode, count) in &census.hosts_by_mode {
        hosts.get_or_create(&ModeLabels { mode: mode.to_string() }).set(gauge(*count));
    }
    registry.register("hosts_in_maintenance", "Hosts in a maintenance mode other than NONE, by mode", hosts);
    let connected = Family::<FrameworkLabels, Gauge>::default();
    let tasks = Family::<FrameworkLabels, Gauge>::default();
    let offers = Family::<FrameworkLabels, Gauge>::default();
    let shares = Family::<FrameworkLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for (framework, count) in &census.frameworks {
        let labels = FrameworkLabels { framework: framework.clone() };
        connected.get_or_create(&labels).set(i64::from(count.connected));
        tasks.get_or_create(&labels).set(gauge(count.active_tasks));
        offers.get_or_create(&labels).set(gauge(count.offers_outstanding));
        shares.get_or_create(&labels).set(count.dominant_share);
    }
    registry.register("framework_connected", "Whether each framework is subscribed (1) or away (0)", connected);
    registry.register("framework_tasks", "Each framework's tasks on agents", tasks);
    registry.register("framework_offers", "Each framework's outstanding offers", offers);
    registry.register(
        "framework_dominant_share",
        "Each framework's dominant share of the cluster (its tasks and offers), over its role's weight",
        shares,
    );
}

fn gauge(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Every gRPC method of `atoll.v1`, `/atoll.v1.Service/Method`, from the descriptor set.
pub(crate) fn served_methods() -> BTreeSet<String> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(atoll_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set is generated at build time and valid");
    let mut methods = BTreeSet::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                methods.insert(format!("/{}.{}/{}", file.package(), service.name(), method.name()));
            }
        }
    }
    methods
}

/// Counts every gRPC call the server answers, by method and status code, and times it: a
/// tower layer around the whole server. The code is the `grpc-status` of the response's headers
/// (where every refusal and error answer carries it) or OK; the time is to the response's
/// headers, which for a stream is its start.
#[derive(Clone, Debug)]
pub(crate) struct CallMetricsLayer {
    pub(crate) metrics: SchedulerMetrics,
}

impl<S> tower::Layer<S> for CallMetricsLayer {
    type Service = CallMetricsService<S>;

    fn layer(&self, inner: S) -> CallMetricsService<S> {
        CallMetricsService { inner, metrics: self.metrics.clone() }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct CallMetricsService<S> {
    inner: S,
    metrics: SchedulerMetrics,
}

type CallFuture<R, E> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<R, E>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for CallMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = CallFuture<http::Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let metrics = self.metrics.clone();
        let started = std::time::Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answered = answer.await;
            let code = match &answered {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|value| value.to_str().ok()?.parse::<i32>().ok())
                    .map_or("OK", |code| code_name(tonic::Code::from_i32(code))),
                Err(_) => "TRANSPORT_ERROR",
            };
            metrics.call(&path, code, started.elapsed());
            answered
        })
    }
}

/// A status code's name as gRPC spells it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use atoll_model::event::JobChange;
    use atoll_model::{TaskState, UpdateState};

    use super::*;

    #[test]
    fn counts_and_the_census_render_in_the_text_format_with_bounded_labels() {
        let methods = served_methods();
        assert!(methods.contains("/atoll.v1.SchedulerService/CreateJob"), "{methods:?}");
        assert!(methods.contains("/atoll.v1.EventService/Subscribe"));
        let metrics = SchedulerMetrics::new(methods);
        metrics.placement_round(Duration::from_millis(3), 2, 1);
        metrics.commit(Duration::from_millis(1), 512);
        metrics.call("/atoll.v1.SchedulerService/CreateJob", "OK", Duration::from_millis(2));
        metrics.call("/made.up/Path123", "UNIMPLEMENTED", Duration::from_millis(2));
        let job: atoll_model::JobKey = "devcluster/www-data/prod/web".parse().unwrap();
        let ended = ClusterEvent {
            index: 1,
            at_ms: 0,
            job: job.clone(),
            detail: EventDetail::Update { update: 1, state: UpdateState::RolledForward, message: String::new() },
        };
        metrics.event(&ended);
        let created = ClusterEvent {
            detail: EventDetail::Job { change: JobChange::Created, message: String::new() },
            ..ended.clone()
        };
        metrics.event(&created);
        let mut census = Census::default();
        census.tasks.insert((job, TaskState::Running), 3);
        census.pending_by_reason.insert("Insufficient: CPU".into(), 1);
        let fanout = atoll_state::FrameworkCount {
            connected: true,
            active_tasks: 4,
            offers_outstanding: 1,
            dominant_share: 0.25,
        };
        census.frameworks.insert("fanout-1".into(), fanout);
        let text = metrics.render(&census);
        for line in [
            "atoll_placement_tasks_placed_total 2",
            "atoll_store_written_bytes_total 512",
            r#"atoll_grpc_calls_total{method="/atoll.v1.SchedulerService/CreateJob",code="OK"} 1"#,
            r#"atoll_grpc_calls_total{method="other",code="UNIMPLEMENTED"} 1"#,
            r#"atoll_updates_ended_total{state="ROLLED_FORWARD"} 1"#,
            r#"atoll_tasks{job_key="devcluster/www-data/prod/web",state="RUNNING"} 3"#,
            r#"atoll_tasks_pending{reason="Insufficient: CPU"} 1"#,
            r#"atoll_agents{state="registered"} 0"#,
            r#"atoll_framework_connected{framework="fanout-1"} 1"#,
            r#"atoll_framework_tasks{framework="fanout-1"} 4"#,
            r#"atoll_framework_offers{framework="fanout-1"} 1"#,
            r#"atoll_framework_dominant_share{framework="fanout-1"} 0.25"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("Path123"), "an unknown method is not a label value");
        assert!(text.contains("# TYPE atoll_grpc_calls_total counter\n"), "{text}");
    }
}

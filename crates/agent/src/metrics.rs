//! The agent's metrics, in Prometheus' text format (docs/metrics.md lists them), served with a
//! health check on the agent's own HTTP listener (`atoll agent --http ADDR`).
//!
//! What the agent counts as it goes (tasks the kernel's OOM killer ended) is kept here; the rest
//! is read at each scrape: the tasks it supervises by state, its live executors, and for each
//! task not yet ended its cpu time and memory from its control group and the bytes of its logs.
//! The `task` label takes the ids of the tasks on this host, so it stays bounded by them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use atoll_model::TaskState;
use atoll_proto::TlsIdentity;
use atoll_sandbox::Sandbox;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::isolation::{Isolator, sandbox_disk_usage};
use crate::supervisor::TaskUpdate;

/// What the agent counts as it goes. Cloning shares the counts.
#[derive(Clone, Debug, Default)]
pub struct AgentMetrics {
    oom_kills: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: String,
}

/// One task's figures at a scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskFigures {
    pub cpu_seconds: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub log_bytes: Option<u64>,
}

impl AgentMetrics {
    /// A task ended by the OOM killer.
    pub(crate) fn oom_kill(&self) {
        self.oom_kills.inc();
    }

    /// Every metric for the tasks `updates` describes, with their `figures`.
    pub fn render(&self, updates: &[TaskUpdate], figures: &[(String, TaskFigures)]) -> String {
        let mut registry = Registry::with_prefix("atoll_agent");
        let tasks = Family::<StateLabels, Gauge>::default();
        for update in updates {
            tasks.get_or_create(&StateLabels { state: update.state.name().to_owned() }).inc();
        }
        registry.register("tasks", "Tasks this agent supervises, by their last state", tasks);
        let executors = Gauge::<i64>::default();
        executors
            .set(updates.iter().filter(|u| !u.state.is_terminal() && u.state != TaskState::Assigned).count() as i64);
        registry.register("executors", "Executors running (one per task not yet ended)", executors);
        registry.register("oom_kills", "Tasks the kernel's OOM killer ended", self.oom_kills.clone());
        // Made afresh at each scrape, so a counter increased once by the total is the total.
        let cpu = Family::<TaskLabels, Counter<f64, AtomicU64>>::default();
        let memory = Family::<TaskLabels, Gauge>::default();
        let logs = Family::<TaskLabels, Gauge>::default();
        for (task, figure) in figures {
            let labels = TaskLabels { task: task.clone() };
            if let Some(seconds) = figure.cpu_seconds {
                cpu.get_or_create(&labels).inc_by(seconds);
            }
            if let Some(bytes) = figure.memory_bytes {
                memory.get_or_create(&labels).set(bytes as i64);
            }
            if let Some(bytes) = figure.log_bytes {
                logs.get_or_create(&labels).set(bytes as i64);
            }
        }
        registry.register_with_unit(
            "task_cpu",
            "CPU time a task's processes used, from its cgroup",
            Unit::Seconds,
            cpu,
        );
        registry.register_with_unit("task_memory", "Memory a task's cgroup uses", Unit::Bytes, memory);
        registry.register_with_unit("task_logs", "Disk a task's log files take", Unit::Bytes, logs);
        atoll_metrics::exposition(&registry)
    }
}

/// The figures of each task not yet ended, read from its control group and its sandbox.
pub(crate) fn task_figures(updates: &[TaskUpdate], isolator: &dyn Isolator) -> Vec<(String, TaskFigures)> {
    updates
        .iter()
        .filter(|u| !u.state.is_terminal())
        .map(|update| {
            let group = isolator.open(&update.task.0).ok().flatten();
            let figures = TaskFigures {
                cpu_seconds: group
                    .as_ref()
                    .and_then(|g| g.cpu_usage_nanos().ok().flatten())
                    .map(|nanos| nanos as f64 / 1e9),
                memory_bytes: group.as_ref().and_then(|g| g.memory_usage_bytes().ok().flatten()),
                log_bytes: sandbox_disk_usage(&Sandbox::new(&update.sandbox).root().join(".logs")).ok(),
            };
            (update.task.0.clone(), figures)
        })
        .collect()
}

/// What the HTTP listener reads: the metrics, and how to gather the tasks' figures.
pub(crate) type Gather = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `/metrics` and `/health` on `address`, over TLS with `tls` (the agent's own
/// certificate); answers the address bound and the server.
pub(crate) async fn serve(
    address: SocketAddr,
    gather: Gather,
    tls: Option<TlsIdentity>,
) -> std::io::Result<(SocketAddr, impl Future<Output = std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    let routes =
        Router::new().route("/metrics", get(metrics)).route("/health", get(|| async { "OK\n" })).with_state(gather);
    if let Some(tls) = &tls {
        // A certificate that cannot be served fails the start, not the first scrape.
        let certificate = atoll_metrics::ServerCertificate { cert_pem: &tls.cert_pem, key_pem: &tls.key_pem };
        atoll_metrics::tls_acceptor(&certificate).map_err(std::io::Error::other)?;
    }
    Ok((bound, async move {
        let certificate =
            tls.as_ref().map(|tls| atoll_metrics::ServerCertificate { cert_pem: &tls.cert_pem, key_pem: &tls.key_pem });
        atoll_metrics::serve(listener, routes, certificate, std::future::pending()).await
    }))
}

async fn metrics(State(gather): State<Gather>) -> axum::response::Response {
    atoll_metrics::metrics_response("agent", move || gather()).await
}

#[cfg(test)]
mod tests {
    use atoll_model::TaskId;

    use super::*;

    #[test]
    fn tasks_and_their_figures_render_with_one_label_each() {
        let update = |id: &str, state| TaskUpdate {
            task: TaskId(id.into()),
            state,
            message: String::new(),
            exit_code: None,
            sandbox: format!("/nonexistent/{id}"),
        };
        let updates =
            [update("a", TaskState::Running), update("b", TaskState::Finished), update("c", TaskState::Running)];
        let metrics = AgentMetrics::default();
        metrics.oom_kill();
        let figures = vec![(
            "a".to_owned(),
            TaskFigures { cpu_seconds: Some(1.5), memory_bytes: Some(4096), log_bytes: Some(12) },
        )];
        let text = metrics.render(&updates, &figures);
        for line in [
            r#"atoll_agent_tasks{state="RUNNING"} 2"#,
            r#"atoll_agent_tasks{state="FINISHED"} 1"#,
            "atoll_agent_executors 2",
            "atoll_agent_oom_kills_total 1",
            r#"atoll_agent_task_cpu_seconds_total{task="a"} 1.5"#,
            r#"atoll_agent_task_memory_bytes{task="a"} 4096"#,
            r#"atoll_agent_task_logs_bytes{task="a"} 12"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}

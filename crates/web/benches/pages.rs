//! Benchmark: how long the web UI takes to render a job of 1,000 instances, each RUNNING on one
//! of 100 agents, and the cluster page around it (the server's side of a page load; the
//! browser's is measured by hand, see docs/ui.md).
//!
//! Run: `cargo bench -p atoll-web --bench pages`.

use std::time::Instant;

use atoll_model::{AgentId, JobSpec, ProcessSpec, Resources, TaskSpec, TaskState};
use atoll_state::{ClusterState, Effect, Registration, StateConfig, StatusReport};

fn main() {
    let mut state = ClusterState::new(StateConfig::new("devcluster"));
    for n in 0..100 {
        let registration = Registration {
            incarnation: None,
            id: AgentId(format!("agent-{n}")),
            hostname: format!("host-{n}"),
            resources: "cpus:16;mem:65536;disk:65536;ports:[31000-31099]".parse().expect("resources"),
            attributes: Default::default(),
            tasks: Vec::new(),
        };
        let _ = state.register_agent(registration, 0);
    }
    let task =
        TaskSpec::new(vec![ProcessSpec::new("web", "serve")], Resources { cpu: 0.1, ram_mb: 64, disk_mb: 64, gpu: 0 });
    let mut spec = JobSpec::new("devcluster/www-data/prod/web".parse().expect("a key"), task);
    spec.instances = 1000;
    spec.config.service = true;
    let key = spec.key.clone();
    let _ = state.create_job(spec, 1).expect("created");
    let launched: Vec<_> = state
        .placement_round(2)
        .effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Launch { agent, task } => Some((agent, task.id)),
            _ => None,
        })
        .collect();
    for (agent, task) in &launched {
        let running =
            StatusReport { state: TaskState::Running, message: "Healthy".into(), exit_code: None, sandbox: None };
        let _ = state.update_status(agent, task, running, 3);
    }
    assert_eq!(launched.len(), 1000, "every instance placed");
    for (name, render) in [
        (
            "job page, 1,000 instances",
            &(|s: &ClusterState| atoll_web::pages::job(s, &key, 4).expect("a job")) as &dyn Fn(&ClusterState) -> String,
        ),
        ("cluster page, 100 agents", &|s: &ClusterState| atoll_web::pages::cluster(s)),
    ] {
        let mut best = f64::MAX;
        let mut size = 0;
        for _ in 0..20 {
            let started = Instant::now();
            let html = render(&state);
            best = best.min(started.elapsed().as_secs_f64());
            size = html.len();
        }
        println!("pages: {name}: {:.2} ms to render (best of 20), {} KB", best * 1000.0, size / 1024);
    }
}

//! Benchmark: the scheduler's allocation round as the control plane runs it, not the bare
//! allocator: 10,000 agents of 16 cpus and 64 GB, 100 frameworks (one role each) subscribed,
//! and 20,000 Aurora tasks RUNNING (five jobs of 4,000; the built-in framework's use). Times `allocation_round`: the first (every agent offered), then, after every framework
//! declined what it got for an hour, the next (each agent offered again to one that has not
//! declined it), and a round with nothing new to offer. Each round also re-reads what every
//! task uses and which agents may be offered. Run `cargo bench -p atoll-state --bench
//! allocation_round` (ATOLL_BENCH_AGENTS and ATOLL_BENCH_FRAMEWORKS change the sizes).

use std::time::Instant;

use atoll_model::{AgentId, JobSpec, ProcessSpec, Resources, TaskSpec, TaskState};
use atoll_state::{ClusterState, Effect, FrameworkEvent, Registration, StateConfig, StatusReport, Subscription};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// The offers each framework got, as (framework, offer id).
fn offers(effects: &[Effect]) -> Vec<(String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Framework { framework, event: FrameworkEvent::Offers(made) } => Some((framework, made)),
            _ => None,
        })
        .flat_map(|(framework, made)| made.iter().map(move |o| (framework.clone(), o.id.clone())))
        .collect()
}

fn main() {
    let agents = env("ATOLL_BENCH_AGENTS", 10_000);
    let frameworks = env("ATOLL_BENCH_FRAMEWORKS", 100);
    let mut config = StateConfig::new("devcluster");
    config.agent_timeout_ms = u64::MAX / 4;
    let mut state = ClusterState::new(config);
    for n in 0..agents {
        let registration = Registration {
            id: AgentId(format!("agent-{n}")),
            hostname: format!("agent-{n}"),
            resources: "cpus:16;mem:65536;disk:100000;ports:[31000-32000]".parse().expect("resources"),
            attributes: Default::default(),
            tasks: Vec::new(),
            incarnation: None,
        };
        let _ = state.register_agent(registration, 0).expect("registered");
    }
    let task = TaskSpec::new(
        vec![ProcessSpec::new("serve", "./serve")],
        Resources { cpu: 1.0, ram_mb: 2048, disk_mb: 1024, gpu: 0 },
    );
    let mut placed_tasks = 0;
    for n in 0..5 {
        let mut spec = JobSpec::new(format!("devcluster/www-data/prod/web-{n}").parse().expect("a key"), task.clone());
        spec.instances = (agents as u32 * 2 / 5).clamp(1, 4000);
        spec.config.service = true;
        placed_tasks += state.create_job(spec, 1).expect("created").0.len();
    }
    let placed = state.placement_round(2);
    for effect in &placed.effects {
        if let Effect::Launch { agent, task } = effect {
            let running =
                StatusReport { state: TaskState::Running, message: String::new(), exit_code: None, sandbox: None };
            let _ = state.update_status(agent, &task.id, running, 3);
        }
    }
    println!("allocation_round: {agents} agents, {placed_tasks} Aurora tasks RUNNING");
    for n in 0..frameworks {
        let subscription = Subscription {
            framework_id: None,
            name: format!("fw{n}"),
            role: format!("role{n}"),
            failover_timeout_ms: None,
            principal: "bench".into(),
            suppressed: false,
        };
        let _ = state.subscribe_framework(subscription, &format!("fw{n}-1"), "s", 4).expect("subscribed");
    }
    let ms = |started: Instant| started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let first = state.allocation_round(10);
    let first_ms = ms(started);
    let made = offers(&first.effects);
    let started = Instant::now();
    for (framework, offer) in &made {
        let _ = state.decline_offers(framework, "s", std::slice::from_ref(offer), 3600.0, 11).expect("declined");
    }
    let decline_ms = ms(started);
    let started = Instant::now();
    let again = offers(&state.allocation_round(12).effects);
    let again_ms = ms(started);
    let started = Instant::now();
    let idle = offers(&state.allocation_round(13).effects);
    let idle_ms = ms(started);
    println!("allocation_round: {agents} agents × {frameworks} frameworks");
    println!("  first round: {first_ms:.1} ms, {} offers", made.len());
    println!("  {} declines: {decline_ms:.1} ms", made.len());
    println!("  after every decline: {again_ms:.1} ms, {} offers", again.len());
    println!("  nothing new to offer: {idle_ms:.1} ms, {} offers", idle.len());
}

//! State machine tests: the life of a job from creation to kill, agent loss and
//! rescheduling, restarts from durable state, and refusals here; placement, maintenance,
//! preemption, quota, restarts and additions, and scheduler restarts in the submodules.

mod cron;
mod durability;
mod events;
mod frameworks;
mod maintenance;
mod partitions;
mod placement;
mod preemption;
mod quota;
mod restart;
mod updates;

use std::collections::{BTreeMap, BTreeSet};

use atoll_model::{AgentId, Attributes, JobKey, JobSpec, ProcessSpec, Resources, TaskId, TaskSpec, TaskState};

use crate::*;

fn config() -> StateConfig {
    let mut config = StateConfig::new("devcluster");
    config.agent_timeout_ms = 1_000;
    config.flapping_threshold_ms = 10_000;
    config.initial_backoff_ms = 2_000;
    config.max_backoff_ms = 5_000;
    config.preemption_delay_ms = 10_000;
    // Production jobs here run without a quota unless a test sets one (quota.rs checks the
    // default, Aurora's: none at all).
    config.production_needs_quota = false;
    config
}

fn job(name: &str, instances: u32, service: bool) -> JobSpec {
    let task = TaskSpec::new(
        vec![ProcessSpec::new(name, "serve {{thermos.ports[http]}}")],
        Resources { cpu: 1.0, ram_mb: 64, disk_mb: 64, gpu: 0 },
    );
    let mut job = JobSpec::new(format!("devcluster/www-data/devel/{name}").parse().unwrap(), task);
    job.instances = instances;
    job.config.service = service;
    job
}

fn register(state: &mut ClusterState, id: &str, now: u64) -> Vec<Effect> {
    register_reporting(state, id, vec![], now)
}

/// Registers agent `id` as having `tasks`.
fn register_reporting(state: &mut ClusterState, id: &str, tasks: Vec<(TaskId, StatusReport)>, now: u64) -> Vec<Effect> {
    register_with(state, id, "", tasks, now)
}

/// Registers agent `id` with `attributes` (`name:value;...`) as having `tasks`.
fn register_with(
    state: &mut ClusterState,
    id: &str,
    attributes: &str,
    tasks: Vec<(TaskId, StatusReport)>,
    now: u64,
) -> Vec<Effect> {
    state
        .register_agent(
            Registration {
                incarnation: Some(format!("incarnation-of-{id}")),
                id: AgentId(id.into()),
                hostname: id.into(),
                resources: "cpus:2;mem:1024;disk:1024;ports:[31000-31009]".parse().unwrap(),
                attributes: attributes.parse().unwrap(),
                tasks,
            },
            now,
        )
        .expect("registered")
        .effects
}

/// What a store keeps: everything durable at the moment it is saved.
#[derive(Default)]
struct Kept(Durable);

impl Kept {
    /// Keeps what `state` holds durably.
    fn save(&mut self, state: &ClusterState) {
        self.0 = state.durable();
    }

    /// A scheduler started from what was kept, at `now`.
    fn restore(&self, now: u64) -> ClusterState {
        ClusterState::restore(config(), self.0.clone(), now)
    }
}

/// A placement round at `now`: what agents are told.
fn place(state: &mut ClusterState, now: u64) -> Vec<Effect> {
    state.placement_round(now).effects
}

/// Housekeeping at `now`: what agents are told.
fn tick(state: &mut ClusterState, now: u64) -> Vec<Effect> {
    state.tick(now).effects
}

fn report(state: &mut ClusterState, agent: &str, task: &TaskId, s: TaskState, now: u64) -> Vec<Effect> {
    let report = StatusReport { state: s, message: String::new(), exit_code: None, sandbox: None };
    state.update_status(&AgentId(agent.into()), task, report, now).effects
}

fn running_report() -> StatusReport {
    StatusReport { state: TaskState::Running, message: "running".into(), exit_code: None, sandbox: None }
}

/// One agent `a` running instance 0 of the `hello` service, RUNNING since 1 ms.
fn running_hello() -> (ClusterState, Vec<TaskId>) {
    let mut state = ClusterState::new(config());
    let ids = state.create_job(job("hello", 1, true), 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    report(&mut state, "a", &ids[0], TaskState::Running, 1);
    (state, ids)
}

/// Every run kept of the service `name`'s instances, newest first, as states.
fn history(state: &ClusterState, name: &str) -> Vec<TaskState> {
    state.job_tasks(&job(name, 1, true).key, true).iter().map(|t| t.state).collect()
}

fn states(state: &ClusterState, name: &str) -> Vec<(u32, TaskState)> {
    let key = job(name, 1, true).key;
    state.job_tasks(&key, false).iter().map(|t| (t.instance, t.state)).collect()
}

fn killed(effects: &[Effect]) -> Vec<(String, TaskId)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Kill { agent, task } => Some((agent.0.clone(), task.clone())),
            _ => None,
        })
        .collect()
}

fn launched(effects: &[Effect]) -> Vec<(String, TaskId)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Launch { agent, task } => Some((agent.0.clone(), task.id.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_job_is_placed_launched_run_and_killed() {
    let mut state = ClusterState::new(config());
    let ids = state.create_job(job("hello", 1, true), 0).unwrap().0;
    assert_eq!(states(&state, "hello"), vec![(0, TaskState::Pending)]);
    assert!(place(&mut state, 1).is_empty());
    assert_eq!(state.pending_reason(&ids[0]), Some("No agents available"));

    register(&mut state, "a", 2);
    let effects = place(&mut state, 3);
    assert_eq!(launched(&effects), vec![("a".to_owned(), ids[0].clone())]);
    let Effect::Launch { task, .. } = &effects[0] else { unreachable!() };
    assert_eq!(task.assignment.as_ref().unwrap().ports.get("http"), Some(&31000));

    report(&mut state, "a", &ids[0], TaskState::Starting, 4);
    report(&mut state, "a", &ids[0], TaskState::Running, 5);
    assert_eq!(states(&state, "hello"), vec![(0, TaskState::Running)]);

    let key = job("hello", 1, true).key;
    let (killed, Outcome { effects, .. }) = state.kill(&key, Some(&BTreeSet::from([0])), 6).unwrap();
    assert_eq!(killed, ids);
    assert_eq!(effects, vec![Effect::Kill { agent: AgentId("a".into()), task: ids[0].clone() }]);
    report(&mut state, "a", &ids[0], TaskState::Killed, 7);
    assert_eq!(states(&state, "hello"), vec![(0, TaskState::Killed)], "killed tasks are not rescheduled");
    assert!(state.job(&key).is_some(), "killing instances keeps the job");
}

#[test]
fn killall_removes_the_job_and_pending_tasks_die_at_once() {
    let mut state = ClusterState::new(config());
    let _ = state.create_job(job("hello", 2, true), 0).unwrap();
    let key = job("hello", 1, true).key;
    let (killed, Outcome { effects, changes, .. }) = state.kill(&key, None, 1).unwrap();
    assert_eq!(killed.len(), 2);
    assert!(effects.is_empty());
    assert!(state.job(&key).is_none());
    assert!(state.job_tasks(&key, false).iter().all(|t| t.state == TaskState::Killed));
    assert_eq!(changes.jobs_deleted, vec![key.clone()]);
    let _ = state.create_job(job("hello", 1, true), 2).expect("a killed job can be created again");
}

#[test]
fn a_silent_agent_is_lost_and_its_service_tasks_rescheduled() {
    let mut state = ClusterState::new(config());
    let ids = state.create_job(job("hello", 1, true), 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    report(&mut state, "a", &ids[0], TaskState::Running, 10);
    assert!(state.heartbeat(&AgentId("a".into()), 500));
    assert!(tick(&mut state, 1_400).is_empty(), "not silent long enough");
    tick(&mut state, 1_600);
    let history = history(&state, "hello");
    assert_eq!(history, vec![TaskState::Pending, TaskState::Lost]);
    assert!(!state.heartbeat(&AgentId("a".into()), 1_700), "a lost agent must register again");

    register(&mut state, "b", 1_800);
    let effects = place(&mut state, 1_800);
    assert_eq!(launched(&effects).len(), 1);
    assert_eq!(launched(&effects)[0].0, "b");
}

#[test]
fn a_second_agent_under_a_live_agents_id_is_refused_and_takes_nothing() {
    let mut state = ClusterState::new(config());
    let ids = state.create_job(job("hello", 1, true), 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    report(&mut state, "a", &ids[0], TaskState::Running, 10);
    let impostor = |incarnation: Option<&str>| Registration {
        id: AgentId("a".into()),
        hostname: "elsewhere".into(),
        resources: "cpus:2;mem:1024;disk:1024".parse().unwrap(),
        attributes: Attributes::default(),
        tasks: Vec::new(),
        incarnation: incarnation.map(str::to_owned),
    };
    let refusal = state.register_agent(impostor(Some("another")), 500).expect_err("refused");
    assert_eq!(refusal, StateError::AgentIdInUse { id: AgentId("a".into()), hostname: "a".into(), silent_ms: 500 });
    assert!(refusal.to_string().contains("give this agent a name of its own with --hostname"), "{refusal}");
    assert_eq!(states(&state, "hello"), vec![(0, TaskState::Running)], "the first agent's task is untouched");
    assert_eq!(state.agents().map(|a| a.hostname.as_str()).collect::<Vec<_>>(), ["a"]);

    // The same agent restarting registers again; an agent older than incarnations is not checked.
    assert!(
        state.check_agent_id(&Registration { hostname: "a".into(), ..impostor(Some("incarnation-of-a")) }, 600).is_ok()
    );
    assert!(state.check_agent_id(&impostor(None), 600).is_ok());
    // Once the first has been silent past the agent timeout, another may take its id.
    assert!(state.check_agent_id(&impostor(Some("another")), 1_011).is_ok());
}

#[test]
fn an_agent_reporting_a_lost_task_is_told_to_kill_it() {
    let mut state = ClusterState::new(config());
    let ids = state.create_job(job("hello", 1, true), 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    tick(&mut state, 5_000);
    let effects = report(&mut state, "a", &ids[0], TaskState::Running, 5_001);
    assert_eq!(effects, vec![Effect::Kill { agent: AgentId("a".into()), task: ids[0].clone() }]);
    let unknown = report(&mut state, "a", &TaskId("nobody".into()), TaskState::Running, 5_002);
    assert_eq!(unknown, vec![Effect::Kill { agent: AgentId("a".into()), task: TaskId("nobody".into()) }]);
}

#[test]
fn an_orphan_holds_its_room_on_its_agent_until_it_has_ended() {
    let mut state = ClusterState::new(config());
    let ids = state.create_job(job("hello", 1, true), 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    report(&mut state, "a", &ids[0], TaskState::Running, 10);
    tick(&mut state, 5_000);
    assert_eq!(state.tasks.get(&ids[0]).map(|t| t.state), Some(TaskState::Lost), "cut off past the timeout");
    let used = |state: &ClusterState| state.snapshot().agents.iter().find(|a| a.id.0 == "a").map(|a| a.used.ram_mb);
    // Back from the partition, still running the task the scheduler gave up on.
    let effects = register_reporting(&mut state, "a", vec![(ids[0].clone(), running_report())], 5_100);
    assert!(effects.contains(&Effect::Kill { agent: AgentId("a".into()), task: ids[0].clone() }), "{effects:?}");
    let ram = state.tasks.get(&ids[0]).unwrap().config.task.resources.ram_mb;
    assert_eq!(used(&state), Some(ram), "the orphan's memory is still taken");
    let snapshot = state.snapshot();
    let ports = &snapshot.agents.iter().find(|a| a.id.0 == "a").unwrap().used_ports;
    assert_eq!(ports.len(), state.tasks.get(&ids[0]).unwrap().assignment.as_ref().unwrap().ports.len());
    report(&mut state, "a", &ids[0], TaskState::Killed, 5_200);
    assert_eq!(used(&state), Some(0), "freed once the agent says it ended");
    // An agent that registers without it has let it go too.
    register_reporting(&mut state, "a", vec![(ids[0].clone(), running_report())], 5_300);
    register(&mut state, "a", 5_400);
    assert_eq!(used(&state), Some(0));
}

#[test]
fn finished_services_restart_with_flapping_backoff_and_adhoc_jobs_do_not() {
    let mut state = ClusterState::new(config());
    let svc = state.create_job(job("svc", 1, true), 0).unwrap().0;
    let batch = state.create_job(job("batch", 1, false), 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    for id in svc.iter().chain(&batch) {
        report(&mut state, "a", id, TaskState::Running, 100);
        report(&mut state, "a", id, TaskState::Finished, 200);
    }
    assert_eq!(states(&state, "batch"), vec![(0, TaskState::Finished)]);
    assert_eq!(states(&state, "svc"), vec![(0, TaskState::Throttled)], "ran 100 ms: flapping");
    tick(&mut state, 2_100);
    assert_eq!(states(&state, "svc"), vec![(0, TaskState::Throttled)]);
    register(&mut state, "a", 2_150);
    tick(&mut state, 2_200);
    assert_eq!(states(&state, "svc"), vec![(0, TaskState::Pending)]);
}

#[test]
fn adhoc_failures_are_retried_up_to_max_task_failures() {
    let mut state = ClusterState::new(config());
    let mut spec = job("batch", 1, false);
    spec.config.max_task_failures = 2;
    let key = spec.key.clone();
    let _ = state.create_job(spec, 0).unwrap();
    register(&mut state, "a", 0);
    let mut now = 0;
    for _ in 0..3 {
        now += 100_000;
        register(&mut state, "a", now);
        tick(&mut state, now);
        for (_, id) in launched(&place(&mut state, now)) {
            report(&mut state, "a", &id, TaskState::Running, now);
            report(&mut state, "a", &id, TaskState::Failed, now + 20_000);
        }
    }
    let runs: Vec<TaskState> = state.job_tasks(&key, true).iter().map(|t| t.state).collect();
    assert_eq!(runs, vec![TaskState::Failed, TaskState::Failed], "two runs, then given up");
}

#[test]
fn illegal_reports_are_ignored_and_counted() {
    let (mut state, ids) = running_hello();
    report(&mut state, "a", &ids[0], TaskState::Pending, 2);
    assert_eq!(states(&state, "hello"), vec![(0, TaskState::Running)]);
    assert_eq!(state.illegal_transitions(), 1);
}

#[test]
fn refusals_name_the_problem() {
    let mut state = ClusterState::new(config());
    let _ = state.create_job(job("hello", 1, true), 0).unwrap();
    let again = state.create_job(job("hello", 1, true), 0).unwrap_err();
    assert_eq!(again.to_string(), "Job devcluster/www-data/devel/hello already exists");
    let mut elsewhere = job("x", 1, true);
    elsewhere.key.cluster = "prod".into();
    assert!(state.create_job(elsewhere, 0).unwrap_err().to_string().contains("runs cluster 'devcluster'"));
    let mut bad = job("bad", 1, true);
    bad.config.task.resources.ram_mb = 0;
    assert!(state.create_job(bad, 0).unwrap_err().to_string().contains("Must specify ram and disk resources"));
    let unknown = job("nope", 1, true).key;
    assert!(matches!(state.kill(&unknown, None, 0), Err(StateError::JobNotFound(_))));
    let key = job("hello", 1, true).key;
    let err = state.kill(&key, Some(&BTreeSet::from([3])), 0).unwrap_err().to_string();
    assert!(err.contains("has no instance 3"), "{err}");
}

#[test]
fn restored_state_has_every_job_and_task_and_waits_for_its_agents() {
    let (state, ids) = running_hello();
    let mut kept = Kept::default();
    kept.save(&state);

    let mut restored = kept.restore(10_000);
    assert_eq!(states(&restored, "hello"), vec![(0, TaskState::Running)]);
    assert!(restored.snapshot().agents.is_empty(), "no placement on agents not yet heard from");
    let effects = register_reporting(&mut restored, "a", vec![(ids[0].clone(), running_report())], 10_100);
    assert!(effects.is_empty());
    assert_eq!(restored.snapshot().agents[0].used.cpu_millis, 1000, "the running task's resources are in use");
    let next = restored.create_job(job("other", 1, true), 10_200).unwrap().0;
    assert_ne!(next[0], ids[0]);
}

#[test]
fn an_agent_that_never_returns_after_a_restart_loses_its_tasks() {
    let (state, _) = running_hello();
    let mut kept = Kept::default();
    kept.save(&state);
    let mut restored = kept.restore(10_000);
    tick(&mut restored, 11_500);
    let history = history(&restored, "hello");
    assert_eq!(history, vec![TaskState::Pending, TaskState::Lost]);
}

#[test]
fn an_agent_that_lost_a_running_task_while_away_reports_it_lost() {
    let (mut state, _) = running_hello();
    register(&mut state, "a", 2);
    let history = history(&state, "hello");
    assert_eq!(history, vec![TaskState::Pending, TaskState::Lost]);
}

#[test]
fn a_kill_lost_on_the_way_is_sent_again() {
    let (mut state, ids) = running_hello();
    let key = job("hello", 1, true).key;
    let _ = state.kill(&key, Some(&BTreeSet::from([0])), 2).unwrap();
    let kill = vec![Effect::Kill { agent: AgentId("a".into()), task: ids[0].clone() }];
    // The agent reconnects and still runs the task: it is told again.
    let effects = register_reporting(&mut state, "a", vec![(ids[0].clone(), running_report())], 3);
    assert_eq!(effects, kill);
    // A second kill from the user asks again too, and neither counts as an illegal transition.
    let (_, Outcome { effects, .. }) = state.kill(&key, Some(&BTreeSet::from([0])), 4).unwrap();
    assert_eq!(effects, kill);
    assert_eq!(state.illegal_transitions(), 0);
    assert_eq!(states(&state, "hello"), vec![(0, TaskState::Killing)]);
}

#[test]
fn a_task_that_ended_while_its_agent_was_away_keeps_its_end() {
    let mut state = ClusterState::new(config());
    let ids = state.create_job(job("batch", 1, false), 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    report(&mut state, "a", &ids[0], TaskState::Running, 1);
    let finished =
        StatusReport { state: TaskState::Finished, message: "done".into(), exit_code: Some(0), sandbox: None };
    register_reporting(&mut state, "a", vec![(ids[0].clone(), finished)], 5);
    let key = job("batch", 1, false).key;
    let history: Vec<(TaskState, Option<i32>)> =
        state.job_tasks(&key, true).iter().map(|t| (t.state, t.exit_code)).collect();
    assert_eq!(history, vec![(TaskState::Finished, Some(0))], "not LOST, not run again");
}

#[test]
fn placement_is_wanted_when_a_task_becomes_pending_or_capacity_comes_free() {
    let mut state = ClusterState::new(config());
    let (ids, created) = state.create_job(job("svc", 1, true), 0).unwrap();
    assert!(created.placement_wanted, "a new job's tasks are pending");
    assert!(!state.placement_round(1).placement_wanted, "no agent: the task stays pending, but nothing new");
    assert!(!state.tick(2).placement_wanted, "housekeeping alone wakes nothing");

    let registration = Registration {
        incarnation: None,
        id: AgentId("a".into()),
        hostname: "a".into(),
        resources: "cpus:2;mem:1024;disk:1024".parse().unwrap(),
        attributes: Attributes::default(),
        tasks: Vec::new(),
    };
    assert!(
        state.register_agent(registration, 3).expect("registered").placement_wanted,
        "an agent's capacity is new room"
    );
    assert!(!state.placement_round(3).placement_wanted, "placing wants nothing more");
    assert!(!state.update_status(&AgentId("a".into()), &ids[0], running_report(), 100).placement_wanted);
    let finished = StatusReport { state: TaskState::Finished, ..running_report() };
    assert!(state.update_status(&AgentId("a".into()), &ids[0], finished, 200).placement_wanted, "room came free");
    assert_eq!(states(&state, "svc"), vec![(0, TaskState::Throttled)]);
    assert!(!state.placement_round(201).placement_wanted);
    register(&mut state, "a", 2_150);
    let released = state.tick(2_300);
    assert_eq!(states(&state, "svc"), vec![(0, TaskState::Pending)]);
    assert!(released.placement_wanted, "a task released from its backoff is new work");
}

#[test]
fn fields_the_scheduler_does_not_act_on_yet_are_refused_not_ignored() {
    use atoll_model::config::{Container, SlaPolicy};
    type Set = fn(&mut JobSpec);
    let cases: [(Set, &str); 2] = [
        (|j| j.config.sla_policy = Some(SlaPolicy::Count { count: 1, duration_secs: 60 }), "sla_policy"),
        (|j| j.config.container = Some(Container::Docker { image: "web:1".into(), parameters: vec![] }), "container"),
    ];
    for (set, field) in cases {
        let mut state = ClusterState::new(config());
        let mut spec = job("hello", 1, true);
        set(&mut spec);
        let err = state.create_job(spec, 0).unwrap_err().to_string();
        assert!(err.contains(&format!("{field} is not supported yet: ")), "{field}: {err}");
        assert!(err.contains("remove it from the job"), "{err}");
        assert!(state.job(&job("hello", 1, true).key).is_none(), "nothing was created");
    }
}

#[test]
fn job_list_counts_each_instance_once_by_its_newest_run() {
    let (mut state, ids) = running_hello();
    // A failed run of instance 0, rescheduled: two tasks of one instance.
    report(&mut state, "a", &ids[0], TaskState::Failed, 2);
    state.heartbeat(&AgentId("a".into()), 39_999);
    tick(&mut state, 40_000);
    place(&mut state, 40_000);
    let second = state.job_tasks(&job("hello", 1, true).key, false)[0].id.clone();
    report(&mut state, "a", &second, TaskState::Running, 40_001);
    let prefix = "devcluster".parse().unwrap();
    let summary = &state.list_jobs(&prefix)[0];
    assert_eq!(state.job_tasks(&job("hello", 1, true).key, true).len(), 2, "two runs are kept");
    assert_eq!((summary.active, summary.failed, summary.pending), (1, 0, 0), "{summary:?}");
    // A job whose name starts with this one's is not counted with it.
    let _ = state.create_job(job("hello-two", 2, true), 40_002).unwrap();
    let summary = &state.list_jobs(&prefix)[0];
    assert_eq!((summary.key.name.as_str(), summary.active, summary.pending), ("hello", 1, 0));
}

//! Rolling updates, Aurora's rules as tables: what is touched, strategies and batches, watch
//! time, failures and rollback, pauses, pulses, aborts, instance counts, affinity, quota,
//! durability across a scheduler restart, and plans that match what the update then does.

use atoll_model::config::UpdateStrategy;

use super::*;

/// Agents that carry out at once what they are told: a launched task reports what `outcome`
/// says (RUNNING unless told otherwise), a killed one KILLED; each report is followed by a
/// placement round, as the server runs one after each report.
struct Cluster {
    state: ClusterState,
    now: u64,
    outcome: fn(&ScheduledTask) -> TaskState,
    /// Every launch: instance, agent, config short id.
    launches: Vec<(u32, String, String)>,
    /// The most instances of `watched` seen without a RUNNING task of the target config.
    most_in_flight: usize,
}

fn running(_: &ScheduledTask) -> TaskState {
    TaskState::Running
}

/// A config whose first process's command line says `fail` fails at once.
fn fail_if_told(task: &ScheduledTask) -> TaskState {
    if task.config.task.processes[0].cmdline.contains("fail") { TaskState::Failed } else { TaskState::Running }
}

fn update_config() -> StateConfig {
    let mut config = config();
    config.agent_timeout_ms = 60_000;
    config.update_stuck_timeout_ms = 30_000;
    config
}

impl Cluster {
    fn empty() -> Cluster {
        Cluster {
            state: ClusterState::new(update_config()),
            now: 0,
            outcome: running,
            launches: Vec::new(),
            most_in_flight: 0,
        }
    }

    /// `agents` registered, and the service `web` with `instances` RUNNING.
    fn with_web(agents: &[&str], instances: u32) -> (Cluster, JobSpec) {
        let mut cluster = Cluster::empty();
        for agent in agents {
            register(&mut cluster.state, agent, 0);
        }
        let spec = web(instances, "serve v1");
        let _ = cluster.state.create_job(spec.clone(), 0).unwrap();
        cluster.carry_out(Vec::new());
        (cluster, spec)
    }

    fn carry_out(&mut self, effects: Vec<Effect>) {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        queue.extend(place(&mut self.state, self.now));
        while let Some(effect) = queue.pop_front() {
            let (agent, task, state) = match effect {
                Effect::Launch { agent, task } => {
                    self.launches.push((task.instance, agent.0.clone(), task.config.id().short()));
                    let outcome = (self.outcome)(&task);
                    (agent, task.id.clone(), outcome)
                }
                Effect::Kill { agent, task } => (agent, task, TaskState::Killed),
                Effect::Framework { .. } | Effect::ExecutorMessage { .. } => continue,
            };
            let report = StatusReport { state, message: format!("{state}"), exit_code: None, sandbox: None };
            queue.extend(self.state.update_status(&agent, &task, report, self.now).effects);
            queue.extend(place(&mut self.state, self.now));
            self.note_in_flight();
        }
    }

    fn note_in_flight(&mut self) {
        let Some(update) = self.state.active_update(&web_key()) else { return };
        let in_flight = update.instances.iter().filter(|i| i.progress == Progress::Updating).count();
        self.most_in_flight = self.most_in_flight.max(in_flight);
    }

    /// Lets `ms` pass: heartbeats, a housekeeping tick, and what follows.
    fn pass(&mut self, ms: u64) {
        self.now += ms;
        let agents: Vec<AgentId> = self.state.agents().map(|a| a.id.clone()).collect();
        for agent in agents {
            self.state.heartbeat(&agent, self.now);
        }
        let effects = tick(&mut self.state, self.now);
        self.carry_out(effects);
    }

    /// Passes time in steps until the job's latest update is over (or `limit_ms` passed).
    fn until_done(&mut self, step_ms: u64, limit_ms: u64) -> UpdateState {
        let deadline = self.now + limit_ms;
        while self.now < deadline {
            let update = self.state.latest_update(&web_key()).expect("an update");
            if update.state.is_terminal() || update.state.is_paused() || update.state.is_awaiting_pulse() {
                return update.state;
            }
            self.pass(step_ms);
        }
        self.state.latest_update(&web_key()).expect("an update").state
    }

    fn start(&mut self, spec: JobSpec, scope: Option<&[u32]>) -> UpdateStart {
        let scope: Option<BTreeSet<u32>> = scope.map(|s| s.iter().copied().collect());
        let (started, Outcome { effects, .. }) = self.state.start_update(spec, scope.as_ref(), None, self.now).unwrap();
        self.carry_out(effects);
        started
    }

    fn act(&mut self, action: UpdateAction) -> UpdateState {
        let (state, Outcome { effects, .. }) = self.state.act_on_update(&web_key(), action, None, self.now).unwrap();
        self.carry_out(effects);
        state
    }

    /// The command line each instance's active task runs, by instance.
    fn commands(&self) -> Vec<(u32, String)> {
        self.state
            .job_tasks(&web_key(), false)
            .iter()
            .filter(|t| t.state.is_active())
            .map(|t| (t.instance, t.config.task.processes[0].cmdline.clone()))
            .collect()
    }
}

fn web_key() -> JobKey {
    job("web", 1, true).key
}

/// The service `web` running `cmdline`, small enough that every instance fits anywhere.
fn web(instances: u32, cmdline: &str) -> JobSpec {
    let mut spec = job("web", instances, true);
    spec.config.task.processes[0].cmdline = cmdline.to_owned();
    spec.config.task.resources = Resources { cpu: 0.25, ram_mb: 16, disk_mb: 16, gpu: 0 };
    spec.update_config.watch_secs = 0;
    spec
}

fn all_running(cmdline: &str, instances: u32) -> Vec<(u32, String)> {
    (0..instances).map(|i| (i, cmdline.to_owned())).collect()
}

#[test]
fn an_update_that_changes_nothing_starts_nothing() {
    let (mut cluster, spec) = Cluster::with_web(&["a"], 2);
    assert_eq!(cluster.start(spec.clone(), None), UpdateStart::Unchanged);
    let mut settings_only = spec.clone();
    settings_only.update_config.batch_size = 5;
    assert_eq!(cluster.start(settings_only, None), UpdateStart::Unchanged, "update settings are not the task's config");
    assert!(cluster.state.latest_update(&web_key()).is_none());
}

#[test]
fn refusals_in_auroras_words() {
    let (mut cluster, spec) = Cluster::with_web(&["a"], 2);
    let mut batch = job("batch", 1, false);
    let _ = cluster.state.create_job(batch.clone(), 0).unwrap();
    batch.config.task.processes[0].cmdline = "other".into();
    let err = cluster.state.start_update(batch, None, None, 0).unwrap_err();
    assert!(err.to_string().starts_with("Updates are not supported for non-service tasks"), "{err}");

    let missing = job("nothere", 1, true);
    assert!(matches!(cluster.state.start_update(missing, None, None, 0), Err(StateError::JobNotFound(_))));

    let mut watched = web(2, "serve v2");
    watched.update_config.watch_secs = 60;
    cluster.start(watched, None);
    let err = cluster.state.start_update(web(2, "serve v3"), None, None, 0).unwrap_err();
    assert!(err.to_string().contains("is already being updated (update 1"), "{err}");
    let err = cluster.state.restart(&spec.key, None, 1, 0).unwrap_err();
    assert!(matches!(err, StateError::UpdateInProgress { .. }), "{err}");
    let err = cluster.state.add_instances(&spec.key, 0, 1, 0).unwrap_err();
    assert!(matches!(err, StateError::UpdateInProgress { .. }), "{err}");
    let err = cluster.state.act_on_update(&spec.key, UpdateAction::Resume, None, 0).unwrap_err();
    assert!(err.to_string().contains("cannot be resumed now"), "{err}");
    let err = cluster.state.act_on_update(&spec.key, UpdateAction::Pulse, None, 0).unwrap_err();
    assert!(err.to_string().contains("takes no pulses"), "{err}");

    let mut sla = web(2, "serve v4");
    sla.update_config.sla_aware = true;
    sla.config.sla_policy = Some(atoll_model::config::SlaPolicy::Count { count: 1, duration_secs: 60 });
    let err = Cluster::with_web(&["a"], 2).0.state.start_update(sla, None, None, 0).unwrap_err();
    assert!(err.to_string().contains("sla_aware is not supported yet"), "{err}");
    assert!(err.to_string().contains("sla_policy is not supported yet"), "{err}");

    let mut bad = web(2, "serve v4");
    bad.update_config.max_total_failures = 2;
    let err = Cluster::with_web(&["a"], 2).0.state.start_update(bad, None, None, 0).unwrap_err();
    assert!(err.to_string().contains("max_total_failures in update_config must be lesser than the job size"), "{err}");
}

#[test]
fn a_queue_keeps_batch_size_instances_in_flight_and_rolls_forward() {
    let (mut cluster, _) = Cluster::with_web(&["a", "b"], 5);
    let mut v2 = web(5, "serve v2");
    v2.update_config.batch_size = 2;
    let UpdateStart::Started { id, instances } = cluster.start(v2.clone(), None) else { panic!("started") };
    assert_eq!((id, instances), (1, vec![0, 1, 2, 3, 4]));
    assert_eq!(cluster.until_done(100, 10_000), UpdateState::RolledForward);
    assert_eq!(cluster.commands(), all_running("serve v2", 5));
    assert_eq!(cluster.most_in_flight, 2);
    assert_eq!(cluster.state.job(&web_key()).unwrap(), &v2, "the job record is the new job");
    let update = cluster.state.job_update(id).unwrap();
    let actions: Vec<&str> = update.instances[0].events.iter().map(|e| e.action.name()).collect();
    assert_eq!(actions, vec!["INSTANCE_UPDATING", "INSTANCE_UPDATED"]);
}

#[test]
fn an_instance_succeeds_only_after_watch_secs_running() {
    let (mut cluster, _) = Cluster::with_web(&["a"], 2);
    let mut v2 = web(2, "serve v2");
    v2.update_config.watch_secs = 10;
    cluster.start(v2, None);
    cluster.pass(9_000);
    let update = cluster.state.active_update(&web_key()).unwrap();
    assert_eq!(update.instances[0].progress, Progress::Updating, "9 s of 10");
    cluster.pass(1_000);
    let update = cluster.state.active_update(&web_key()).unwrap();
    assert_eq!((update.instances[0].progress, update.instances[1].progress), (Progress::Succeeded, Progress::Updating));
    assert_eq!(cluster.until_done(1_000, 60_000), UpdateState::RolledForward);
}

#[test]
fn strategies_take_instances_in_the_groups_they_say() {
    type Strategy = fn(&mut JobSpec);
    let cases: Vec<(&str, Strategy, usize)> = vec![
        ("queue of 3", |s| s.update_config.batch_size = 3, 3),
        (
            "batches of 2",
            |s| {
                s.update_config.batch_size = 2;
                s.update_config.wait_for_batch_completion = true;
            },
            2,
        ),
        (
            "BatchUpdateStrategy(4)",
            |s| {
                s.update_config.update_strategy =
                    Some(UpdateStrategy::Batch { batch_size: 4, autopause_after_batch: false })
            },
            4,
        ),
        (
            "VariableBatchUpdateStrategy([1, 3])",
            |s| {
                s.update_config.update_strategy =
                    Some(UpdateStrategy::VariableBatch { batch_sizes: vec![1, 3], autopause_after_batch: false })
            },
            3,
        ),
    ];
    for (name, strategy, most) in cases {
        let (mut cluster, _) = Cluster::with_web(&["a", "b"], 7);
        let mut v2 = web(7, "serve v2");
        v2.update_config.watch_secs = 1;
        strategy(&mut v2);
        cluster.start(v2, None);
        assert_eq!(cluster.until_done(500, 60_000), UpdateState::RolledForward, "{name}");
        assert_eq!(cluster.most_in_flight, most, "{name}");
        assert_eq!(cluster.commands(), all_running("serve v2", 7), "{name}");
    }
}

#[test]
fn a_batch_starts_only_once_the_batch_before_is_done() {
    let (mut cluster, _) = Cluster::with_web(&["a", "b"], 4);
    let mut v2 = web(4, "serve v2");
    v2.update_config.batch_size = 2;
    v2.update_config.wait_for_batch_completion = true;
    v2.update_config.watch_secs = 5;
    cluster.start(v2, None);
    let update = cluster.state.active_update(&web_key()).unwrap();
    let first: Vec<Progress> = update.instances.iter().map(|i| i.progress).collect();
    assert_eq!(first, vec![Progress::Updating, Progress::Updating, Progress::Waiting, Progress::Waiting]);
    cluster.pass(5_000);
    let second: Vec<Progress> =
        cluster.state.active_update(&web_key()).unwrap().instances.iter().map(|i| i.progress).collect();
    assert_eq!(second, vec![Progress::Succeeded, Progress::Succeeded, Progress::Updating, Progress::Updating]);
}

#[test]
fn autopause_stops_after_each_batch_until_resumed() {
    let (mut cluster, _) = Cluster::with_web(&["a"], 3);
    let mut v2 = web(3, "serve v2");
    v2.update_config.update_strategy = Some(UpdateStrategy::Batch { batch_size: 2, autopause_after_batch: true });
    cluster.start(v2, None);
    assert_eq!(cluster.until_done(100, 5_000), UpdateState::RollForwardPaused);
    assert_eq!(cluster.commands(), vec![(0, "serve v2".into()), (1, "serve v2".into()), (2, "serve v1".into())]);
    cluster.pass(10_000);
    assert_eq!(cluster.commands()[2].1, "serve v1", "paused means paused");
    assert_eq!(cluster.act(UpdateAction::Resume), UpdateState::RollingForward);
    assert_eq!(cluster.until_done(100, 5_000), UpdateState::RolledForward);
    assert_eq!(cluster.commands(), all_running("serve v2", 3));
}

#[test]
fn failed_instances_past_the_limit_roll_the_update_back_in_reverse_order() {
    let (mut cluster, v1) = Cluster::with_web(&["a", "b"], 4);
    cluster.outcome = fail_if_told;
    let mut v2 = web(4, "fail v2");
    v2.update_config.max_total_failures = 1;
    cluster.start(v2, None);
    assert_eq!(cluster.until_done(1_000, 120_000), UpdateState::RolledBack);
    assert_eq!(cluster.commands(), all_running("serve v1", 4));
    assert_eq!(cluster.state.job(&web_key()).unwrap(), &v1, "the job record is restored");
    let update = cluster.state.latest_update(&web_key()).unwrap();
    let states: Vec<UpdateState> = update.events.iter().map(|e| e.state).collect();
    assert_eq!(states, vec![UpdateState::RollingForward, UpdateState::RollingBack, UpdateState::RolledBack]);
    assert!(update.events[1].message.contains("2 instance(s) failed, more than max_total_failures (1)"));
    let untouched = update.instances.iter().filter(|i| !i.touched).count();
    assert_eq!(untouched, 2, "instances 0 and 1 failed; the rest was never started");
    let rolled_back: Vec<u32> = cluster
        .launches
        .iter()
        .filter(|(_, _, config)| *config == ConfigId::of(&v1.config).short())
        .map(|(instance, _, _)| *instance)
        .skip(4)
        .collect();
    assert_eq!(rolled_back, vec![1, 0], "rolled back in reverse order");
}

#[test]
fn without_rollback_a_failed_update_ends_failed_and_leaves_what_runs() {
    let (mut cluster, _) = Cluster::with_web(&["a"], 3);
    cluster.outcome = fail_if_told;
    let mut v2 = web(3, "fail v2");
    v2.update_config.rollback_on_failure = false;
    cluster.start(v2, None);
    assert_eq!(cluster.until_done(1_000, 60_000), UpdateState::Failed);
    let update = cluster.state.latest_update(&web_key()).unwrap();
    assert!(update.events.last().unwrap().message.contains("rollback_on_failure is off"));
    assert_eq!(cluster.commands()[0].1, "fail v2", "the failed instance keeps its new config");
    assert_eq!(cluster.commands()[2].1, "serve v1");
}

#[test]
fn failures_within_the_limits_are_tolerated() {
    let (mut cluster, _) = Cluster::with_web(&["a", "b"], 4);
    cluster.outcome = fail_if_told;
    // Instance 0 fails for good; max_total_failures 1 lets the update roll forward anyway.
    let mut v2 = web(4, "fail v2");
    v2.update_config.max_total_failures = 1;
    cluster.start(v2, Some(&[0]));
    assert_eq!(cluster.until_done(1_000, 60_000), UpdateState::RolledForward);
    let update = cluster.state.latest_update(&web_key()).unwrap();
    assert_eq!(update.instances[0].progress, Progress::Failed);
    assert!(update.events.last().unwrap().message.contains("1 instance(s) failed, within max_total_failures"));

    // max_per_shard_failures 2: each failure is followed by another try, the third ends it.
    let (mut cluster, _) = Cluster::with_web(&["a"], 2);
    cluster.outcome = fail_if_told;
    let mut v2 = web(2, "fail v2");
    v2.update_config.max_per_shard_failures = 2;
    let new = ConfigId::of(&v2.config).short();
    cluster.start(v2, None);
    assert_eq!(cluster.until_done(1_000, 120_000), UpdateState::RolledBack);
    let tries = cluster.launches.iter().filter(|(i, _, config)| *i == 0 && *config == new);
    assert_eq!(tries.count(), 3, "three runs of the new config before the instance failed");
}

#[test]
fn a_replacement_that_cannot_be_placed_fails_its_instance_after_the_stuck_timeout() {
    let (mut cluster, _) = Cluster::with_web(&["a"], 2);
    let mut huge = web(2, "serve v2");
    huge.config.task.resources.cpu = 64.0;
    cluster.start(huge, None);
    cluster.pass(29_000);
    assert!(cluster.state.active_update(&web_key()).is_some_and(|u| u.state == UpdateState::RollingForward));
    assert_eq!(cluster.until_done(1_000, 60_000), UpdateState::RolledBack);
    let update = cluster.state.latest_update(&web_key()).unwrap();
    let failed = update.instances[0].events.iter().find(|e| e.action == InstanceAction::InstanceUpdateFailed);
    assert!(failed.unwrap().message.contains("has been PENDING for more than 30 s"), "{failed:?}");
    assert_eq!(cluster.commands(), all_running("serve v1", 2));
}

#[test]
fn instance_counts_grow_and_shrink_through_updates() {
    let (mut cluster, _) = Cluster::with_web(&["a", "b"], 2);
    let UpdateStart::Started { instances, .. } = cluster.start(web(4, "serve v1"), None) else { panic!() };
    assert_eq!(instances, vec![2, 3], "only the added instances; the others run this config already");
    assert_eq!(cluster.until_done(100, 5_000), UpdateState::RolledForward);
    assert_eq!(cluster.commands(), all_running("serve v1", 4));
    assert_eq!(cluster.state.job(&web_key()).unwrap().instances, 4);

    let UpdateStart::Started { instances, .. } = cluster.start(web(1, "serve v1"), None) else { panic!() };
    assert_eq!(instances, vec![1, 2, 3]);
    assert_eq!(cluster.until_done(100, 5_000), UpdateState::RolledForward);
    assert_eq!(cluster.commands(), all_running("serve v1", 1), "removed from the highest ids, not rescheduled");
    assert_eq!(cluster.state.job(&web_key()).unwrap().instances, 1);
    cluster.pass(60_000);
    assert_eq!(cluster.commands().len(), 1);
}

#[test]
fn a_canary_updates_only_its_instances_and_leaves_two_config_groups() {
    let (mut cluster, v1) = Cluster::with_web(&["a", "b"], 4);
    cluster.start(web(4, "serve v2"), Some(&[0, 1]));
    assert_eq!(cluster.until_done(100, 5_000), UpdateState::RolledForward);
    let commands = cluster.commands();
    assert_eq!(&commands[..2], &all_running("serve v2", 2)[..]);
    assert_eq!(commands[2..].iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(), vec!["serve v1", "serve v1"]);
    assert_eq!(cluster.state.job(&web_key()).unwrap(), &v1, "a partial update keeps the job record");
    // A rescheduled canary keeps its own config.
    let canary = cluster.state.job_tasks(&web_key(), false)[0].clone();
    let agent = canary.assignment.as_ref().unwrap().agent.0.clone();
    let effects = report(&mut cluster.state, &agent, &canary.id, TaskState::Failed, cluster.now);
    cluster.carry_out(effects);
    cluster.pass(10_000);
    assert_eq!(cluster.commands()[0].1, "serve v2");
}

/// Four full hosts, each with one instance of `web` and a big preferred task, and a small
/// preferred task waiting for room.
fn full_hosts() -> Cluster {
    let mut cluster = Cluster::empty();
    for host in ["a", "b", "c", "d"] {
        register_with(&mut cluster.state, host, &format!("host:{host}"), vec![], 0);
    }
    let one_per_host = vec![atoll_model::Constraint::parse("host", "limit:1").unwrap()];
    let mut v1 = web(4, "serve v1");
    v1.config.constraints = one_per_host.clone();
    let mut filler = job("filler", 4, true);
    filler.config.task.resources = Resources { cpu: 1.75, ram_mb: 16, disk_mb: 16, gpu: 0 };
    filler.config.constraints = one_per_host;
    let _ = cluster.state.create_job(v1, 0).unwrap();
    let _ = cluster.state.create_job(filler, 0).unwrap();
    cluster.carry_out(Vec::new());
    let mut waiting = job("waiting", 1, true);
    waiting.config.task.resources = Resources { cpu: 0.25, ram_mb: 16, disk_mb: 16, gpu: 0 };
    waiting.config.tier = Some("preferred".into());
    let _ = cluster.state.create_job(waiting, 0).unwrap();
    cluster.carry_out(Vec::new());
    assert_eq!(states(&cluster.state, "waiting"), vec![(0, TaskState::Pending)], "no room for it");
    cluster
}

fn hosts_of(state: &ClusterState, key: &JobKey) -> Vec<(u32, Option<String>)> {
    state
        .job_tasks(key, false)
        .iter()
        .map(|t| (t.instance, t.assignment.as_ref().map(|a| a.hostname.clone())))
        .collect()
}

#[test]
fn a_replacement_that_fits_the_old_slot_goes_back_to_its_host_before_anything_else() {
    for (name, cpu) in [("the same size", 0.25), ("smaller", 0.2)] {
        let mut cluster = full_hosts();
        let before = hosts_of(&cluster.state, &web_key());
        let mut v2 = web(4, "serve v2");
        v2.config.constraints = vec![atoll_model::Constraint::parse("host", "limit:1").unwrap()];
        v2.config.task.resources.cpu = cpu;
        cluster.start(v2, None);
        assert_eq!(cluster.until_done(100, 10_000), UpdateState::RolledForward, "{name}");
        assert_eq!(hosts_of(&cluster.state, &web_key()), before, "{name}: each instance back where it was");
        assert_eq!(states(&cluster.state, "waiting"), vec![(0, TaskState::Pending)], "{name}: the slots were held");
    }

    // Other constraints: no slot is held, and the waiting task, preferred, takes the first one.
    let mut cluster = full_hosts();
    let first_host = hosts_of(&cluster.state, &web_key())[0].1.clone();
    let mut v2 = web(4, "serve v2");
    v2.config.constraints = vec![atoll_model::Constraint::parse("host", "limit:2").unwrap()];
    cluster.start(v2, None);
    let waiting = job("waiting", 1, true).key;
    assert_eq!(hosts_of(&cluster.state, &waiting), vec![(0, first_host)]);
}

#[test]
fn pause_resume_abort_and_rollback_by_request() {
    let (mut cluster, _) = Cluster::with_web(&["a"], 4);
    let mut v2 = web(4, "serve v2");
    v2.update_config.watch_secs = 10;
    cluster.start(v2.clone(), None);
    assert_eq!(cluster.act(UpdateAction::Pause), UpdateState::RollForwardPaused);
    cluster.pass(30_000);
    assert_eq!(cluster.commands()[1].1, "serve v1", "nothing new starts while paused");
    assert_eq!(cluster.commands()[0].1, "serve v2", "the instance under way was finished");
    let err = cluster.state.act_on_update(&web_key(), UpdateAction::Pause, None, cluster.now).unwrap_err();
    assert!(err.to_string().contains("cannot be paused now"), "{err}");
    assert_eq!(cluster.act(UpdateAction::Resume), UpdateState::RollingForward);
    cluster.pass(10_000);
    assert_eq!(cluster.act(UpdateAction::Rollback), UpdateState::RollingBack);
    assert_eq!(cluster.until_done(1_000, 60_000), UpdateState::RolledBack);
    assert_eq!(cluster.commands(), all_running("serve v1", 4));

    cluster.start(v2, None);
    cluster.pass(10_000);
    assert_eq!(cluster.act(UpdateAction::Abort), UpdateState::Aborted);
    let commands = cluster.commands();
    assert_eq!(commands.len(), 4, "no instance is left without a task");
    assert_eq!((commands[0].1.as_str(), commands[3].1.as_str()), ("serve v2", "serve v1"), "left where it stood");
    let err = cluster.state.act_on_update(&web_key(), UpdateAction::Resume, None, cluster.now).unwrap_err();
    assert!(matches!(err, StateError::NoActiveUpdate(_)), "{err}");
}

#[test]
fn a_pulsed_update_moves_only_while_pulses_come() {
    let (mut cluster, _) = Cluster::with_web(&["a"], 3);
    let mut v2 = web(3, "serve v2");
    v2.update_config.pulse_interval_secs = Some(60);
    v2.update_config.watch_secs = 20;
    cluster.start(v2, None);
    assert_eq!(cluster.state.active_update(&web_key()).unwrap().state, UpdateState::RollForwardAwaitingPulse);
    assert_eq!(cluster.commands(), all_running("serve v1", 3), "nothing before the first pulse");
    assert_eq!(cluster.act(UpdateAction::Pulse), UpdateState::RollingForward);
    cluster.pass(50_000);
    assert_eq!(cluster.state.active_update(&web_key()).unwrap().state, UpdateState::RollingForward);
    cluster.pass(11_000);
    let update = cluster.state.active_update(&web_key()).unwrap();
    assert_eq!(update.state, UpdateState::RollForwardAwaitingPulse, "no pulse for 61 s");
    assert!(update.events.last().unwrap().message.contains("No pulse in the last 60 s"));
    assert_eq!(cluster.act(UpdateAction::Pulse), UpdateState::RollingForward);
    for _ in 0..10 {
        cluster.pass(20_000);
        cluster.act_pulse_if_active();
    }
    assert_eq!(cluster.state.latest_update(&web_key()).unwrap().state, UpdateState::RolledForward);
}

impl Cluster {
    fn act_pulse_if_active(&mut self) {
        if self.state.active_update(&web_key()).is_some() {
            self.act(UpdateAction::Pulse);
        }
    }
}

#[test]
fn killing_the_job_aborts_its_update() {
    let (mut cluster, _) = Cluster::with_web(&["a"], 2);
    let mut v2 = web(2, "serve v2");
    v2.update_config.watch_secs = 30;
    cluster.start(v2, None);
    let (_, Outcome { effects, .. }) = cluster.state.kill(&web_key(), None, cluster.now).unwrap();
    cluster.carry_out(effects);
    cluster.pass(1_000);
    let update = cluster.state.latest_update(&web_key()).unwrap();
    assert_eq!(
        (update.state, update.events.last().unwrap().message.as_str()),
        (UpdateState::Aborted, "The job was killed")
    );
    assert!(cluster.commands().is_empty());
}

#[test]
fn lost_and_preempted_tasks_are_followed_not_counted() {
    let (mut cluster, _) = Cluster::with_web(&["a", "b"], 2);
    let mut v2 = web(2, "serve v2");
    v2.update_config.watch_secs = 20;
    cluster.start(v2, None);
    let new = cluster.state.job_tasks(&web_key(), false)[0].clone();
    assert_eq!(new.config.task.processes[0].cmdline, "serve v2");
    let agent = new.assignment.as_ref().unwrap().agent.0.clone();
    let effects = report(&mut cluster.state, &agent, &new.id, TaskState::Lost, cluster.now);
    cluster.carry_out(effects);
    assert_eq!(cluster.until_done(1_000, 120_000), UpdateState::RolledForward);
    let update = cluster.state.latest_update(&web_key()).unwrap();
    assert_eq!(update.instances[0].failures, 0);
    assert_eq!(cluster.commands(), all_running("serve v2", 2));
}

#[test]
fn a_restarted_scheduler_carries_an_update_on_where_it_stood() {
    let mut kept = Kept::default();
    let (mut cluster, _) = Cluster::with_web(&["a", "b"], 4);
    let mut v2 = web(4, "serve v2");
    v2.update_config.watch_secs = 10;
    cluster.start(v2, None);
    cluster.pass(10_000);
    cluster.pass(10_000);
    kept.save(&cluster.state);
    let launches_before = cluster.launches.len();
    let done_before: Vec<Progress> =
        cluster.state.active_update(&web_key()).unwrap().instances.iter().map(|i| i.progress).collect();
    assert_eq!(&done_before[..2], &[Progress::Succeeded, Progress::Succeeded]);

    // A new scheduler from what was stored; the agents register again with what they run.
    let mut state = kept.restore(cluster.now);
    state.config = update_config();
    let running: Vec<(String, TaskId)> = cluster
        .state
        .job_tasks(&web_key(), false)
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .map(|t| (t.assignment.as_ref().unwrap().agent.0.clone(), t.id.clone()))
        .collect();
    for agent in ["a", "b"] {
        let tasks = running.iter().filter(|(a, _)| a == agent).map(|(_, id)| (id.clone(), running_report())).collect();
        let effects = register_reporting(&mut state, agent, tasks, cluster.now);
        assert!(effects.is_empty(), "nothing to relaunch or kill: {effects:?}");
    }
    cluster.state = state;
    assert_eq!(cluster.until_done(1_000, 60_000), UpdateState::RolledForward);
    let restarted: Vec<u32> = cluster.launches[launches_before..].iter().map(|(i, _, _)| *i).collect();
    assert!(restarted.iter().all(|i| *i >= 2), "finished instances are not updated again: {restarted:?}");
    assert_eq!(cluster.commands(), all_running("serve v2", 4));
    let update = cluster.state.latest_update(&web_key()).unwrap();
    assert!(update.instances.iter().all(|i| i.initial.is_some()), "the rollback target survived");
}

#[test]
fn an_update_past_the_quota_is_refused() {
    let (mut cluster, _) = Cluster::with_web(&["a"], 2);
    let mut prod = web(2, "serve v1");
    prod.config.production = true;
    prod.key = "devcluster/www-data/prod/web".parse().unwrap();
    let _ = cluster.state.create_job(prod.clone(), 0).unwrap();
    let _ = cluster.state.set_quota("www-data", ResourceAggregate { cpu_millis: 600, ram_mb: 1000, disk_mb: 1000 });
    let mut bigger = prod.clone();
    bigger.config.task.resources.cpu = 0.5;
    let err = cluster.state.start_update(bigger, None, None, 0).unwrap_err();
    assert!(err.to_string().starts_with("Insufficient resource quota: CPU quota exceeded by 0.40 core(s)"), "{err}");
    let mut same_size = prod;
    same_size.config.task.processes[0].cmdline = "serve v2".into();
    assert!(cluster.state.start_update(same_size, None, None, 0).is_ok(), "a same-sized change needs no more quota");
}

#[test]
fn a_plan_makes_the_decisions_the_update_then_makes() {
    let (mut cluster, _) = Cluster::with_web(&["a", "b", "c"], 3);
    let mut v2 = web(5, "serve v2");
    v2.config.task.resources.cpu = 1.0;
    v2.update_config.watch_secs = 5;
    let plan = cluster.state.plan_update(v2.clone(), None, cluster.now).unwrap();
    assert_eq!(plan.outcome, Some(UpdateState::RolledForward));
    let kinds: Vec<ChangeKind> = plan.instances.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        vec![ChangeKind::Update, ChangeKind::Update, ChangeKind::Update, ChangeKind::Add, ChangeKind::Add]
    );
    assert!(plan.instances.iter().all(|i| i.to_host.is_some() && i.reached));
    assert!(cluster.state.latest_update(&web_key()).is_none(), "a plan changes nothing");

    // Later, for real, with heartbeats and ticks in between.
    cluster.pass(7_000);
    let v2_again = v2.clone();
    cluster.start(v2, None);
    assert_eq!(cluster.until_done(500, 60_000), UpdateState::RolledForward);
    let hosts: Vec<Option<String>> = cluster
        .state
        .job_tasks(&web_key(), false)
        .iter()
        .map(|t| t.assignment.as_ref().map(|a| a.hostname.clone()))
        .collect();
    let planned: Vec<Option<String>> = plan.instances.iter().map(|i| i.to_host.clone()).collect();
    assert_eq!(hosts, planned);

    // What cannot be placed is planned as such, with the reason.
    let mut huge = web(5, "serve v3");
    huge.config.task.resources.cpu = 64.0;
    let plan = cluster.state.plan_update(huge, None, cluster.now).unwrap();
    assert_eq!(plan.outcome, Some(UpdateState::RollingForward), "stopped where it stood");
    let reason = plan.instances[0].pending.as_ref().expect("a pending reason");
    assert_eq!(reason.summary, "Insufficient: CPU");
    assert!(!plan.instances[1].reached);
    assert!(cluster.state.plan_update(v2_again, None, cluster.now).unwrap().is_unchanged());
}

#[test]
fn a_plan_shows_what_would_be_preempted() {
    let (mut cluster, _) = Cluster::with_web(&["a"], 1);
    let mut low = job("low", 1, true);
    low.config.task.resources = Resources { cpu: 1.5, ram_mb: 16, disk_mb: 16, gpu: 0 };
    let _ = cluster.state.create_job(low, 0).unwrap();
    cluster.carry_out(Vec::new());
    let mut v2 = web(1, "serve v2");
    v2.config.task.resources.cpu = 1.0;
    v2.config.tier = Some("preferred".into());
    let plan = cluster.state.plan_update(v2, None, cluster.now).unwrap();
    assert_eq!(plan.preempted.len(), 1, "{plan:?}");
    assert!(plan.preempted[0].0.0.starts_with("www-data-devel-low-0-"));
    assert_eq!(plan.outcome, Some(UpdateState::RolledForward));
}

//! A scheduler restarted from what its store kept picks up every pending decision: throttles,
//! preemption delays, restarts in progress, host modes and quotas, without a task twice.

use super::*;

/// Active tasks per instance of `job`.
fn active_per_instance(state: &ClusterState, job: &JobKey) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for task in state.job_tasks(job, true).into_iter().filter(|t| t.state.is_active()) {
        *counts.entry(task.instance).or_insert(0) += 1;
    }
    counts
}

/// Registers `agent` again, reporting each of `ids` RUNNING.
fn reregister(state: &mut ClusterState, agent: &str, ids: &[TaskId], now: u64) -> Vec<Effect> {
    let tasks = ids.iter().map(|id| (id.clone(), running_report())).collect();
    register_reporting(state, agent, tasks, now)
}

#[test]
fn a_throttled_task_waits_out_its_backoff_across_a_restart() {
    let mut state = ClusterState::new(config());
    let mut kept = Kept::default();
    let ids = state.create_job(job("svc", 1, true), 0).unwrap().0;
    register(&mut state, "a", 0);
    place(&mut state, 0);
    report(&mut state, "a", &ids[0], TaskState::Running, 100);
    report(&mut state, "a", &ids[0], TaskState::Finished, 200);
    kept.save(&state);

    let mut restored = kept.restore(1_000);
    register(&mut restored, "a", 1_000);
    tick(&mut restored, 2_100);
    assert_eq!(states(&restored, "svc"), vec![(0, TaskState::Throttled)], "backoff ends at 2 200");
    tick(&mut restored, 2_200);
    assert_eq!(states(&restored, "svc"), vec![(0, TaskState::Pending)]);
    assert_eq!(active_per_instance(&restored, &job("svc", 1, true).key), BTreeMap::from([(0, 1)]));
}

#[test]
fn the_preemption_delay_counts_from_the_pending_event_and_a_preemption_is_not_repeated() {
    let mut state = ClusterState::new(config());
    let mut kept = Kept::default();
    register(&mut state, "a", 0);
    let low = state.create_job(job("low", 2, true), 0).unwrap().0;
    place(&mut state, 0);
    for id in &low {
        report(&mut state, "a", id, TaskState::Running, 0);
    }
    let mut prod = job("prod", 1, true);
    prod.config.production = true;
    let _ = state.create_job(prod.clone(), 100).unwrap();
    kept.save(&state);

    let mut restored = kept.restore(5_000);
    reregister(&mut restored, "a", &low, 5_000);
    assert!(place(&mut restored, 10_099).is_empty(), "the wait did not start again at the restart");
    assert_eq!(killed(&place(&mut restored, 10_100)), vec![("a".to_owned(), low[0].clone())]);
    kept.save(&restored);

    let mut again = kept.restore(10_200);
    let effects = reregister(&mut again, "a", &low, 10_200);
    assert_eq!(killed(&effects), vec![("a".to_owned(), low[0].clone())], "the lost kill is sent again");
    assert!(killed(&place(&mut again, 10_300)).is_empty(), "no second victim");
    report(&mut again, "a", &low[0], TaskState::Killed, 10_400);
    let placed = launched(&place(&mut again, 10_500));
    assert_eq!(placed.len(), 1, "the production task takes the room");
    assert_eq!(active_per_instance(&again, &job("low", 1, true).key), BTreeMap::from([(0, 1), (1, 1)]));
}

#[test]
fn a_restart_carries_on_batch_by_batch_after_a_scheduler_restart() {
    let mut state = ClusterState::new(config());
    let mut kept = Kept::default();
    register(&mut state, "a", 0);
    let key = job("web", 2, true).key;
    let ids = state.create_job(job("web", 2, true), 0).unwrap().0;
    place(&mut state, 0);
    for id in &ids {
        report(&mut state, "a", id, TaskState::Running, 0);
    }
    let _ = state.restart(&key, None, 1, 10).unwrap();
    kept.save(&state);

    let mut restored = kept.restore(100);
    let effects = reregister(&mut restored, "a", &ids, 100);
    assert_eq!(killed(&effects), vec![("a".to_owned(), ids[0].clone())], "only the first batch is stopped");
    assert!(killed(&tick(&mut restored, 150)).is_empty());
    report(&mut restored, "a", &ids[0], TaskState::Killed, 200);
    let replacement = place(&mut restored, 300);
    for (agent, id) in launched(&replacement) {
        report(&mut restored, &agent, &id, TaskState::Running, 400);
    }
    kept.save(&restored);

    let mut again = kept.restore(500);
    let running: Vec<TaskId> = again.job_tasks(&key, false).iter().map(|t| t.id.clone()).collect();
    reregister(&mut again, "a", &running, 500);
    assert_eq!(killed(&tick(&mut again, 600)), vec![("a".to_owned(), ids[1].clone())], "then the second batch");
    assert_eq!(active_per_instance(&again, &key), BTreeMap::from([(0, 1), (1, 1)]));
}

#[test]
fn host_modes_and_quotas_are_kept() {
    let mut state = ClusterState::new(config());
    let mut kept = Kept::default();
    register(&mut state, "a", 0);
    let _ = state.set_maintenance(&["a".to_owned()], MaintenanceMode::Drained, 0);
    let _ = state.set_quota("www-data", ResourceAggregate { cpu_millis: 500, ram_mb: 64, disk_mb: 64 });
    kept.save(&state);

    let restored = kept.restore(100);
    assert_eq!(restored.maintenance(&["a".to_owned()])[0].mode, Some(MaintenanceMode::Drained));
    assert_eq!(restored.quota("www-data").quota.map(|q| q.cpu_millis), Some(500));
}

/// A store handed every outcome's changes holds what the state holds, after every event.
#[test]
fn every_outcome_carries_every_change() {
    let mut state = ClusterState::new(config());
    let mut image = StoreImage::default();
    let mut keep = |state: &ClusterState, outcome: Outcome| -> Vec<Effect> {
        image.apply(&outcome.changes);
        assert_eq!(image.durable(), state.durable(), "what the store holds after the event");
        outcome.effects
    };
    let registration = |id: &str| Registration {
        incarnation: None,
        id: AgentId(id.into()),
        hostname: id.into(),
        resources: "cpus:2;mem:1024;disk:1024;ports:[31000-31009]".parse().unwrap(),
        attributes: Attributes::default(),
        tasks: Vec::new(),
    };
    let outcome = state.register_agent(registration("a"), 0).expect("registered");
    keep(&state, outcome);
    let outcome = state.register_agent(registration("b"), 0).expect("registered");
    keep(&state, outcome);
    let quota = ResourceAggregate { cpu_millis: 8000, ram_mb: 4096, disk_mb: 4096 };
    let outcome = state.set_quota("www-data", quota);
    keep(&state, outcome);
    let mut web = job("web", 2, true);
    web.config.production = true;
    let (_, outcome) = state.create_job(web.clone(), 0).unwrap();
    keep(&state, outcome);
    let (_, outcome) = state.create_job(job("batch", 1, false), 0).unwrap();
    keep(&state, outcome);

    let mut now = 0;
    let mut queue: Vec<Effect> = Vec::new();
    for round in 0..40 {
        now += 500;
        let outcome = state.placement_round(now);
        queue.extend(keep(&state, outcome));
        for effect in std::mem::take(&mut queue) {
            let (agent, task, next) = match effect {
                Effect::Launch { agent, task } => (agent, task.id.clone(), TaskState::Running),
                Effect::Kill { agent, task } => (agent, task, TaskState::Killed),
                Effect::Framework { .. } | Effect::ExecutorMessage { .. } => continue,
            };
            let report = StatusReport { state: next, message: String::new(), exit_code: None, sandbox: None };
            let outcome = state.update_status(&agent, &task, report, now);
            queue.extend(keep(&state, outcome));
        }
        for agent in ["a", "b"] {
            state.heartbeat(&AgentId(agent.into()), now);
        }
        let outcome = state.tick(now);
        queue.extend(keep(&state, outcome));
        match round {
            3 => {
                let (_, outcome) = state.restart(&web.key, None, 1, now).unwrap();
                queue.extend(keep(&state, outcome));
            }
            10 => {
                let mut v2 = web.clone();
                v2.config.task.processes[0].cmdline = "serve v2".into();
                v2.update_config.watch_secs = 0;
                let (_, outcome) = state.start_update(v2, None, None, now).unwrap();
                queue.extend(keep(&state, outcome));
            }
            20 => {
                let (_, outcome) = state.set_maintenance(&["a".to_owned()], MaintenanceMode::Drained, now);
                queue.extend(keep(&state, outcome));
            }
            25 => {
                let (_, outcome) = state.add_instances(&web.key, 0, 1, now).unwrap();
                queue.extend(keep(&state, outcome));
            }
            30 => {
                let (_, outcome) = state.kill(&web.key, None, now).unwrap();
                queue.extend(keep(&state, outcome));
            }
            _ => {}
        }
    }
    assert!(state.job(&web.key).is_none(), "the scenario ran to the end");
    assert!(!image.durable().updates.is_empty(), "the update was stored");
}

//! Frameworks in the state machine: offers by weighted DRF with the built-in framework among
//! them, accepts that become Atoll tasks, refusals that change nothing, status updates with
//! acknowledgements across failover, and framework records that survive a restart.

use super::*;

fn subscription(name: &str, role: &str, id: Option<&str>) -> Subscription {
    Subscription {
        framework_id: id.map(str::to_owned),
        name: name.into(),
        role: role.into(),
        failover_timeout_ms: Some(60_000),
        principal: "alice".into(),
        suppressed: false,
    }
}

fn subscribe(state: &mut ClusterState, name: &str, role: &str, now: u64) -> String {
    let ((id, known), _) =
        state.subscribe_framework(subscription(name, role, None), &format!("{name}-1"), "s1", now).unwrap();
    assert!(!known);
    id
}

/// The offers each framework got in `effects`.
fn offers(effects: &[Effect]) -> BTreeMap<String, Vec<OfferMade>> {
    let mut by = BTreeMap::<String, Vec<OfferMade>>::new();
    for effect in effects {
        if let Effect::Framework { framework, event: FrameworkEvent::Offers(made) } = effect {
            by.entry(framework.clone()).or_default().extend(made.iter().cloned());
        }
    }
    by
}

fn updates(effects: &[Effect], framework: &str) -> Vec<TaskUpdate> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Framework { framework: f, event: FrameworkEvent::Update(u) } if f == framework => {
                Some((**u).clone())
            }
            _ => None,
        })
        .collect()
}

fn launch(task: &str, cpu: f64) -> Launch {
    Launch {
        task_id: task.into(),
        resources: Resources { cpu, ram_mb: 64, disk_mb: 64, gpu: 0 },
        command: "sleep 1".into(),
        ports: BTreeMap::new(),
        environment: [("GREETING".to_owned(), "it's me".to_owned())].into_iter().collect(),
        executor_command: String::new(),
        data: Vec::new(),
    }
}

#[test]
fn offers_go_by_weighted_drf_and_an_accept_launches_atoll_tasks() {
    let mut config = config();
    config.frameworks.role_weights.insert("heavy".into(), 2.0);
    let mut state = ClusterState::new(config);
    for agent in ["a", "b", "c"] {
        register(&mut state, agent, 0);
    }
    assert!(state.allocation_round(1).effects.is_empty(), "no framework but the built-in one: nothing offered");
    let heavy = subscribe(&mut state, "heavy", "heavy", 1);
    let light = subscribe(&mut state, "light", "light", 1);
    let made = offers(&state.allocation_round(2).effects);
    assert_eq!((made[&heavy].len(), made[&light].len()), (2, 1), "weight 2 takes 2 of 3 agents: {made:?}");
    let offer = &made[&light][0];
    assert_eq!(offer.resources, Resources { cpu: 2.0, ram_mb: 1024, disk_mb: 1024, gpu: 0 });
    assert_eq!(offer.ports, vec![atoll_model::PortRange { begin: 31000, end: 31009 }]);
    let mut with_port = launch("web", 1.0);
    with_port.ports.insert("http".into(), 31005);
    let (ids, outcome) = state
        .accept_offers(&light, "s1", std::slice::from_ref(&offer.id), vec![with_port, launch("batch", 0.5)], 0.0, 3)
        .unwrap();
    assert_eq!(ids[0].0, format!("light-framework-{light}-0-web"));
    let launched: Vec<&ScheduledTask> = outcome
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Launch { agent, task } if agent.0 == offer.agent.0 => Some(task.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(launched.len(), 2);
    assert_eq!(launched[0].state, TaskState::Assigned);
    assert_eq!(launched[0].assignment.as_ref().unwrap().ports["http"], 31005);
    assert_eq!(launched[0].config.task.processes[0].cmdline, "export GREETING='it'\\''s me'; sleep 1");
    let first = updates(&outcome.effects, &light);
    assert_eq!(first.iter().map(|u| u.state).collect::<Vec<_>>(), [TaskState::Assigned, TaskState::Assigned]);
    assert!(outcome.changes.frameworks_put.iter().any(|f| f.id == light && f.next_instance == 2));
    // The agent's rest (0.5 cpu) is the light framework's to be offered again; placement never
    // takes what is offered to a framework: the heavy framework's two agents count as full.
    let snapshot = state.snapshot();
    let used: Vec<u64> = snapshot.agents.iter().map(|a| a.used.cpu_millis).collect();
    assert_eq!(used.iter().filter(|u| **u == 2000).count(), 2, "{used:?}");
    assert_eq!(used.iter().filter(|u| **u == 1500).count(), 1, "{used:?}");
}

#[test]
fn wrong_accepts_are_refused_and_change_nothing() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let mine = subscribe(&mut state, "mine", "r", 1);
    let other = subscribe(&mut state, "other", "s", 1);
    let made = offers(&state.allocation_round(2).effects);
    let (owner, offer) = made.iter().next().map(|(f, o)| (f.clone(), o[0].clone())).unwrap();
    let thief = if owner == mine { other.clone() } else { mine.clone() };
    let refused = |r: Result<(Vec<TaskId>, Outcome), StateError>| r.map(|_| ()).unwrap_err().to_string();
    let ids = std::slice::from_ref(&offer.id);
    assert!(
        refused(state.accept_offers(&thief, "s1", ids, vec![launch("t", 1.0)], 0.0, 3)).contains("was not made to")
    );
    assert!(refused(state.accept_offers(&owner, "s1", ids, vec![launch("t", 3.0)], 0.0, 3)).contains("offers hold"));
    assert!(
        refused(state.accept_offers(&owner, "old", ids, vec![launch("t", 1.0)], 0.0, 3)).contains("subscribed again")
    );
    let twice = vec![launch("t", 0.5), launch("t", 0.5)];
    assert!(refused(state.accept_offers(&owner, "s1", ids, twice, 0.0, 3)).contains("named twice"));
    assert!(refused(state.accept_offers(&owner, "s1", &["1-1".into()], vec![], 0.0, 3)).contains("not outstanding"));
    assert_eq!(state.framework_view(&owner).unwrap().offers.len(), 1, "still outstanding");
    let _ = state.accept_offers(&owner, "s1", ids, vec![launch("t", 1.0)], 0.0, 3).expect("accepted");
    assert!(
        refused(state.accept_offers(&owner, "s1", ids, vec![launch("u", 0.5)], 0.0, 4)).contains("not outstanding")
    );
    // With the other suppressed, the rest comes back to the owner; a task id still active is
    // refused.
    let _ = state.revive_framework(&thief, "s1", false).unwrap();
    let again = offers(&state.allocation_round(5).effects);
    let rest = again[&owner][0].clone();
    let r = refused(state.accept_offers(&owner, "s1", std::slice::from_ref(&rest.id), vec![launch("t", 0.1)], 0.0, 6));
    assert!(r.contains("already active"), "{r}");
}

#[test]
fn the_builtin_framework_takes_its_share_while_it_has_pending_tasks() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let greedy = subscribe(&mut state, "greedy", "r", 1);
    // The framework holds the only agent: a job's task waits.
    let made = offers(&state.allocation_round(2).effects);
    assert_eq!(made[&greedy].len(), 1);
    let ids = state.create_job(job("hello", 1, true), 3).unwrap().0;
    assert!(place(&mut state, 4).is_empty(), "nothing placed on resources offered to another framework");
    assert!(state.pending_reason(&ids[0]).is_some());
    // Declined, the agent goes to the built-in framework (below its share, wanting), and
    // placement takes it.
    let _ = state.decline_offers(&greedy, "s1", &[made[&greedy][0].id.clone()], 60.0, 5).unwrap();
    assert!(offers(&state.allocation_round(6).effects).is_empty(), "the greedy one is filtered, jobs get it");
    let launched = place(&mut state, 7);
    assert!(launched.iter().any(|e| matches!(e, Effect::Launch { .. })), "{launched:?}");
    // Revived, the greedy framework gets what is left (1 of 2 cpus).
    let _ = state.revive_framework(&greedy, "s1", true).unwrap();
    let made = offers(&state.allocation_round(8).effects);
    assert_eq!(made[&greedy][0].resources.cpu, 1.0);
    // An offer not used within the offer timeout is rescinded.
    let later = state.allocation_round(8 + state.config().frameworks.offer_timeout_ms).effects;
    assert!(
        later.iter().any(|e| matches!(e, Effect::Framework { event: FrameworkEvent::Rescind { reason, .. }, .. } if reason.contains("offer timeout"))),
        "{later:?}"
    );
}

#[test]
fn updates_wait_for_acknowledgement_across_failover_and_a_restart() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let id = subscribe(&mut state, "keeper", "r", 1);
    let made = offers(&state.allocation_round(2).effects);
    let (ids, _) =
        state.accept_offers(&id, "s1", &[made[&id][0].id.clone()], vec![launch("long", 1.0)], 0.0, 3).unwrap();
    let assigned_uuid = format!("{}#1", ids[0]);
    let _ = state.acknowledge_update(&id, "s1", "long", &assigned_uuid).unwrap();
    let running = report(&mut state, "a", &ids[0], TaskState::Running, 4);
    let update = updates(&running, &id).pop().expect("RUNNING sent once ASSIGNED was acknowledged");
    assert_eq!(update.state, TaskState::Running);
    let bad = state.acknowledge_update(&id, "s1", "long", "nonsense").map(|_| ()).unwrap_err();
    assert!(bad.to_string().contains("not the uuid of an update"), "{bad}");
    // Away, and back: RUNNING (not acknowledged) comes again; ASSIGNED does not.
    let _ = state.framework_disconnected(&id, "s1", 5);
    assert!(!state.framework_view(&id).unwrap().connected);
    let mut kept = Kept::default();
    kept.save(&state);
    let mut restored = kept.restore(6);
    let ((again, known), outcome) =
        restored.subscribe_framework(subscription("keeper", "r", Some(&id)), "unused", "s2", 7).unwrap();
    assert!(known && again == id);
    let resent = updates(&outcome.effects, &id);
    assert_eq!(resent.iter().map(|u| u.uuid.clone().unwrap()).collect::<Vec<_>>(), [update.uuid.clone().unwrap()]);
    // A role may not change across failover.
    let moved = restored.subscribe_framework(subscription("keeper", "other", Some(&id)), "x", "s3", 8);
    assert!(moved.map(|_| ()).unwrap_err().to_string().contains("cannot move to role other"));
    // Past its failover timeout a framework away is torn down, its tasks killed.
    let _ = restored.framework_disconnected(&id, "s2", 9);
    register_reporting(&mut restored, "a", vec![(ids[0].clone(), running_report())], 59_900);
    let effects = tick(&mut restored, 9 + 60_000);
    assert!(effects.iter().any(|e| matches!(e, Effect::Kill { task, .. } if *task == ids[0])), "{effects:?}");
    assert!(restored.framework_view(&id).is_none());
}

#[test]
fn an_offer_named_twice_or_of_a_draining_host_is_refused_and_draining_rescinds_at_once() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let id = subscribe(&mut state, "fw", "r", 1);
    let offer = offers(&state.allocation_round(2).effects)[&id][0].clone();
    let twice = vec![offer.id.clone(), offer.id.clone()];
    let two_tasks = vec![launch("x", 2.0), launch("y", 2.0)];
    let refused = state.accept_offers(&id, "s1", &twice, two_tasks, 0.0, 3).map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("is named twice"), "{refused}");
    // Another spelling of the same number is no offer at all.
    let respelled = offer.id.replace('-', "-+");
    let refused = state.accept_offers(&id, "s1", &[respelled], vec![launch("x", 1.0)], 0.0, 3).map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("is not outstanding"), "{refused}");
    let declined_twice = state.decline_offers(&id, "s1", &twice, 60.0, 3).map(|_| ()).unwrap_err();
    assert!(declined_twice.to_string().contains("is named twice"), "{declined_twice}");
    assert_eq!(state.framework_view(&id).unwrap().offers.len(), 1, "nothing declined by a refused call");
    // Draining the host takes the offer back at once, telling the framework.
    let (_, outcome) = state.set_maintenance(&["a".to_owned()], MaintenanceMode::Draining, 4);
    let rescinded = outcome.effects.iter().any(|e| {
        matches!(e, Effect::Framework { event: FrameworkEvent::Rescind { offer: o, reason }, .. } if *o == offer.id && reason.contains("draining"))
    });
    assert!(rescinded, "{:?}", outcome.effects);
    let late = state.accept_offers(&id, "s1", std::slice::from_ref(&offer.id), vec![launch("x", 1.0)], 0.0, 5);
    assert!(late.map(|_| ()).unwrap_err().to_string().contains("is not outstanding"));
    assert!(offers(&state.allocation_round(6).effects).is_empty(), "a draining host is offered to no one");
}

#[test]
fn each_task_has_one_update_in_flight_and_unacknowledged_ended_tasks_are_kept() {
    let mut config = config();
    config.terminal_tasks_kept_per_job = 0;
    let mut state = ClusterState::new(config);
    register(&mut state, "a", 0);
    let id = subscribe(&mut state, "batch", "r", 1);
    let offer = offers(&state.allocation_round(2).effects)[&id][0].clone();
    let launches = vec![launch("t0", 0.5), launch("t1", 0.5), launch("t2", 0.5)];
    let (ids, outcome) = state.accept_offers(&id, "s1", &[offer.id], launches, 0.0, 3).unwrap();
    assert_eq!(updates(&outcome.effects, &id).len(), 3, "each task's ASSIGNED");
    // Not acknowledged: the next states wait.
    for task in &ids {
        assert!(updates(&report(&mut state, "a", task, TaskState::Running, 4), &id).is_empty());
        assert!(updates(&report(&mut state, "a", task, TaskState::Finished, 5), &id).is_empty());
    }
    // All three ended, none acknowledged: all kept, though no terminal task is otherwise.
    let _ = tick(&mut state, 6);
    assert_eq!(state.framework_tasks(&id).len(), 3);
    // An acknowledgement lets the next update of that task go.
    let (_, outcome) = state.acknowledge_update(&id, "s1", "t0", &format!("{}#1", ids[0])).unwrap();
    let next = updates(&outcome.effects, &id);
    assert_eq!(next.iter().map(|u| (u.task_id.as_str(), u.state)).collect::<Vec<_>>(), [("t0", TaskState::Running)]);
    let (_, outcome) = state.acknowledge_update(&id, "s1", "t0", &format!("{}#3", ids[0])).unwrap();
    assert!(updates(&outcome.effects, &id).is_empty(), "FINISHED acknowledged: nothing more");
    // Now t0 is all acknowledged and may go; t1 and t2 stay.
    let _ = tick(&mut state, 7);
    let kept: Vec<String> = state.framework_tasks(&id).iter().map(|t| t.id.0.clone()).collect();
    assert_eq!(kept, [ids[1].0.clone(), ids[2].0.clone()]);
    // Acknowledging a task no longer kept is harmless.
    let _ = state.acknowledge_update(&id, "s1", "t0", &format!("{}#3", ids[0])).expect("accepted");
    // A resubscription sends each task's next unacknowledged update only.
    let _ = state.framework_disconnected(&id, "s1", 8);
    let (_, outcome) = state.subscribe_framework(subscription("batch", "r", Some(&id)), "unused", "s2", 9).unwrap();
    let resent = updates(&outcome.effects, &id);
    assert_eq!(resent.iter().map(|u| u.state).collect::<Vec<_>>(), [TaskState::Assigned, TaskState::Assigned]);
}

#[test]
fn the_builtin_framework_does_not_hold_agents_for_a_task_that_fits_nowhere() {
    let mut state = ClusterState::new(config());
    for agent in ["a", "b", "c", "d"] {
        register(&mut state, agent, 0);
    }
    let mut huge = job("huge", 1, true);
    huge.config.task.resources.cpu = 100.0;
    let _ = state.create_job(huge, 0).unwrap();
    let id = subscribe(&mut state, "fw", "r", 1);
    let mut got = Vec::new();
    for round in 0..3 {
        let made = offers(&state.allocation_round(2 + round).effects);
        let mine = made.get(&id).cloned().unwrap_or_default();
        got.push(mine.len());
        for offer in &mine {
            let _ = state.decline_offers(&id, "s1", std::slice::from_ref(&offer.id), 0.0, 2 + round).unwrap();
        }
        let _ = place(&mut state, 2 + round);
    }
    // DRF: the built-in framework wants too, and takes half at first; once placement used none
    // of what it was offered, each agent is hidden from it a while, and the other gets them.
    assert_eq!(got.first(), Some(&2), "{got:?}");
    assert_eq!(got.last(), Some(&4), "{got:?}");
}

#[test]
fn room_made_by_preemption_is_kept_for_the_task_it_was_made_for() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let mut low = job("low", 2, true);
    low.config.tier = Some("preemptible".into());
    let low_ids = state.create_job(low, 0).unwrap().0;
    let _ = place(&mut state, 0);
    for task in &low_ids {
        let _ = report(&mut state, "a", task, TaskState::Running, 0);
    }
    let id = subscribe(&mut state, "fw", "r", 1);
    let made = offers(&state.allocation_round(2).effects);
    assert!(made.values().flatten().all(|o| o.resources.cpu == 0.0), "no cpu left to offer: {made:?}");
    let mut prod = job("prod", 1, true);
    prod.config.tier = Some("preferred".into());
    let prod_ids = state.create_job(prod, 100).unwrap().0;
    let preempting = place(&mut state, 10_100);
    let victim = killed(&preempting)[0].1.clone();
    let _ = report(&mut state, "a", &victim, TaskState::Killed, 10_200);
    // The framework is not offered the freed cpu; the production task gets it.
    let made = offers(&state.allocation_round(10_300).effects);
    assert!(made.get(&id).is_none_or(|o| o.iter().all(|o| o.resources.cpu < 1.0)), "{made:?}");
    assert_eq!(launched(&place(&mut state, 10_400)), vec![("a".to_owned(), prod_ids[0].clone())]);
}

#[test]
fn subscriptions_and_calls_that_are_not_a_frameworks_to_make_are_refused() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let jobs_role = state.subscribe_framework(subscription("sneaky", "jobs", None), "sneaky-1", "s", 1);
    assert!(jobs_role.map(|_| ()).unwrap_err().to_string().contains("Atoll's own job scheduler's"));
    let builtin = state.revive_framework("atoll-jobs", "s", true).map(|_| ()).unwrap_err();
    assert!(builtin.to_string().contains("Atoll's own job scheduler"), "{builtin}");
    let id = subscribe(&mut state, "fw", "r", 1);
    let offer = offers(&state.allocation_round(2).effects)[&id][0].clone();
    let tiny = state.accept_offers(&id, "s1", std::slice::from_ref(&offer.id), vec![launch("t", 0.0004)], 0.0, 3);
    assert!(tiny.map(|_| ()).unwrap_err().to_string().contains("at least 0.001 cpu"));
    // A failover takes the older subscription's offers back.
    let (_, outcome) = state.subscribe_framework(subscription("fw", "r", Some(&id)), "unused", "s2", 4).unwrap();
    assert!(outcome.effects.iter().all(|e| !matches!(e, Effect::Framework { event: FrameworkEvent::Offers(_), .. })));
    assert!(state.framework_view(&id).unwrap().offers.is_empty());
    // The failover timeout counts from the disconnection across a restart.
    let _ = state.framework_disconnected(&id, "s2", 5);
    let mut kept = Kept::default();
    kept.save(&state);
    let mut restored = kept.restore(50_000);
    assert_eq!(restored.framework_view(&id).unwrap().disconnected_since_ms, Some(5));
    let _ = tick(&mut restored, 60_005);
    assert!(restored.framework_view(&id).is_none(), "60 s after it went away, not after the restart");
}

#[test]
fn a_custom_executors_task_carries_its_data_and_messages_go_both_ways_through_its_agent() {
    let mut state = ClusterState::new(config());
    register(&mut state, "a", 0);
    let id = subscribe(&mut state, "fw", "r", 1);
    let offer = offers(&state.allocation_round(2).effects)[&id][0].clone();
    let custom = Launch {
        command: String::new(),
        executor_command: "./my-executor".into(),
        data: b"payload".to_vec(),
        ..launch("custom", 0.5)
    };
    let (ids, outcome) =
        state.accept_offers(&id, "s1", &[offer.id], vec![custom, launch("plain", 0.5)], 0.0, 3).unwrap();
    let launched: Vec<&ScheduledTask> = outcome
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Launch { task, .. } => Some(task.as_ref()),
            _ => None,
        })
        .collect();
    let config = &launched[0].config;
    assert_eq!(config.custom_executor.as_ref().map(|e| e.data.clone()), Some(b"payload".to_vec()));
    assert!(config.task.processes[0].cmdline.ends_with("./my-executor"));
    assert!(config.lifecycle.http.is_none() && launched[1].config.lifecycle.http.is_none(), "no Aurora lifecycle");
    assert!(launched[1].config.custom_executor.is_none());
    // To the executor, through its agent; a task without one is refused.
    let (_, outcome) = state.executor_message(&id, "s1", "custom", b"ping".to_vec()).unwrap();
    assert_eq!(
        outcome.effects,
        vec![Effect::ExecutorMessage { agent: AgentId("a".into()), task: ids[0].clone(), data: b"ping".to_vec() }]
    );
    let refused = state.executor_message(&id, "s1", "plain", b"ping".to_vec()).map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("runs no custom executor"), "{refused}");
    // From the executor to its framework, only from the task's own agent.
    let back = state.message_from_executor(&AgentId("a".into()), &ids[0], b"pong".to_vec()).effects;
    assert!(
        matches!(&back[..], [Effect::Framework { event: FrameworkEvent::Message { task_id, data, .. }, .. }] if task_id == "custom" && data == b"pong"),
        "{back:?}"
    );
    assert!(state.message_from_executor(&AgentId("b".into()), &ids[0], b"x".to_vec()).effects.is_empty());
    // A job may not name a custom executor.
    let mut job = job("sneaky", 1, true);
    job.config.custom_executor = Some(atoll_model::job::CustomExecutor { data: Vec::new() });
    let refused = state.create_job(job, 4).map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("custom_executor is for frameworks' tasks"), "{refused}");
}

#[test]
fn a_roles_guarantee_is_offered_first_and_laid_away_while_it_declines() {
    let mut config = config();
    config.frameworks.role_guarantees.insert("prod".into(), Resources { cpu: 2.0, ram_mb: 0, disk_mb: 0, gpu: 0 });
    let mut state = ClusterState::new(config);
    for agent in ["a", "b"] {
        register(&mut state, agent, 0);
    }
    let prod = subscribe(&mut state, "prod", "prod", 1);
    let batch = subscribe(&mut state, "batch", "batch", 1);
    let first = offers(&state.allocation_round(2).effects);
    assert_eq!((first[&prod].len(), first[&batch].len()), (1, 1), "{first:?}");
    let _ = state.decline_offers(&prod, "s1", &[first[&prod][0].id.clone()], 3600.0, 3).unwrap();
    // The declined agent is what covers prod's guarantee: batch is not offered it.
    assert!(offers(&state.allocation_round(4).effects).is_empty());
}

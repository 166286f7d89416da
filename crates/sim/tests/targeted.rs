//! Small scenarios, one fault placed by hand each, asserting exactly what the scheduler and the
//! agents end up with: a lost launch, a partition past the agent timeout, a crash, restarts
//! with and without tasks, a batch job that keeps failing, and the overlap of a healed host's
//! orphans with new work.

use atoll_model::{AgentId, JobKey, ScheduledTask, TaskState};
use atoll_sim::scenario::{hosts, job, key};
use atoll_sim::{AgentSpec, Behaviour, Fault, Sim, SimConfig};

/// A simulation of `agents` with seed 7 and the default config as `configure` changes it.
fn sim(agents: Vec<AgentSpec>, configure: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut config = SimConfig::new(7);
    configure(&mut config);
    Sim::new(config, agents)
}

fn run(sim: &mut Sim, until_ms: u64) {
    sim.run_until(until_ms).unwrap_or_else(|violation| panic!("{violation}"));
}

fn converge(sim: &mut Sim) {
    sim.run_to_convergence(60_000).unwrap_or_else(|violation| panic!("{violation}"));
}

/// The newest task of each instance of `job`.
fn newest(sim: &Sim, job: &JobKey) -> Vec<ScheduledTask> {
    sim.state().job_tasks(job, false).into_iter().cloned().collect()
}

fn agent_of(sim: &Sim, task: &ScheduledTask) -> usize {
    let agent = &task.assignment.as_ref().expect("placed").agent;
    sim.agent_number(agent).expect("a simulated agent")
}

fn last_message(task: &ScheduledTask) -> &str {
    &task.events.last().expect("a history").message
}

#[test]
fn a_lost_launch_is_sent_again_when_the_agent_registers_again() {
    let mut sim = sim(hosts(1, 1), |_| {});
    sim.submit(3_000, job("web", 1, true, &[]), Behaviour::Serve);
    sim.inject(3_000, Fault::Lose { agent: 0, up: false });
    converge(&mut sim);
    let task = &newest(&sim, &key("web"))[0];
    assert_eq!(task.state, TaskState::Running);
    assert_eq!(task.ancestor, None, "the first task itself runs: nothing was lost or rescheduled");
    let stats = sim.stats();
    assert_eq!((stats.messages_lost, stats.registrations, stats.lost_tasks), (1, 2, 0), "{stats:?}");
    assert_eq!(stats.launches, 2, "launched at placement, and again on re-registration");
}

#[test]
fn a_partition_past_the_timeout_runs_an_instance_twice_until_the_agent_is_back() {
    let mut sim = sim(hosts(3, 3), |_| {});
    sim.submit(1_000, job("web", 1, true, &[]), Behaviour::Serve);
    run(&mut sim, 4_000);
    let original = newest(&sim, &key("web"))[0].clone();
    let cut_off = agent_of(&sim, &original);
    sim.inject(5_000, Fault::Partition { agent: cut_off, for_ms: 20_000 });
    run(&mut sim, 22_000);
    let replacement = newest(&sim, &key("web"))[0].clone();
    assert_eq!(replacement.ancestor.as_ref(), Some(&original.id));
    assert_eq!(replacement.state, TaskState::Running);
    assert_ne!(agent_of(&sim, &replacement), cut_off);
    let old = sim.state().job_tasks(&key("web"), true).into_iter().find(|t| t.id == original.id).cloned();
    assert_eq!(old.map(|t| t.state), Some(TaskState::Lost), "the scheduler gave the old copy up");
    let still_there = sim.agent(cut_off).task(&original.id).map(|t| t.state);
    assert_eq!(still_there, Some(TaskState::Running), "the cut-off agent still runs it: a duplicate");
    // Healed at 25 s: the agent registers with the held messages and the orphan's kill follows.
    run(&mut sim, 28_000);
    assert!(sim.agent(cut_off).live_tasks().next().is_none(), "the orphan is killed once the agent is back");
    converge(&mut sim);
    let stats = sim.stats();
    assert_eq!((stats.lost_tasks, stats.max_duplicated_instances, stats.max_orphans), (1, 1, 1), "{stats:?}");
}

#[test]
fn with_a_partition_policy_that_waits_the_instance_runs_once_through_a_partition() {
    let mut sim = sim(hosts(3, 3), |_| {});
    let mut web = job("web", 1, true, &[]);
    web.config.partition_policy = Some(atoll_model::config::PartitionPolicy { reschedule: false, delay_secs: 0 });
    sim.submit(1_000, web, Behaviour::Serve);
    run(&mut sim, 4_000);
    let original = newest(&sim, &key("web"))[0].clone();
    let cut_off = agent_of(&sim, &original);
    sim.inject(5_000, Fault::Partition { agent: cut_off, for_ms: 20_000 });
    run(&mut sim, 22_000);
    let during = newest(&sim, &key("web"))[0].clone();
    assert_eq!((&during.id, during.state), (&original.id, TaskState::Partitioned), "no replacement while cut off");
    converge(&mut sim);
    let after = newest(&sim, &key("web"))[0].clone();
    assert_eq!((&after.id, after.state), (&original.id, TaskState::Running), "the same run, back");
    let stats = sim.stats();
    assert_eq!(
        (stats.lost_tasks, stats.max_duplicated_instances, stats.max_orphans, stats.overcommitted_samples),
        (0, 0, 0, 0),
        "{stats:?}"
    );
}

#[test]
fn a_crashed_host_s_tasks_are_lost_and_replaced_on_another_host() {
    let mut sim = sim(hosts(3, 3), |_| {});
    sim.submit(1_000, job("web", 2, true, &[("host", "limit:1")]), Behaviour::Serve);
    run(&mut sim, 4_000);
    let original = newest(&sim, &key("web"))[0].clone();
    let crashed = agent_of(&sim, &original);
    sim.inject(5_000, Fault::Crash { agent: crashed, down_for_ms: None });
    converge(&mut sim);
    let tasks = newest(&sim, &key("web"));
    assert_eq!(tasks[0].ancestor.as_ref(), Some(&original.id));
    assert_ne!(agent_of(&sim, &tasks[0]), crashed);
    assert_ne!(agent_of(&sim, &tasks[0]), agent_of(&sim, &tasks[1]), "still one per host");
    let old = sim.state().job_tasks(&key("web"), true).into_iter().find(|t| t.id == original.id).cloned();
    let old = old.expect("kept in the history");
    assert_eq!(old.state, TaskState::Lost);
    assert!(last_message(&old).contains("stopped sending heartbeats"), "{}", last_message(&old));
    // Lost once the agent is silent past the 10 s timeout, at the next housekeeping tick.
    let lost_at = old.since_ms();
    assert!((15_000..=16_500).contains(&lost_at), "lost at {lost_at} ms");
    assert_eq!(sim.stats().lost_tasks, 1);
}

#[test]
fn a_restart_keeping_its_tasks_changes_nothing_and_one_losing_them_replaces_them() {
    let mut sim = sim(hosts(2, 2), |_| {});
    sim.submit(1_000, job("web", 2, true, &[("host", "limit:1")]), Behaviour::Serve);
    run(&mut sim, 4_000);
    let before = newest(&sim, &key("web"));
    let (keeper, loser) = (agent_of(&sim, &before[0]), agent_of(&sim, &before[1]));
    sim.inject(5_000, Fault::Restart { agent: keeper, keep_tasks: true, down_for_ms: 2_000 });
    sim.inject(5_000, Fault::Restart { agent: loser, keep_tasks: false, down_for_ms: 2_000 });
    converge(&mut sim);
    let after = newest(&sim, &key("web"));
    assert_eq!(after[0].id, before[0].id, "the surviving task is adopted, not replaced");
    assert_eq!(after[0].state, TaskState::Running);
    assert_eq!(after[1].ancestor.as_ref(), Some(&before[1].id));
    assert_eq!(agent_of(&sim, &after[1]), loser, "the only host its limit allows");
    let old = sim.state().job_tasks(&key("web"), true).into_iter().find(|t| t.id == before[1].id).cloned();
    assert_eq!(old.as_ref().map(last_message), Some("Agent no longer has the task"));
    let stats = sim.stats();
    assert_eq!((stats.restarts, stats.registrations, stats.lost_tasks), (2, 4, 1), "{stats:?}");
}

#[test]
fn a_failing_batch_job_runs_max_task_failures_times_with_backoff_then_stays_failed() {
    let mut sim = sim(hosts(2, 2), |config| {
        config.state.initial_backoff_ms = 2_000;
        config.state.max_backoff_ms = 3_000;
    });
    let mut failing = job("flaky", 1, false, &[]);
    failing.config.max_task_failures = 3;
    sim.submit(1_000, failing, Behaviour::Fail { after_ms: (1_000, 1_000) });
    converge(&mut sim);
    let runs = sim.state().job_tasks(&key("flaky"), true);
    assert_eq!(runs.len(), 3, "three runs, then the instance is given up");
    assert!(runs.iter().all(|t| t.state == TaskState::Failed && t.exit_code == Some(1)));
    assert_eq!(runs[0].failure_count, 2, "the newest run counts the two failures before it");
    assert_eq!(runs[0].ancestor.as_ref(), Some(&runs[1].id));
    let throttled = |t: &&&ScheduledTask| t.events.iter().any(|e| e.state == TaskState::Throttled);
    assert_eq!(runs.iter().filter(throttled).count(), 2, "each rerun of a short run waits its backoff");
}

#[test]
fn a_healed_host_takes_new_work_only_once_its_orphans_are_killed() {
    // A LOST task the agent still runs when it is back (an orphan) holds its resources there
    // until the agent reports it ended, so the host never runs more than it offers.
    let small = |n: usize| AgentSpec {
        id: AgentId(format!("small-{n}")),
        resources: "cpus:1;mem:4096;disk:8192;ports:[31000-31009]".parse().expect("resources"),
        attributes: format!("host:small-{n}").parse().expect("attributes"),
    };
    let mut sim = sim(vec![small(0), small(1)], |config| config.timing.kill_ms = (1_500, 2_000));
    sim.submit(1_000, job("first", 4, true, &[]), Behaviour::Serve);
    run(&mut sim, 4_000);
    let first = newest(&sim, &key("first"));
    let host = agent_of(&sim, &first[0]);
    assert!(first.iter().all(|t| agent_of(&sim, t) == host), "bin-packing fills one host");
    sim.inject(5_000, Fault::Partition { agent: host, for_ms: 20_000 });
    sim.submit(18_000, job("second", 4, true, &[]), Behaviour::Serve);
    converge(&mut sim);
    let second = newest(&sim, &key("second"));
    assert!(second.iter().all(|t| agent_of(&sim, t) == host && t.state == TaskState::Running));
    let stats = sim.stats();
    assert_eq!(stats.overcommitted_samples, 0, "the host never ran more than it offers: {stats:?}");
    assert!(stats.max_orphans > 0, "the partition left orphans to kill: {stats:?}");
    assert_eq!(stats.lost_tasks, 4);
}

#[test]
fn a_broken_invariant_names_the_seed_that_replays_it() {
    // A kill cannot reach an agent within 1 ms, so the killed job's deadline check fails.
    let mut sim = sim(hosts(2, 2), |config| config.kill_bound_ms = 1);
    sim.submit(1_000, job("web", 2, true, &[]), Behaviour::Serve);
    sim.kill_job(5_000, key("web"));
    let violation = sim.run_until(10_000).expect_err("the kill deadline is missed");
    assert_eq!((violation.seed, violation.at_ms, violation.invariant), (7, 5_001, "killed jobs stop"));
    let report = violation.to_string();
    assert!(report.contains("with seed 7:") && report.contains("replay: ATOLL_SIM_SEED=7"), "{report}");
    assert!(report.contains("kill job"), "the report shows the last steps: {report}");
}

//! Cron jobs in the state machine: scheduling and refusals, fires on the virtual clock, the
//! collision policies, missed runs across a scheduler restart, and the records kept.

use super::*;

const MINUTE: u64 = 60_000;
/// 2026-01-01T00:00:00Z.
const NEW_YEAR: u64 = 1_767_225_600_000;

/// A cluster whose agents are never lost to silence over the virtual hours these tests span.
fn cluster() -> ClusterState {
    let mut config = config();
    config.agent_timeout_ms = 365 * 24 * 60 * MINUTE;
    ClusterState::new(config)
}

fn cron(name: &str, schedule: &str, instances: u32) -> JobSpec {
    let mut spec = job(name, instances, false);
    spec.cron_schedule = Some(schedule.into());
    spec
}

fn runs(state: &ClusterState, spec: &JobSpec) -> Vec<(CronRunState, Option<u64>)> {
    let view = state.cron_job(&spec.key, 0).expect("a cron job");
    view.record.runs.iter().map(|r| (r.state, r.due_ms)).collect()
}

/// Starts every PENDING task of `spec` on agent `a` and reports them RUNNING.
fn run_pending(state: &mut ClusterState, spec: &JobSpec, now: u64) -> Vec<TaskId> {
    let launched: Vec<TaskId> = launched(&place(state, now)).into_iter().map(|(_, id)| id).collect();
    for id in &launched {
        report(state, "a", id, TaskState::Running, now);
    }
    assert!(launched.iter().all(|id| id.0.contains(&spec.key.name)), "{launched:?}");
    launched
}

#[test]
fn scheduling_starts_nothing_and_each_fire_time_starts_one_run() {
    let mut state = cluster();
    register(&mut state, "a", NEW_YEAR);
    let spec = cron("report", "*/5 * * * *", 2);
    let (scheduled, outcome) = state.schedule_cron(spec.clone(), NEW_YEAR + 1).unwrap();
    assert_eq!(scheduled, Scheduled::Created);
    assert_eq!(outcome.changes.cron_put.len(), 1, "the record is stored");
    assert!(state.job_tasks(&spec.key, true).is_empty(), "nothing runs before its time");
    assert_eq!(
        state.cron_job(&spec.key, NEW_YEAR + 1).unwrap().next_ms[..2],
        [NEW_YEAR + 5 * MINUTE, NEW_YEAR + 10 * MINUTE]
    );

    let before = state.tick(NEW_YEAR + 5 * MINUTE - 1);
    assert!(before.changes.tasks_put.is_empty() && state.job_tasks(&spec.key, true).is_empty());
    let fired = state.tick(NEW_YEAR + 5 * MINUTE);
    assert!(fired.placement_wanted, "a run's tasks want placing");
    assert_eq!(states(&state, "report"), vec![(0, TaskState::Pending), (1, TaskState::Pending)]);
    assert_eq!(runs(&state, &spec), vec![(CronRunState::Running, Some(NEW_YEAR + 5 * MINUTE))]);
    // Ticks within the same minute do not fire again.
    tick(&mut state, NEW_YEAR + 5 * MINUTE + 30_000);
    assert_eq!(state.job_tasks(&spec.key, true).len(), 2);

    let ids = run_pending(&mut state, &spec, NEW_YEAR + 5 * MINUTE + 40_000);
    for id in &ids {
        report(&mut state, "a", id, TaskState::Finished, NEW_YEAR + 6 * MINUTE);
    }
    tick(&mut state, NEW_YEAR + 6 * MINUTE);
    assert_eq!(runs(&state, &spec), vec![(CronRunState::Finished, Some(NEW_YEAR + 5 * MINUTE))]);
    tick(&mut state, NEW_YEAR + 10 * MINUTE);
    assert_eq!(runs(&state, &spec).len(), 2);
    assert_eq!(state.job_tasks(&spec.key, false).iter().filter(|t| t.state == TaskState::Pending).count(), 2);
}

#[test]
fn cancel_new_skips_a_fire_while_a_run_is_active_and_records_it() {
    let mut state = cluster();
    register(&mut state, "a", NEW_YEAR);
    let mut spec = cron("slow", "* * * * *", 1);
    spec.cron_collision_policy = atoll_model::config::CronCollisionPolicy::CancelNew;
    let _ = state.schedule_cron(spec.clone(), NEW_YEAR).unwrap();
    tick(&mut state, NEW_YEAR + MINUTE);
    let first = run_pending(&mut state, &spec, NEW_YEAR + MINUTE);
    tick(&mut state, NEW_YEAR + 2 * MINUTE);
    assert_eq!(
        runs(&state, &spec),
        vec![(CronRunState::Running, Some(NEW_YEAR + MINUTE)), (CronRunState::Skipped, Some(NEW_YEAR + 2 * MINUTE))]
    );
    assert_eq!(state.job_tasks(&spec.key, true).len(), 1, "no second run");
    let skipped = &state.cron_job(&spec.key, 0).unwrap().record.runs[1];
    assert!(skipped.message.contains("skipped: the previous run is still active (CANCEL_NEW)"), "{}", skipped.message);
    report(&mut state, "a", &first[0], TaskState::Failed, NEW_YEAR + 2 * MINUTE + 1);
    tick(&mut state, NEW_YEAR + 2 * MINUTE + 2);
    assert_eq!(runs(&state, &spec)[0].0, CronRunState::Failed, "a failed run beyond its retries is FAILED");
}

#[test]
fn kill_existing_kills_the_active_run_then_starts_the_new_one() {
    let mut state = cluster();
    register(&mut state, "a", NEW_YEAR);
    let spec = cron("hourly", "0 * * * *", 1);
    let _ = state.schedule_cron(spec.clone(), NEW_YEAR).unwrap();
    tick(&mut state, NEW_YEAR + 60 * MINUTE);
    let first = run_pending(&mut state, &spec, NEW_YEAR + 60 * MINUTE);
    let fire = state.tick(NEW_YEAR + 120 * MINUTE);
    assert_eq!(killed(&fire.effects), vec![("a".to_owned(), first[0].clone())], "the old run is killed");
    assert_eq!(runs(&state, &spec).last().unwrap().0, CronRunState::Waiting);
    assert_eq!(state.job_tasks(&spec.key, true).len(), 1, "nothing new until the old run is gone");
    tick(&mut state, NEW_YEAR + 120 * MINUTE + 1);
    assert_eq!(state.job_tasks(&spec.key, true).len(), 1, "still KILLING");
    report(&mut state, "a", &first[0], TaskState::Killed, NEW_YEAR + 120 * MINUTE + 2);
    tick(&mut state, NEW_YEAR + 120 * MINUTE + 3);
    assert_eq!(
        runs(&state, &spec),
        vec![
            (CronRunState::Killed, Some(NEW_YEAR + 60 * MINUTE)),
            (CronRunState::Running, Some(NEW_YEAR + 120 * MINUTE))
        ]
    );
    assert_eq!(states(&state, "hourly"), vec![(0, TaskState::Pending)]);
}

#[test]
fn a_restarted_scheduler_runs_the_latest_missed_time_once_within_its_deadline() {
    let mut kept = Kept::default();
    let mut state = ClusterState::restore(config(), Durable::default(), NEW_YEAR);
    let spec = cron("minutely", "* * * * *", 1);
    let _ = state.schedule_cron(spec.clone(), NEW_YEAR).unwrap();
    tick(&mut state, NEW_YEAR + MINUTE);
    let _ = state.kill(&spec.key, None, NEW_YEAR + MINUTE + 1).unwrap();
    tick(&mut state, NEW_YEAR + MINUTE + 2);
    assert!(state.is_cron_job(&spec.key), "killing a run keeps the schedule");
    kept.save(&state);

    // Down for ten minutes: one run, for 00:11, and the nine times before it recorded missed.
    let mut state = kept.restore(NEW_YEAR + 11 * MINUTE + 500);
    tick(&mut state, NEW_YEAR + 11 * MINUTE + 500);
    assert_eq!(
        runs(&state, &spec),
        vec![
            (CronRunState::Killed, Some(NEW_YEAR + MINUTE)),
            (CronRunState::Missed, None),
            (CronRunState::Running, Some(NEW_YEAR + 11 * MINUTE)),
        ]
    );
    let missed = &state.cron_job(&spec.key, 0).unwrap().record.runs[1].message;
    assert_eq!(missed, "Missed 9 earlier fire time(s) while the scheduler was down");
    assert_eq!(state.job_tasks(&spec.key, true).len(), 2, "one catch-up run, not ten");

    // Killed again right after that fire was stored: the restart does not fire it twice.
    kept.save(&state);
    let mut state = kept.restore(NEW_YEAR + 11 * MINUTE + 30_000);
    tick(&mut state, NEW_YEAR + 11 * MINUTE + 30_000);
    assert_eq!(state.job_tasks(&spec.key, true).len(), 2, "00:11 ran once");
}

#[test]
fn a_missed_time_past_its_starting_deadline_is_recorded_not_run() {
    let mut kept = Kept::default();
    let mut state = ClusterState::restore(config(), Durable::default(), NEW_YEAR);
    let mut spec = cron("daily", "0 8 * * *", 1);
    spec.cron_starting_deadline_secs = Some(3600);
    let _ = state.schedule_cron(spec.clone(), NEW_YEAR).unwrap();
    kept.save(&state);
    let mut state = kept.restore(NEW_YEAR + 10 * 60 * MINUTE);
    tick(&mut state, NEW_YEAR + 10 * 60 * MINUTE);
    assert_eq!(runs(&state, &spec), vec![(CronRunState::Missed, Some(NEW_YEAR + 8 * 60 * MINUTE))]);
    let message = &state.cron_job(&spec.key, 0).unwrap().record.runs[0].message;
    assert_eq!(message, "Missed: due at 2026-01-01T08:00:00Z, more than the starting deadline (3600 s) ago");
    assert!(state.job_tasks(&spec.key, true).is_empty());
    assert_eq!(state.cron_job(&spec.key, NEW_YEAR + 10 * 60 * MINUTE).unwrap().next_ms[0], NEW_YEAR + 32 * 60 * MINUTE);
}

#[test]
fn a_start_by_request_follows_the_policy_and_deschedule_leaves_the_run_to_kill() {
    let mut state = cluster();
    register(&mut state, "a", NEW_YEAR);
    let spec = cron("adhoc", "0 0 1 1 *", 1);
    let _ = state.schedule_cron(spec.clone(), NEW_YEAR).unwrap();
    let (started, outcome) = state.start_cron(&spec.key, NEW_YEAR + 1).unwrap();
    assert_eq!((started, outcome.placement_wanted), (CronRunState::Running, true));
    let ids = run_pending(&mut state, &spec, NEW_YEAR + 2);
    let (again, outcome) = state.start_cron(&spec.key, NEW_YEAR + 3).unwrap();
    assert_eq!(again, CronRunState::Waiting, "KILL_EXISTING: the running one is killed first");
    assert_eq!(killed(&outcome.effects), vec![("a".to_owned(), ids[0].clone())]);
    assert_eq!(runs(&state, &spec).iter().map(|r| r.1).collect::<Vec<_>>(), vec![None, None], "no fire time");

    // Replacing the template keeps the record and its runs.
    let mut bigger = spec.clone();
    bigger.instances = 2;
    assert_eq!(state.schedule_cron(bigger, NEW_YEAR + 4).unwrap().0, Scheduled::Replaced);
    assert_eq!(runs(&state, &spec).len(), 2);

    let outcome = state.deschedule_cron(&spec.key, 0).unwrap();
    assert_eq!(
        (outcome.changes.cron_deleted.clone(), outcome.changes.jobs_deleted.clone()),
        (vec![spec.key.clone()], vec![spec.key.clone()])
    );
    assert!(state.job(&spec.key).is_none() && !state.is_cron_job(&spec.key));
    assert_eq!(state.job_tasks(&spec.key, false)[0].state, TaskState::Killing, "its run goes on until killed");
    let (killed_again, _) = state.kill(&spec.key, None, NEW_YEAR + 5).unwrap();
    assert_eq!(killed_again, vec![ids[0].clone()], "a descheduled job's run can still be killed");
}

#[test]
fn cron_fires_follow_the_zone_across_daylight_saving_changes() {
    let mut state = ClusterState::new(config());
    let mut spec = cron("paris", "30 2 * * *", 1);
    spec.cron_timezone = Some("Europe/Paris".into());
    let start = atoll_cron::parse_time("2026-03-28T00:00:00Z").unwrap();
    let _ = state.schedule_cron(spec.clone(), start).unwrap();
    let mut now = start;
    while now < start + 3 * 24 * 60 * MINUTE {
        now += MINUTE;
        tick(&mut state, now);
        let _ = state.kill(&spec.key, None, now).unwrap();
    }
    let fired: Vec<String> = state
        .cron_job(&spec.key, now)
        .unwrap()
        .record
        .runs
        .iter()
        .map(|r| atoll_cron::format_in(r.due_ms.unwrap(), atoll_cron::parse_zone("Europe/Paris").unwrap()))
        .collect();
    // 29 March has no 02:30 in Paris: its run comes at 03:00, the first time after the gap.
    assert_eq!(fired, ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]);
}

#[test]
fn refusals_name_the_problem() {
    let mut state = ClusterState::new(config());
    let spec = cron("nightly", "15 2 * * *", 1);
    assert_eq!(
        state.create_job(spec.clone(), 0).unwrap_err().to_string(),
        "Job devcluster/www-data/devel/nightly has a cron_schedule: cron jobs may only be created or replaced with `atoll cron schedule devcluster/www-data/devel/nightly FILE`"
    );
    let mut service = spec.clone();
    service.config.service = true;
    assert!(
        state
            .schedule_cron(service, 0)
            .unwrap_err()
            .to_string()
            .contains("A service task may not be run on a cron schedule")
    );
    let bad = cron("bad", "0 0 * * 8", 1);
    assert!(state.schedule_cron(bad, 0).unwrap_err().to_string().contains("the day-of-week field '8' is wrong"));
    let mut zoned = cron("zoned", "0 0 * * *", 1);
    zoned.cron_timezone = Some("Mars/Base".into());
    assert!(state.schedule_cron(zoned, 0).unwrap_err().to_string().contains("unknown time zone 'Mars/Base'"));
    assert!(matches!(state.schedule_cron(job("plain", 1, false), 0), Err(StateError::NotACronJob(_))));
    let _ = state.create_job(job("taken", 1, false), 0).unwrap();
    assert!(matches!(state.schedule_cron(cron("taken", "* * * * *", 1), 0), Err(StateError::JobExists(_))));
    assert!(matches!(state.deschedule_cron(&spec.key, 0), Err(StateError::CronJobNotFound(_))));
    assert!(matches!(state.start_cron(&spec.key, 0), Err(StateError::CronJobNotFound(_))));
    let _ = state.schedule_cron(spec.clone(), 0).unwrap();
    assert_eq!(
        state.add_instances(&spec.key, 0, 1, 0).unwrap_err().to_string(),
        "Job devcluster/www-data/devel/nightly is a cron job: change its instances in its file and replace it with `atoll cron schedule`"
    );
}

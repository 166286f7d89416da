//! The event journal: what each change records, in order, numbered without gaps, kept within
//! its bound, and carried across a restart.

use atoll_model::TaskState;
use atoll_model::event::{ClusterEvent, EventDetail, EventFilter, EventKind, JobChange};

use super::*;

fn every(state: &ClusterState) -> Vec<ClusterEvent> {
    state.events_since(0, &EventFilter::cluster("devcluster"))
}

/// Each event as a short line: `job-name kind detail`.
fn lines(events: &[ClusterEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.detail {
            EventDetail::Task { instance, state, host, .. } => {
                format!(
                    "{} task {instance} {state}{}",
                    e.job.name,
                    host.as_ref().map_or(String::new(), |h| format!(" on {h}"))
                )
            }
            EventDetail::Job { change, .. } => format!("{} job {}", e.job.name, change.name()),
            EventDetail::Update { update, state, .. } => format!("{} update {update} {state}", e.job.name),
            EventDetail::Cron { state, .. } => format!("{} cron {}", e.job.name, state.name()),
        })
        .collect()
}

#[test]
fn a_jobs_life_is_recorded_in_order_with_indices_that_follow_each_other() {
    let (mut state, ids) = running_hello();
    let kill = state.kill(&job("hello", 1, true).key, None, 20).unwrap().1;
    report(&mut state, "a", &ids[0], TaskState::Killed, 21);
    let events = every(&state);
    assert_eq!(
        lines(&events),
        [
            "hello job CREATED",
            "hello task 0 PENDING",
            "hello task 0 ASSIGNED on a",
            "hello task 0 RUNNING on a",
            "hello task 0 KILLING on a",
            "hello job KILLED",
            "hello task 0 KILLED on a",
        ]
    );
    assert!(events.windows(2).all(|pair| pair[1].index == pair[0].index + 1), "{events:?}");
    assert_eq!(state.next_event_index(), events.last().unwrap().index + 1);
    // The kill's outcome carried the events it made, for the store.
    let carried: Vec<String> = lines(&kill.changes.events_put);
    assert_eq!(carried, ["hello task 0 KILLING on a", "hello job KILLED"]);
}

#[test]
fn a_filter_and_a_starting_index_choose_among_the_kept_events() {
    let (mut state, _) = running_hello();
    let _ = state.create_job(job("other", 1, false), 30).unwrap();
    let all = every(&state);
    let mut hello_jobs = EventFilter::job(&job("hello", 1, true).key);
    hello_jobs.kinds = vec![EventKind::Job];
    assert_eq!(lines(&state.events_since(0, &hello_jobs)), ["hello job CREATED"]);
    let from = all[3].index;
    assert_eq!(state.events_since(from, &EventFilter::cluster("devcluster")), all[3..].to_vec());
    assert_eq!(state.oldest_event_index(), Some(all[0].index));
}

#[test]
fn only_the_newest_events_are_kept_and_the_store_is_told_which_to_drop() {
    let mut state = ClusterState::new(config());
    let mut store = StoreImage::default();
    let mut round = 0;
    while state.next_event_index() <= EVENTS_KEPT as u64 + 5 {
        round += 1;
        let spec = job(&format!("j{round}"), 1, false);
        store.apply(&state.create_job(spec.clone(), round).unwrap().1.changes);
        store.apply(&state.kill(&spec.key, None, round).unwrap().1.changes);
    }
    let kept = every(&state);
    assert_eq!(kept.len(), EVENTS_KEPT);
    assert_eq!(kept.last().unwrap().index + 1, state.next_event_index());
    let stored = store.durable();
    assert_eq!(stored.events, kept, "the store drops what the journal drops");
    // A restart carries the journal on from where it was.
    let restored = ClusterState::restore(config(), stored, 0);
    assert_eq!((every(&restored), restored.next_event_index()), (kept, state.next_event_index()));
}

#[test]
fn updates_cron_runs_and_added_instances_are_recorded() {
    let (mut state, _) = running_hello();
    let _ = state.add_instances(&job("hello", 1, true).key, 0, 1, 40).unwrap();
    let mut bigger = job("hello", 2, true);
    bigger.config.task.processes[0].cmdline = "serve again".into();
    let _ = state.start_update(bigger, None, Some("ship".into()), 41).unwrap();
    let mut nightly = job("nightly", 1, false);
    nightly.cron_schedule = Some("15 2 * * *".into());
    let _ = state.schedule_cron(nightly.clone(), 42).unwrap();
    let _ = state.start_cron(&nightly.key, 43).unwrap();
    let _ = state.deschedule_cron(&nightly.key, 44).unwrap();
    let events = lines(&every(&state));
    for expected in [
        "hello job INSTANCES_ADDED",
        "hello update 1 ROLLING_FORWARD",
        "nightly job CRON_SCHEDULED",
        "nightly cron RUNNING",
        "nightly task 0 PENDING",
        "nightly job CRON_DESCHEDULED",
    ] {
        assert!(events.iter().any(|e| e == expected), "{expected} in {events:#?}");
    }
    let update = every(&state).into_iter().find(|e| matches!(e.detail, EventDetail::Update { .. })).unwrap();
    assert!(matches!(update.detail, EventDetail::Update { ref message, .. } if message == "Started"));
    assert!(matches!(
        every(&state).iter().find(|e| e.job.name == "nightly").unwrap().detail,
        EventDetail::Job { change: JobChange::CronScheduled, .. }
    ));
}

//! Planner rules, checked without processes: each test drives the planner with run ends and
//! times and looks at the steps it returns.

use atoll_model::Resources;

use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn process(name: &str) -> ProcessSpec {
    ProcessSpec { min_duration: 0, ..ProcessSpec::new(name, "true") }
}

fn task(processes: Vec<ProcessSpec>, order: &[&[&str]]) -> TaskSpec {
    TaskSpec {
        name: "task".into(),
        processes,
        order: order.iter().map(|chain| chain.iter().map(|name| (*name).to_owned()).collect()).collect(),
        resources: Resources { cpu: 1.0, ram_mb: 16, disk_mb: 16, gpu: 0 },
        max_failures: 1,
        max_concurrency: 0,
        finalization_wait: 10,
        user: None,
    }
}

fn started(step: &Step) -> Vec<(usize, u32)> {
    step.start.iter().map(|s| (s.process, s.run)).collect()
}

fn failed(message: &str, exit_code: Option<i32>) -> Outcome {
    Outcome::Failed(Failure { message: message.to_owned(), exit_code })
}

#[test]
fn ordered_process_starts_only_after_its_predecessor_succeeds() {
    let mut planner = Planner::new(&task(vec![process("a"), process("b")], &[&["a", "b"]]));
    let step = planner.step(Duration::ZERO);
    assert_eq!(started(&step), vec![(0, 0)]);
    assert_eq!(step.wake_at, None);
    planner.run_ended(0, RunEnd::Exited(0), SECOND);
    assert_eq!(started(&planner.step(SECOND)), vec![(1, 0)]);
    planner.run_ended(1, RunEnd::Exited(0), 2 * SECOND);
    let done = planner.step(2 * SECOND);
    assert_eq!(done.outcome, Some(Outcome::Finished { message: "all processes finished".into() }));
    assert_eq!(done.outcome.as_ref().map(Outcome::exit_code), Some(Some(0)));
}

#[test]
fn unordered_processes_start_together_unless_concurrency_is_limited() {
    let spec = task(vec![process("a"), process("b"), process("c")], &[]);
    assert_eq!(started(&Planner::new(&spec).step(Duration::ZERO)), vec![(0, 0), (1, 0), (2, 0)]);

    let mut limited = Planner::new(&TaskSpec { max_concurrency: 2, ..spec });
    assert_eq!(started(&limited.step(Duration::ZERO)), vec![(0, 0), (1, 0)]);
    assert_eq!(started(&limited.step(SECOND)), vec![], "both slots are taken");
    limited.run_ended(1, RunEnd::Exited(0), SECOND);
    assert_eq!(started(&limited.step(SECOND)), vec![(2, 0)]);
}

#[test]
fn failed_process_is_retried_after_min_duration_until_max_failures() {
    let flaky = ProcessSpec { max_failures: 2, min_duration: 5, ..process("flaky") };
    let mut planner = Planner::new(&task(vec![flaky], &[]));
    assert_eq!(started(&planner.step(Duration::ZERO)), vec![(0, 0)]);
    planner.run_ended(0, RunEnd::Exited(3), SECOND);
    let waiting = planner.step(SECOND);
    assert_eq!(started(&waiting), vec![]);
    assert_eq!(waiting.wake_at, Some(6 * SECOND), "min_duration counts from the end of the last run");
    assert_eq!(started(&planner.step(6 * SECOND)), vec![(0, 1)]);
    planner.run_ended(0, RunEnd::Exited(3), 7 * SECOND);
    let done = planner.step(7 * SECOND);
    assert_eq!(done.outcome, Some(failed("process 'flaky' failed with exit code 3", Some(3))));
}

#[test]
fn zero_max_failures_retries_forever() {
    let mut planner = Planner::new(&task(vec![ProcessSpec { max_failures: 0, ..process("forever") }], &[]));
    for run in 0..20 {
        let now = run * SECOND;
        assert_eq!(started(&planner.step(now)), vec![(0, run)]);
        planner.run_ended(0, RunEnd::Exited(1), now);
    }
}

#[test]
fn daemon_is_rerun_after_success_and_keeps_the_task_active() {
    let daemon = ProcessSpec { daemon: true, min_duration: 2, ..process("daemon") };
    let mut planner = Planner::new(&task(vec![daemon], &[]));
    planner.step(Duration::ZERO);
    planner.run_ended(0, RunEnd::Exited(0), SECOND);
    let step = planner.step(SECOND);
    assert_eq!((step.outcome, step.wake_at), (None, Some(3 * SECOND)));
    assert_eq!(started(&planner.step(3 * SECOND)), vec![(0, 1)]);
}

#[test]
fn signal_death_names_the_signal_and_has_no_exit_code() {
    let mut planner = Planner::new(&task(vec![process("crash")], &[]));
    planner.step(Duration::ZERO);
    planner.run_ended(0, RunEnd::Signaled(11), SECOND);
    assert_eq!(planner.step(SECOND).outcome, Some(failed("process 'crash' was killed by signal SIGSEGV", None)));
}

#[test]
fn reaching_task_max_failures_stops_the_rest_and_reports_the_last_failure() {
    let mut spec = task(vec![process("a"), process("b"), process("c")], &[]);
    spec.max_failures = 2;
    let mut planner = Planner::new(&spec);
    planner.step(Duration::ZERO);
    planner.run_ended(0, RunEnd::Exited(1), SECOND);
    assert_eq!(planner.step(SECOND), Step::default(), "one failure is within the limit");
    planner.run_ended(1, RunEnd::Exited(2), 2 * SECOND);
    let stopping = planner.step(2 * SECOND);
    assert_eq!((stopping.terminate, stopping.wake_at), (vec![2], Some(12 * SECOND)));
    let escalating = planner.step(12 * SECOND);
    assert_eq!((escalating.kill, escalating.wake_at), (vec![2], None));
    planner.run_ended(2, RunEnd::Signaled(9), 12 * SECOND);
    assert_eq!(planner.step(12 * SECOND).outcome, Some(failed("process 'b' failed with exit code 2", Some(2))));
}

#[test]
fn failures_within_task_max_failures_still_finish() {
    let mut spec = task(vec![process("a"), process("b")], &[]);
    spec.max_failures = 0;
    let mut planner = Planner::new(&spec);
    planner.step(Duration::ZERO);
    planner.run_ended(0, RunEnd::Exited(4), SECOND);
    planner.run_ended(1, RunEnd::Exited(0), SECOND);
    let message = "finished within the task's max_failures: process 'a' failed with exit code 4".to_owned();
    assert_eq!(planner.step(SECOND).outcome, Some(Outcome::Finished { message }));
}

#[test]
fn process_behind_a_failed_predecessor_deadlocks_the_task() {
    let mut spec = task(vec![process("a"), process("b")], &[&["a", "b"]]);
    spec.max_failures = 0;
    let mut planner = Planner::new(&spec);
    planner.step(Duration::ZERO);
    planner.run_ended(0, RunEnd::Exited(5), SECOND);
    let expected = failed("process 'b' can never start: process 'a' failed with exit code 5", Some(5));
    assert_eq!(planner.step(SECOND).outcome, Some(expected));
}

#[test]
fn ephemeral_process_neither_holds_up_nor_fails_the_task() {
    let sidecar = ProcessSpec { ephemeral: true, ..process("sidecar") };
    let mut planner = Planner::new(&task(vec![process("main"), sidecar.clone()], &[]));
    planner.step(Duration::ZERO);
    planner.run_ended(0, RunEnd::Exited(0), SECOND);
    let cleaning = planner.step(SECOND);
    assert_eq!((cleaning.terminate, cleaning.outcome), (vec![1], None), "the sidecar is stopped once main is done");
    planner.run_ended(1, RunEnd::Signaled(15), 2 * SECOND);
    assert_eq!(planner.step(2 * SECOND).outcome, Some(Outcome::Finished { message: "all processes finished".into() }));

    let mut failing = Planner::new(&task(vec![process("main"), sidecar], &[]));
    failing.step(Duration::ZERO);
    failing.run_ended(1, RunEnd::Exited(1), SECOND);
    assert_eq!(failing.step(SECOND), Step::default(), "an ephemeral out of retries counts as finished");
}

#[test]
fn finals_run_in_order_after_the_others_end() {
    let finals = [ProcessSpec { is_final: true, ..process("f1") }, ProcessSpec { is_final: true, ..process("f2") }];
    let mut planner =
        Planner::new(&task(vec![finals[0].clone(), finals[1].clone(), process("main")], &[&["f1", "f2"]]));
    assert_eq!(started(&planner.step(Duration::ZERO)), vec![(2, 0)]);
    planner.run_ended(2, RunEnd::Exited(0), SECOND);
    assert_eq!(started(&planner.step(SECOND)), vec![(0, 0)]);
    planner.run_ended(0, RunEnd::Exited(0), SECOND);
    assert_eq!(started(&planner.step(SECOND)), vec![(1, 0)]);
    planner.run_ended(1, RunEnd::Exited(7), SECOND);
    let done = planner.step(SECOND);
    assert_eq!(done.outcome.map(|o| o.state()), Some(TaskState::Finished), "finals do not decide the outcome");
}

#[test]
fn finals_run_after_a_failure_and_are_killed_at_the_deadline() {
    let cleanup = ProcessSpec { is_final: true, ..process("cleanup") };
    let mut planner = Planner::new(&task(vec![process("main"), cleanup], &[]));
    planner.step(Duration::ZERO);
    planner.run_ended(0, RunEnd::Exited(3), SECOND);
    let finalizing = planner.step(SECOND);
    assert_eq!((started(&finalizing), finalizing.wake_at), (vec![(1, 0)], Some(11 * SECOND)));
    assert_eq!(planner.step(11 * SECOND).kill, vec![1]);
    planner.run_ended(1, RunEnd::Signaled(9), 11 * SECOND);
    assert_eq!(planner.step(11 * SECOND).outcome, Some(failed("process 'main' failed with exit code 3", Some(3))));
}

#[test]
fn kill_request_terminates_then_kills_and_starts_nothing_more() {
    let cleanup = ProcessSpec { is_final: true, ..process("cleanup") };
    let mut spec = task(vec![process("a"), process("b"), cleanup], &[&["a", "b"]]);
    spec.finalization_wait = 600;
    let mut planner = Planner::new(&spec);
    planner.step(Duration::ZERO);
    planner.request_kill(SECOND);
    let stopping = planner.step(SECOND);
    assert_eq!((stopping.terminate, stopping.wake_at), (vec![0], Some(61 * SECOND)), "the wait is capped at 60s");
    assert_eq!(planner.step(61 * SECOND).kill, vec![0]);
    planner.run_ended(0, RunEnd::Exited(0), 62 * SECOND);
    let done = planner.step(62 * SECOND);
    assert_eq!((started(&done), done.outcome), (vec![], Some(Outcome::Killed)));
    assert_eq!(Outcome::Killed.message(), "killed by request");
}

#[test]
fn ordering_on_an_unknown_process_fails_instead_of_hanging() {
    let mut planner = Planner::new(&task(vec![process("a")], &[&["ghost", "a"]]));
    let expected = failed("process 'a' can never start: 'ghost' is not a process of this task", None);
    assert_eq!(planner.step(Duration::ZERO).outcome, Some(expected));
}

#[test]
fn draining_starts_nothing_and_signals_nothing_until_the_processes_stop() {
    let mut daemon = process("serve");
    daemon.daemon = true;
    let mut planner = Planner::new(&task(vec![daemon], &[]));
    assert_eq!(started(&planner.step(Duration::ZERO)), vec![(0, 0)]);
    planner.drain();
    let step = planner.step(SECOND);
    assert!(step.start.is_empty() && step.terminate.is_empty() && step.kill.is_empty(), "{step:?}");
    assert_eq!(step.wake_at, None);
    planner.run_ended(0, RunEnd::Exited(0), 2 * SECOND);
    let done = planner.step(2 * SECOND);
    assert!(done.start.is_empty(), "a draining daemon is not run again");
    assert_eq!(done.outcome, Some(Outcome::Killed));
}

#[test]
fn a_kill_after_draining_terminates_what_still_runs() {
    let mut planner = Planner::new(&task(vec![process("a")], &[]));
    planner.step(Duration::ZERO);
    planner.drain();
    planner.step(SECOND);
    planner.request_kill(5 * SECOND);
    assert_eq!(planner.step(5 * SECOND).terminate, vec![0]);
    assert_eq!(planner.step(15 * SECOND).kill, vec![0]);
    planner.run_ended(0, RunEnd::Signaled(9), 15 * SECOND);
    assert_eq!(planner.step(15 * SECOND).outcome, Some(Outcome::Killed));
}

#[test]
fn a_requested_failure_stops_the_task_and_ends_it_failed_with_the_reason() {
    let mut planner = Planner::new(&task(vec![process("a")], &[]));
    planner.step(Duration::ZERO);
    planner.request_failure("Failed health check! HTTP 500".into(), SECOND);
    assert_eq!(planner.step(SECOND).terminate, vec![0]);
    planner.request_kill(2 * SECOND);
    planner.run_ended(0, RunEnd::Signaled(15), 2 * SECOND);
    assert_eq!(
        planner.step(2 * SECOND).outcome,
        Some(failed("Failed health check! HTTP 500", None)),
        "a later kill keeps the reason"
    );
}

//! Cron jobs through the real binary with real agents: a `* * * * *` job really runs twice, a
//! scheduler killed with -9 between runs neither fires a time twice nor skips one it owed, and
//! the verbs around them (`cron schedule|start|show|deschedule|next`, `job create` refusing a
//! cron job, `job list` showing the schedule) do what they say.

use std::time::Duration;

use atoll_tests::{Cluster, atoll, eventually, printed};
use nix::sys::signal::Signal;
use serde_json::Value;

const JOB: &str = "devcluster/www-data/devel/tick";

/// Writes a cron job `tick` of `instances` instances on `schedule` that echoes and ends.
fn cron_file(cluster: &Cluster, schedule: &str, instances: u32) -> String {
    let file = cluster.dir.path().join("tick.rhai");
    std::fs::write(
        &file,
        format!(
            r#"let tick = Process(#{{ name: "tick", cmdline: "echo tick {{{{mesos.instance}}}}" }});
let t = SequentialTask(#{{ processes: [tick], resources: Resources(#{{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }}) }});
let jobs = [ Job(#{{ cluster: "devcluster", role: "www-data", environment: "devel", name: "tick", instances: {instances},
    task: t, cron_schedule: "{schedule}", cron_collision_policy: "CANCEL_NEW" }}) ];
"#
        ),
    )
    .unwrap();
    file.display().to_string()
}

fn cron(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    atoll(&[&["cron"], args, &["--scheduler", &cluster.url]].concat())
}

fn show(cluster: &Cluster) -> Value {
    let output = cron(cluster, &["show", JOB, "--json"]);
    assert!(output.status.success(), "{}", printed(&output));
    serde_json::from_slice(&output.stdout).expect("cron show --json prints JSON")
}

/// The runs `cron show` lists that were fired for a time, as (fire time, state).
fn fired(shown: &Value) -> Vec<(u64, String)> {
    shown["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|run| Some((run["due_ms"].as_u64()?, run["state"].as_str()?.to_owned())))
        .collect()
}

#[test]
fn an_every_minute_job_runs_twice_and_the_verbs_around_it_work() {
    let cluster = Cluster::start(10);
    let file = cron_file(&cluster, "* * * * *", 2);

    let created = cluster.job(&["create", JOB, &file]);
    assert_eq!(created.status.code(), Some(4), "{}", printed(&created));
    assert!(
        printed(&created).contains("cron jobs are scheduled, not created; run atoll cron schedule"),
        "{}",
        printed(&created)
    );

    let plain = cluster.dir.path().join("plain.rhai");
    std::fs::write(&plain, std::fs::read_to_string(&file).unwrap().replace("cron_schedule: \"* * * * *\", ", ""))
        .unwrap();
    let refused = cron(&cluster, &["schedule", JOB, plain.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(3), "{}", printed(&refused));
    assert!(
        printed(&refused).contains("has no cron_schedule; run it once with: atoll job create"),
        "{}",
        printed(&refused)
    );

    let scheduled = cron(&cluster, &["schedule", JOB, &file]);
    assert!(scheduled.status.success(), "{}", printed(&scheduled));
    assert!(printed(&scheduled).contains(&format!("Cron job {JOB} scheduled")), "{}", printed(&scheduled));
    let listed = cluster.job(&["list", "devcluster"]);
    assert!(printed(&listed).contains("cron: * * * * *"), "{}", printed(&listed));
    let shown = show(&cluster);
    assert_eq!((shown["timezone"].as_str(), shown["collision_policy"].as_str()), (Some("UTC"), Some("CANCEL_NEW")));
    let next: Vec<u64> = shown["next_ms"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect();
    assert_eq!(next.len(), 5);
    assert!(next.windows(2).all(|w| w[1] - w[0] == 60_000) && next[0].is_multiple_of(60_000), "{next:?}");

    // Two fires, each running both instances to FINISHED on the agents.
    let runs = eventually("two fired runs to finish", Duration::from_secs(150), || {
        let runs = fired(&show(&cluster));
        (runs.iter().filter(|(_, state)| state == "FINISHED").count() >= 2).then_some(runs)
    });
    assert_eq!(runs[1].0 - runs[0].0, 60_000, "consecutive minutes: {runs:?}");
    let status = cluster.status(JOB);
    let finished: usize = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let earlier = i["history"].as_array().unwrap().iter().filter(|run| run["status"] == "FINISHED").count();
            earlier + usize::from(i["status"] == "FINISHED")
        })
        .sum();
    assert!(finished >= 4, "two runs of two instances finished: {status}");

    let text = printed(&cron(&cluster, &["show", JOB]));
    assert!(text.contains("schedule:          * * * * *  (UTC)") && text.contains("FINISHED"), "{text}");

    let started = cron(&cluster, &["start", JOB]);
    assert!(started.status.success(), "{}", printed(&started));
    let descheduled = cron(&cluster, &["deschedule", JOB]);
    assert!(descheduled.status.success(), "{}", printed(&descheduled));
    let gone = cron(&cluster, &["show", JOB]);
    assert_eq!(gone.status.code(), Some(10), "{}", printed(&gone));
    assert!(printed(&gone).contains("is not a scheduled cron job"), "{}", printed(&gone));
}

#[test]
fn a_scheduler_killed_between_runs_neither_fires_twice_nor_skips_what_it_owes() {
    let mut cluster = Cluster::start(10);
    let file = cron_file(&cluster, "* * * * *", 1);
    let scheduled = cron(&cluster, &["schedule", JOB, &file]);
    assert!(scheduled.status.success(), "{}", printed(&scheduled));
    let first = eventually("the first run to finish", Duration::from_secs(90), || {
        fired(&show(&cluster)).into_iter().find(|(_, state)| state == "FINISHED").map(|(due, _)| due)
    });
    cluster.scheduler.take().expect("a scheduler").crash();
    // Stay down across the next fire time.
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let next = first + 60_000;
    if now() < next + 2_000 {
        std::thread::sleep(Duration::from_millis(next + 2_000 - now()));
    }
    cluster.start_scheduler(10);
    let runs = eventually("the owed run to finish after the restart", Duration::from_secs(60), || {
        let runs = fired(&show(&cluster));
        runs.iter().any(|(due, state)| *due == next && state == "FINISHED").then_some(runs)
    });
    let dues: Vec<u64> = runs.iter().map(|(due, _)| *due).collect();
    let mut unique = dues.clone();
    unique.dedup();
    assert_eq!(dues, unique, "no fire time twice: {runs:?}");
    assert_eq!(&dues[..2], &[first, next], "the time missed while down ran once, late: {runs:?}");
    if let Some(scheduler) = &cluster.scheduler {
        scheduler.signal(Signal::SIGTERM);
    }
}

#[test]
fn cron_next_predicts_without_a_scheduler_and_names_a_bad_field() {
    let next = atoll(&[
        "cron",
        "next",
        "30 2 * * *",
        "--timezone",
        "America/New_York",
        "--after",
        "2026-03-07T12:00:00Z",
        "--count",
        "3",
    ]);
    assert!(next.status.success(), "{}", printed(&next));
    assert_eq!(
        String::from_utf8_lossy(&next.stdout),
        "2026-03-08T03:00:00-04:00\n2026-03-09T02:30:00-04:00\n2026-03-10T02:30:00-04:00\n",
        "the 02:30 that 8 March skips runs at 03:00"
    );
    let json = atoll(&["cron", "next", "0 0 29 2 *", "--after", "2026-01-01T00:00:00Z", "--count", "2", "--json"]);
    let times: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(times, serde_json::json!(["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]));
    let bad = atoll(&["cron", "next", "0 0 * * 8"]);
    assert_eq!(bad.status.code(), Some(6), "{}", printed(&bad));
    assert!(printed(&bad).contains("the day-of-week field '8' is wrong"), "{}", printed(&bad));
}

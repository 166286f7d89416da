//! `atoll task logs` end to end: a job whose process prints numbered lines through a rotating
//! logger with a small `log_size`, read back through the scheduler from the agent that ran it,
//! whole, as a tail, from stderr, and followed until the task ends.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use atoll_tests::{Cluster, atoll, atoll_binary, kill_sandbox_processes, printed};

const JOB: &str = "devcluster/www-data/devel/counter";
const LINES: usize = 500;

/// One process that waits a second, then prints `line N` to stdout and `err N` to stderr for
/// N = 1..=500, pausing now and then, and exits; its logger rotates every 200 bytes.
const JOB_FILE: &str = r#"
let counter = Process(#{
    name: "counter",
    cmdline: "sleep 1; for i in $(seq 1 500); do echo line $i; echo err $i >&2; if [ $((i % 50)) -eq 0 ]; then sleep 0.1; fi; done",
    logger: Logger(#{ mode: "rotate", rotate: RotatePolicy(#{ log_size: 200, backups: 1000 }) }),
});
let task = Task(#{ processes: [counter], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "counter", task: task }) ];
"#;

fn numbered(prefix: &str, from: usize, to: usize) -> String {
    (from..=to).map(|n| format!("{prefix} {n}\n")).collect()
}

/// Runs `atoll task logs ARGS --scheduler URL`, failing the test if it runs past `limit`.
fn task_logs(cluster: &Cluster, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(atoll_binary())
        .args([&["task", "logs"], args, &["--scheduler", &cluster.url]].concat())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start atoll task logs");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        stdout.read_to_end(&mut text).map(|_| text)
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for atoll task logs") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("atoll task logs {args:?} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = Vec::new();
    child.stderr.take().expect("piped stderr").read_to_end(&mut stderr).expect("read stderr");
    let stdout = reader.join().expect("stdout reader").expect("read stdout");
    Output { status, stdout, stderr }
}

fn text(output: &Output) -> String {
    assert!(output.status.success(), "atoll task logs failed: {}", printed(output));
    String::from_utf8(output.stdout.clone()).expect("the logs are UTF-8")
}

#[test]
fn logs_rotate_and_are_read_whole_tailed_followed_and_from_stderr() {
    let cluster = Cluster::start(10);
    let file = cluster.dir.path().join("counter.rhai");
    std::fs::write(&file, JOB_FILE).expect("write job file");
    let file = file.display().to_string();

    let created = cluster.job(&["create", JOB, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "create failed: {}", printed(&created));

    // Following from the start while the process is still printing: every line once, in
    // order, and the command ends by itself when the task does.
    let followed = task_logs(&cluster, &[&format!("{JOB}/0"), "-f"], Duration::from_secs(60));
    assert_eq!(text(&followed), numbered("line", 1, LINES));
    let status = cluster.status(JOB);
    assert_eq!(status["instances"][0]["status"], "FINISHED", "-f ended with the task: {status}");

    let sandbox = status["instances"][0]["sandbox"].as_str().expect("the task has a sandbox").to_owned();
    let run = Path::new(&sandbox).join(".logs/counter/0");
    assert!(run.join("stdout.10").is_file(), "the logger rotated many times: {}", run.display());
    let current = std::fs::metadata(run.join("stdout")).expect("current stdout").len();
    assert!(current <= 200, "no file exceeds log_size: {current} bytes");

    let whole = task_logs(&cluster, &[&format!("{JOB}/0")], Duration::from_secs(30));
    assert_eq!(text(&whole), numbered("line", 1, LINES), "the rotated files read back as one log");

    let tail = task_logs(&cluster, &[&format!("{JOB}/0"), "--tail", "5"], Duration::from_secs(30));
    assert_eq!(text(&tail), numbered("line", LINES - 4, LINES));

    let stderr = task_logs(
        &cluster,
        &[&format!("{JOB}/0"), "--stderr", "--tail", "3", "--process", "counter"],
        Duration::from_secs(30),
    );
    assert_eq!(text(&stderr), numbered("err", LINES - 2, LINES));
}

/// A job no agent can take: it stays PENDING.
const HUGE_FILE: &str = r#"
let huge = Process(#{ name: "huge", cmdline: "sleep 60" });
let task = Task(#{ processes: [huge], resources: Resources(#{ cpu: 64.0, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Job(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "huge", task: task }) ];
"#;

#[test]
fn requests_that_cannot_be_answered_exit_with_auroras_codes_and_say_why() {
    let mut cluster = Cluster::start(10);
    let file = cluster.dir.path().join("counter.rhai");
    std::fs::write(&file, JOB_FILE).expect("write job file");
    let created = cluster.job(&["create", JOB, &file.display().to_string(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "create failed: {}", printed(&created));

    let no_instance = atoll(&["task", "logs", &format!("{JOB}/7"), "--scheduler", &cluster.url]);
    assert_eq!(no_instance.status.code(), Some(10), "{}", printed(&no_instance));
    assert!(printed(&no_instance).contains(&format!("job {JOB} has no instance 7")), "{}", printed(&no_instance));

    let no_job = atoll(&["task", "logs", "devcluster/www-data/devel/nope/0", "--scheduler", &cluster.url]);
    assert_eq!(no_job.status.code(), Some(10), "{}", printed(&no_job));
    assert!(printed(&no_job).contains("devcluster/www-data/devel/nope not found"), "{}", printed(&no_job));

    let no_process = atoll(&["task", "logs", &format!("{JOB}/0"), "--process", "web", "--scheduler", &cluster.url]);
    assert_eq!(no_process.status.code(), Some(10), "{}", printed(&no_process));
    assert!(printed(&no_process).contains("has no process 'web'; its processes: counter"), "{}", printed(&no_process));

    let malformed = atoll(&["task", "logs", JOB, "--scheduler", &cluster.url]);
    assert_eq!(malformed.status.code(), Some(6), "{}", printed(&malformed));

    let huge = cluster.dir.path().join("huge.rhai");
    std::fs::write(&huge, HUGE_FILE).expect("write job file");
    let huge_job = "devcluster/www-data/devel/huge";
    let created = cluster.job(&["create", huge_job, &huge.display().to_string()]);
    assert!(created.status.success(), "create failed: {}", printed(&created));
    let never_ran = atoll(&["task", "logs", &format!("{huge_job}/0"), "--scheduler", &cluster.url]);
    assert_eq!(never_ran.status.code(), Some(4), "{}", printed(&never_ran));
    assert!(
        printed(&never_ran).contains(&format!("instance 0 of job {huge_job} has never run on an agent")),
        "{}",
        printed(&never_ran)
    );

    let status = cluster.status(JOB);
    let host = status["instances"][0]["host"].as_str().expect("the task ran on an agent").to_owned();
    let sandbox = status["instances"][0]["sandbox"].as_str().expect("the task has a sandbox").to_owned();
    cluster.crash_agent(&host);
    let unreachable = atoll(&["task", "logs", &format!("{JOB}/0"), "--scheduler", &cluster.url]);
    kill_sandbox_processes(Path::new(&sandbox));
    assert_eq!(unreachable.status.code(), Some(7), "{}", printed(&unreachable));
    assert!(
        printed(&unreachable).contains(&format!("cannot reach agent {host} at http://127.0.0.1:")),
        "{}",
        printed(&unreachable)
    );
}

//! The cursor against sandboxes laid out by hand: defaults, errors, tails and following.

use std::fs;
use std::time::Duration;

use atoll_model::{JobKey, ProcessSpec, Resources, TaskSpec, TaskState};
use serde_json::json;
use tempfile::TempDir;

use atoll_sandbox::{ExecutorStatus, STATUS_FORMAT};

use super::*;

/// A sandbox whose task has processes `main` and `side`.
fn sandbox() -> (TempDir, Sandbox) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("www-data-devel-logs-0-abc");
    let spec = TaskSpec::new(
        vec![ProcessSpec::new("main", "true"), ProcessSpec::new("side", "true")],
        Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
    );
    let launch = json!({
        "task_id": "www-data-devel-logs-0-abc",
        "job": JobKey::new("devcluster", "www-data", "devel", "logs").expect("valid key"),
        "instance": 0,
        "hostname": "host1",
        "ports": {},
        "spec": spec,
    });
    fs::create_dir_all(root.join(".executor")).expect("create sandbox");
    fs::write(root.join(".executor/launch.json"), launch.to_string()).expect("write launch");
    (dir, Sandbox::new(root))
}

fn set_state(sandbox: &Sandbox, state: TaskState) {
    let status = ExecutorStatus {
        format_version: STATUS_FORMAT,
        state,
        message: String::new(),
        exit_code: None,
        executor_pid: std::process::id(),
        process_groups: Vec::new(),
    };
    sandbox.write_status(&status).expect("write status");
}

fn append(sandbox: &Sandbox, process: &str, run: u32, stream: Stream, text: &str) {
    use std::io::Write;
    let dir = sandbox.process_log_dir(process, run);
    fs::create_dir_all(&dir).expect("create run dir");
    let mut file =
        fs::OpenOptions::new().create(true).append(true).open(dir.join(stream.file_name())).expect("open log");
    file.write_all(text.as_bytes()).expect("append");
}

fn request(start: Start, follow: bool) -> LogRequest {
    LogRequest { process: None, run: None, stream: Stream::Stdout, start, follow }
}

/// Every chunk until the cursor ends, within a time limit.
async fn drain(cursor: &mut LogCursor) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = cursor.next().await.expect("read") {
            chunks.push(chunk);
        }
    })
    .await
    .expect("the cursor ends");
    chunks
}

fn text(chunks: &[Chunk]) -> String {
    String::from_utf8(chunks.iter().flat_map(|c| c.data.clone()).collect()).expect("utf-8")
}

#[tokio::test]
async fn the_first_process_and_newest_run_are_the_defaults_and_tail_counts_lines() {
    let (_dir, sandbox) = sandbox();
    append(&sandbox, "main", 0, Stream::Stdout, "old run\n");
    append(&sandbox, "main", 1, Stream::Stdout, "a\nb\nc\nd\n");
    append(&sandbox, "main", 1, Stream::Stderr, "oops\n");
    append(&sandbox, "side", 0, Stream::Stdout, "side\n");
    let mut cursor = LogCursor::open(sandbox.clone(), request(Start::TailLines(2), false)).expect("open");
    let chunks = drain(&mut cursor).await;
    assert_eq!(text(&chunks), "c\nd\n");
    assert_eq!((chunks[0].process.as_str(), chunks[0].run, chunks[0].offset, chunks[0].end), ("main", 1, 4, 8));

    let stderr = LogRequest { stream: Stream::Stderr, ..request(Start::Beginning, false) };
    assert_eq!(text(&drain(&mut LogCursor::open(sandbox.clone(), stderr).expect("open")).await), "oops\n");
    let side = LogRequest { process: Some("side".into()), ..request(Start::Beginning, false) };
    assert_eq!(text(&drain(&mut LogCursor::open(sandbox.clone(), side).expect("open")).await), "side\n");
    let old = LogRequest { run: Some(0), ..request(Start::Offset(4), false) };
    assert_eq!(text(&drain(&mut LogCursor::open(sandbox, old).expect("open")).await), "run\n");
}

#[tokio::test]
async fn requests_the_sandbox_cannot_answer_say_why() {
    let (dir, sandbox) = sandbox();
    let error = |request: LogRequest| LogCursor::open(sandbox.clone(), request).expect_err("refused").to_string();
    assert_eq!(error(request(Start::Beginning, false)), "process 'main' has not started yet");
    let unknown = LogRequest { process: Some("web".into()), ..request(Start::Beginning, false) };
    assert_eq!(error(unknown), "task www-data-devel-logs-0-abc has no process 'web'; its processes: main, side");
    append(&sandbox, "main", 0, Stream::Stdout, "x\n");
    let future_run = LogRequest { run: Some(3), ..request(Start::Beginning, false) };
    assert_eq!(error(future_run), "process 'main' has no run 3; its newest run is 0");
    let stderr = LogRequest { stream: Stream::Stderr, ..request(Start::Beginning, false) };
    assert!(error(stderr).starts_with("run 0 of process 'main' has no stderr file"));
    let elsewhere = LogCursor::open(Sandbox::new(dir.path().join("other-task")), request(Start::Beginning, false));
    assert_eq!(
        elsewhere.expect_err("no such task").to_string(),
        "no task other-task on this agent: it never ran here, or it ended and its sandbox was removed (the agent keeps finished sandboxes for --sandbox-retention-secs, at most --sandboxes-kept of them)"
    );
}

#[tokio::test]
async fn without_follow_reading_stops_at_the_end_seen_first() {
    let (_dir, sandbox) = sandbox();
    append(&sandbox, "main", 0, Stream::Stdout, &"x".repeat(CHUNK_SIZE + 10));
    let mut cursor = LogCursor::open(sandbox.clone(), request(Start::Beginning, false)).expect("open");
    let first = cursor.next().await.expect("read").expect("a first chunk");
    assert_eq!(first.data.len(), CHUNK_SIZE);
    append(&sandbox, "main", 0, Stream::Stdout, "later\n");
    let second = cursor.next().await.expect("read").expect("the rest");
    assert_eq!((second.offset, second.data.len()), (CHUNK_SIZE as u64, 10));
    assert_eq!(cursor.next().await.expect("read"), None, "output after the first read is not waited for");
}

#[tokio::test]
async fn following_reads_every_run_once_in_order_and_ends_with_the_task() {
    let (_dir, sandbox) = sandbox();
    set_state(&sandbox, TaskState::Running);
    let mut cursor = LogCursor::open(sandbox.clone(), request(Start::Beginning, true)).expect("open");
    let writer = {
        let sandbox = sandbox.clone();
        tokio::spawn(async move {
            for n in 0..30 {
                append(&sandbox, "main", n / 10, Stream::Stdout, &format!("line {n}\n"));
                if n % 4 == 0 {
                    tokio::time::sleep(Duration::from_millis(60)).await;
                }
            }
            set_state(&sandbox, TaskState::Finished);
        })
    };
    let chunks = drain(&mut cursor).await;
    writer.await.expect("writer");
    let expected: String = (0..30).map(|n| format!("line {n}\n")).collect();
    assert_eq!(text(&chunks), expected);
    let runs: Vec<u32> = chunks.iter().map(|c| c.run).collect();
    assert!(runs.windows(2).all(|pair| pair[0] <= pair[1]) && runs.last() == Some(&2), "{runs:?}");
    assert!(chunks.iter().filter(|c| c.run == 1).all(|c| c.offset < 80), "offsets count per run: {chunks:?}");
}

#[tokio::test]
async fn following_a_finished_task_reads_what_is_there_and_ends() {
    let (_dir, sandbox) = sandbox();
    append(&sandbox, "main", 0, Stream::Stdout, "1\n2\n3\n");
    set_state(&sandbox, TaskState::Failed);
    let mut cursor = LogCursor::open(sandbox, request(Start::TailLines(1), true)).expect("open");
    assert_eq!(text(&drain(&mut cursor).await), "3\n");
}

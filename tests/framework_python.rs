//! The Python example framework (`examples/frameworks/python`), written against nothing but the
//! .proto files and stock gRPC, runs against a real scheduler and two agents: it subscribes,
//! launches its tasks into offers, retries the ones made to fail, reads their output through
//! the scheduler's log service, prints what the test works out here on its own, tears itself
//! down and exits 0; the scheduler then no longer knows it. Needs python3 with grpcio and
//! grpcio-tools (`examples/frameworks/python/requirements.txt`, which `.ci/run` installs).

use std::process::{Command, Output};
use std::time::Duration;

use atoll_tests::{Cluster, framework_client, output_within, printed, workspace_root};
use sha2::{Digest, Sha256};

const NAME: &str = "py-example";
const TASKS: u32 = 6;

/// What the framework prints: each task's SHA-256 of `seq 1 COUNT` (COUNT = 1000 * (i + 1)),
/// and the SHA-256 of those digests, each with a newline.
fn expected_output() -> String {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut printed = String::new();
    let mut digests = String::new();
    for index in 0..TASKS {
        let count = 1000 * (index + 1);
        let sequence: String = (1..=count).map(|n| format!("{n}\n")).collect();
        let digest = hex(&Sha256::digest(sequence.as_bytes()));
        printed.push_str(&format!("task {index}: sha256(seq 1 {count}) = {digest}\n"));
        digests.push_str(&format!("{digest}\n"));
    }
    printed.push_str(&format!("combined: {}\n", hex(&Sha256::digest(digests.as_bytes()))));
    printed
}

/// Runs `python3 ARGS` in the workspace, killing it and failing the test past `limit`.
/// Runs `python3 ARGS` in the repository, failing the test past `limit`.
fn python(args: &[&str], limit: Duration) -> Output {
    let mut command = Command::new("python3");
    command.args(args).current_dir(workspace_root());
    output_within(&mut command, limit).unwrap_or_else(|so_far| {
        panic!("python3 {args:?} ran past {limit:?}; it said:\n{}", String::from_utf8_lossy(&so_far.stderr))
    })
}

fn frameworks(cluster: &Cluster) -> Vec<atoll_proto::v1::FrameworkSummary> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(framework_client::frameworks(&cluster.url))
}

#[test]
fn the_python_framework_runs_its_tasks_reads_their_output_and_tears_itself_down() {
    let grpc = python(&["-c", "import grpc, grpc_tools"], Duration::from_secs(30));
    assert!(
        grpc.status.success(),
        "python3 lacks grpcio or grpcio-tools: pip install -r examples/frameworks/python/requirements.txt\n{}",
        printed(&grpc)
    );
    let cluster = Cluster::start(10);

    // Tasks 0 and 1 fail on their first attempt (exit 3) and run again.
    let tasks = TASKS.to_string();
    let args = [
        "examples/frameworks/python/framework.py",
        "--scheduler",
        &cluster.url,
        "--name",
        NAME,
        "--tasks",
        &tasks,
        "--flaky",
        "2",
        "--timeout",
        "150",
    ];
    let run = python(&args, Duration::from_secs(180));
    assert!(run.status.success(), "the framework failed: {}", printed(&run));
    assert_eq!(String::from_utf8_lossy(&run.stdout), expected_output(), "its log:\n{}", printed(&run));
    let said = String::from_utf8_lossy(&run.stderr);
    for retried in ["sum-0.1 FAILED", "sum-1.1 FAILED", "sum-0.2 finished", "sum-1.2 finished"] {
        assert!(said.contains(retried), "no '{retried}' in its log:\n{said}");
    }
    assert!(said.contains("every task is launched: suppressed offers"), "{said}");

    // Torn down: the scheduler knows only its own job scheduler now.
    let left = frameworks(&cluster);
    assert!(left.iter().all(|f| f.name != NAME), "{left:#?}");
    assert!(left.first().is_some_and(|f| f.builtin), "the built-in framework is listed first: {left:#?}");
}

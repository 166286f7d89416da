//! The Python example framework (`examples/frameworks/python`), written against nothing but the
//! .proto files and stock gRPC, runs against a real scheduler and two agents: it subscribes,
//! launches its tasks into offers, retries the ones made to fail, reads their output through
//! the scheduler's log service, prints what the test works out here on its own, tears itself
//! down and exits 0; the scheduler then no longer knows it. Needs python3 with grpcio and
//! grpcio-tools (`examples/frameworks/python/requirements.txt`, which `.ci/run` installs).

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use atoll_proto::v1;
use atoll_tests::{Cluster, printed, workspace_root};
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
fn python(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new("python3")
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            pipe.read_to_end(&mut text).map(|_| text)
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for python3") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().expect("stderr reader").unwrap_or_default();
            panic!("python3 {args:?} ran past {limit:?}; it said:\n{}", String::from_utf8_lossy(&stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().expect("stdout reader").expect("read stdout");
    let stderr = stderr.join().expect("stderr reader").expect("read stderr");
    Output { status, stdout, stderr }
}

fn frameworks(cluster: &Cluster) -> Vec<v1::FrameworkSummary> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let mut client = v1::framework_service_client::FrameworkServiceClient::connect(cluster.url.clone())
            .await
            .expect("connect to the scheduler");
        client.list_frameworks(v1::ListFrameworksRequest {}).await.expect("ListFrameworks").into_inner().frameworks
    })
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

//! Benchmark: what authentication costs per call. Starts three release schedulers side by
//! side: without `--auth` (loopback callers only), with an auth file of 1,000 users, and with
//! that file and an audit log; and
//! has 4 concurrent clients call `ListJobs` (a read of an empty cluster, so the call is little
//! more than the gate) and `KillTasks` of an unknown job (a mutating call: a permission check
//! and an audit line) for a fixed number of calls each; prints calls per second for each.
//!
//! Run: `cargo bench -p atoll-tests --bench auth_cost` (ATOLL_BENCH_CALLS changes the 20,000
//! calls per kind and scheduler).

use std::time::Instant;

use atoll_proto::v1::{self, scheduler_service_client::SchedulerServiceClient};
use atoll_tests::{Daemon, build_atoll, eventually, free_port};
use sha2::{Digest, Sha256};

const CLIENTS: usize = 4;
const TOKEN: &str = "bench-user-token";

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn start(atoll: &std::path::Path, dir: &std::path::Path, name: &str, extra: &[&str]) -> (Daemon, String) {
    let port = free_port();
    let data = dir.join(name);
    let grpc = format!("127.0.0.1:{port}");
    let args = [&["scheduler", "--data-dir", data.to_str().unwrap(), "--grpc", &grpc][..], extra].concat();
    let daemon = Daemon::start_program(atoll, name, dir, &args);
    let url = format!("http://{grpc}");
    eventually("the scheduler to serve", std::time::Duration::from_secs(30), || {
        std::net::TcpStream::connect(&grpc).ok().map(|_| ())
    });
    (daemon, url)
}

/// `calls` calls spread over [`CLIENTS`] concurrent clients; calls per second.
async fn rate(url: &str, token: Option<&str>, calls: usize, mutating: bool) -> f64 {
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned()).unwrap().connect().await.unwrap();
        let mut client = SchedulerServiceClient::new(atoll_proto::Bearer::new(token).unwrap().wrap(channel));
        clients.push(tokio::spawn(async move {
            for _ in 0..calls / CLIENTS {
                if mutating {
                    let key = v1::JobKey {
                        cluster: "devcluster".into(),
                        role: "www-data".into(),
                        environment: "devel".into(),
                        name: "absent".into(),
                    };
                    let request = v1::KillTasksRequest { job: Some(key), instances: Vec::new(), kill_all: true };
                    let refused = client.kill_tasks(request).await.expect_err("no such job");
                    assert_eq!(refused.code(), tonic::Code::NotFound, "{refused:?}");
                } else {
                    let request = v1::ListJobsRequest { cluster: "devcluster".into(), ..Default::default() };
                    client.list_jobs(request).await.expect("list jobs");
                }
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let calls: usize = std::env::var("ATOLL_BENCH_CALLS").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let atoll = build_atoll(true);
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.toml");
    let mut users = String::new();
    for n in 0..999 {
        users.push_str(&format!(
            "[users.user{n}]\ntoken_sha256 = \"{}\"\nroles = [\"role{n}\"]\n",
            digest(&format!("token-{n}"))
        ));
    }
    users.push_str(&format!("[users.bench]\ntoken_sha256 = \"{}\"\nroles = [\"www-data\"]\n", digest(TOKEN)));
    std::fs::write(&auth, users).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let (_open, open_url) = start(&atoll, dir.path(), "open", &[]);
    let (_tokens, tokens_url) = start(&atoll, dir.path(), "tokens", &["--auth", auth.to_str().unwrap()]);
    let (_secured, secured_url) = start(
        &atoll,
        dir.path(),
        "secured",
        &["--auth", auth.to_str().unwrap(), "--audit-log", audit.to_str().unwrap()],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Warm up both.
        rate(&open_url, None, 400, false).await;
        rate(&tokens_url, Some(TOKEN), 400, false).await;
        rate(&secured_url, Some(TOKEN), 400, false).await;
        for (kind, mutating) in [("ListJobs", false), ("KillTasks (refused: no such job)", true)] {
            let open = rate(&open_url, None, calls, mutating).await;
            let tokens = rate(&tokens_url, Some(TOKEN), calls, mutating).await;
            let secured = rate(&secured_url, Some(TOKEN), calls, mutating).await;
            let change = |rate: f64| (rate / open - 1.0) * 100.0;
            println!(
                "auth_cost: {kind}, {CLIENTS} clients, {calls} calls: without --auth {open:.0}/s; --auth (1,000 users) {tokens:.0}/s ({:+.1} %); --auth and --audit-log {secured:.0}/s ({:+.1} %)",
                change(tokens),
                change(secured)
            );
        }
    });
}

//! Benchmark: what authentication costs per call. Starts four release schedulers side by
//! side: without `--auth` (loopback callers only), with an auth file of 1,000 users, with that
//! file and an audit log, and with both over TLS (a P-256 certificate made with openssl), where
//! clients also call with a client certificate instead of a token (mutual TLS); and has 4
//! concurrent clients call `ListJobs` (a read of an empty cluster, so the call is little
//! more than the gate) and `KillTasks` of an unknown job (a mutating call: a permission check
//! and an audit line) for a fixed number of calls each; prints calls per second for each.
//!
//! Run: `cargo bench -p atoll-tests --bench auth_cost` (ATOLL_BENCH_CALLS changes the 20,000
//! calls per kind and scheduler).

use std::time::Instant;

use atoll_proto::v1::{self, scheduler_service_client::SchedulerServiceClient};
use atoll_tests::{Daemon, TestCa, build_atoll, eventually, free_port};
use sha2::{Digest, Sha256};

const CLIENTS: usize = 4;
const TOKEN: &str = "bench-user-token";
/// A call limit the bench never reaches (the limiter still runs on every call).
const UNLIMITED: &str = "100000000";

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
/// Each caller calls with `token`, over TLS checked against `ca`, presenting `identity`.
struct Caller<'a> {
    token: Option<&'a str>,
    ca: Option<&'a [u8]>,
    identity: Option<&'a atoll_proto::TlsIdentity>,
}

const OPEN: Caller<'static> = Caller { token: None, ca: None, identity: None };

async fn rate(url: &str, caller: &Caller<'_>, calls: usize, mutating: bool) -> f64 {
    let Caller { token, ca, identity } = *caller;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned()).unwrap();
        let channel = atoll_proto::secure(endpoint, url, ca, identity).unwrap().connect().await.unwrap();
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
    let bench = format!("[users.bench]\ntoken_sha256 = \"{}\"\nroles = [\"www-data\"]\n", digest(TOKEN));
    std::fs::write(&auth, format!("{users}{bench}")).unwrap();
    // The TLS scheduler's file lets the bench user in by certificate too.
    let auth_tls = dir.path().join("auth-tls.toml");
    std::fs::write(&auth_tls, format!("{users}{bench}certificate_name = \"bench.atoll\"\n")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let (_open, open_url) = start(&atoll, dir.path(), "open", &[]);
    let tokens_flags = ["--auth", auth.to_str().unwrap(), "--user-calls-per-second", UNLIMITED];
    let audited_flags = [&tokens_flags[..], &["--audit-log", audit.to_str().unwrap()]].concat();
    let authority = TestCa::new(dir.path());
    let (cert, key) = authority.issue("server", &["IP:127.0.0.1"]);
    let (client_cert, client_key) = authority.issue("bench", &["DNS:bench.atoll"]);
    let tls_flags = [
        "--auth",
        auth_tls.to_str().unwrap(),
        "--user-calls-per-second",
        UNLIMITED,
        "--audit-log",
        audit.to_str().unwrap(),
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-ca",
        &authority.cert,
    ];
    let (_tokens, tokens_url) = start(&atoll, dir.path(), "tokens", &tokens_flags);
    let (_secured, secured_url) = start(&atoll, dir.path(), "secured", &audited_flags);
    let (_tls, tls_url) = start(&atoll, dir.path(), "tls", &tls_flags);
    let tls_url = tls_url.replace("http://", "https://");
    let ca = std::fs::read(&authority.cert).unwrap();
    let identity = atoll_proto::TlsIdentity {
        cert_pem: std::fs::read(client_cert).unwrap(),
        key_pem: std::fs::read(client_key).unwrap(),
    };
    let with_token = Caller { token: Some(TOKEN), ca: None, identity: None };
    let over_tls = Caller { token: Some(TOKEN), ca: Some(&ca), identity: None };
    let with_certificate = Caller { token: None, ca: Some(&ca), identity: Some(&identity) };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Warm up each.
        rate(&open_url, &OPEN, 400, false).await;
        rate(&tokens_url, &with_token, 400, false).await;
        rate(&secured_url, &with_token, 400, false).await;
        rate(&tls_url, &over_tls, 400, false).await;
        rate(&tls_url, &with_certificate, 400, false).await;
        for (kind, mutating) in [("ListJobs", false), ("KillTasks (refused: no such job)", true)] {
            let open = rate(&open_url, &OPEN, calls, mutating).await;
            let tokens = rate(&tokens_url, &with_token, calls, mutating).await;
            let secured = rate(&secured_url, &with_token, calls, mutating).await;
            let tls = rate(&tls_url, &over_tls, calls, mutating).await;
            let mutual = rate(&tls_url, &with_certificate, calls, mutating).await;
            let change = |rate: f64| (rate / open - 1.0) * 100.0;
            println!(
                "auth_cost: {kind}, {CLIENTS} clients, {calls} calls: without --auth {open:.0}/s; --auth (1,000 users) {tokens:.0}/s ({:+.1} %); --auth and --audit-log {secured:.0}/s ({:+.1} %); all that over TLS {tls:.0}/s ({:+.1} %); over mutual TLS, a certificate for a token {mutual:.0}/s ({:+.1} %)",
                change(tokens),
                change(secured),
                change(tls),
                change(mutual)
            );
        }
    });
}

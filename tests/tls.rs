//! TLS through the real binary: a scheduler serving a certificate signed by a CA made here
//! (with openssl), agents and clients that check it, and what happens to a client that does not
//! (plaintext to the TLS port, https without the CA, the CA with a plaintext address). Mutual
//! TLS: agents that prove who they are with certificates instead of tokens, and serve their
//! logs over TLS to a scheduler that checks them.

use std::process::Command;
use std::time::Duration;

use atoll_tests::{Cluster, Daemon, TestCa, atoll, eventually, printed, test_certificates};
use sha2::{Digest, Sha256};

#[test]
fn a_tls_scheduler_runs_jobs_for_clients_and_agents_that_check_it_and_refuses_plaintext() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_certificates(certs.path());
    let http = atoll_tests::free_port();
    let http_flag = format!("127.0.0.1:{http}");
    let cluster = Cluster::start_with_flags(
        10,
        &["--tls-cert", &cert, "--tls-key", &key, "--http", &http_flag],
        &["--tls-ca", &ca],
    );
    assert!(cluster.url.starts_with("https://"), "{}", cluster.url);
    let file = cluster.sleeping_service();
    let job = "devcluster/www-data/devel/hello";
    let with_ca = |args: &[&str]| {
        Command::new(atoll_tests::atoll_binary())
            .args(args)
            .args(["--scheduler", &cluster.url])
            .env("ATOLL_CA_FILE", &ca)
            .output()
            .unwrap()
    };

    // Agents (checking the scheduler against --tls-ca) run what a checking client creates.
    let created = with_ca(&["job", "create", job, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));

    // https without the CA: refused before connecting, saying what to give.
    let no_ca = cluster.job(&["status", job]);
    assert_eq!(no_ca.status.code(), Some(6), "{}", printed(&no_ca));
    assert!(printed(&no_ca).contains("is https://, so its certificate must be checked"), "{}", printed(&no_ca));

    // Plaintext to the TLS port gets nothing.
    let plain = cluster.url.replace("https://", "http://");
    let refused = atoll(&["job", "status", job, "--scheduler", &plain]);
    assert_eq!(refused.status.code(), Some(7), "{}", printed(&refused));
    assert!(printed(&refused).contains("use https://"), "{}", printed(&refused));

    // A CA with a plaintext address is a mistake, said as one.
    let mixed = Command::new(atoll_tests::atoll_binary())
        .args(["job", "status", job, "--scheduler", &plain])
        .env("ATOLL_CA_FILE", &ca)
        .output()
        .unwrap();
    assert_eq!(mixed.status.code(), Some(6), "{}", printed(&mixed));
    assert!(printed(&mixed).contains("but http://127.0.0.1"), "{}", printed(&mixed));

    // The HTTP listener serves TLS too, with the same certificate; plaintext gets nothing.
    let metrics = https_get(http, "/metrics", &ca);
    assert!(metrics.starts_with("HTTP/1.0 200 OK"), "{metrics}");
    assert!(metrics.contains("atoll_grpc_calls_total{"), "{metrics}");
    let plaintext = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    assert!(!plaintext.contains("200 OK"), "plaintext to the TLS HTTP port got an answer: {plaintext}");

    // A CA that did not sign the scheduler's certificate fails the handshake.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = test_certificates(other.path());
    let wrong = Command::new(atoll_tests::atoll_binary())
        .args(["job", "status", job, "--scheduler", &cluster.url])
        .env("ATOLL_CA_FILE", &other_ca)
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(7), "{}", printed(&wrong));
    assert!(printed(&wrong).contains("certificate"), "{}", printed(&wrong));
}

/// `GET PATH` from `127.0.0.1:PORT` over TLS checked against `ca` (with openssl): the response.
fn https_get(port: u16, path: &str, ca: &str) -> String {
    use std::io::Write;
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-verify_ip", "127.0.0.1", "-CAfile", ca])
        .args(["-connect", &format!("127.0.0.1:{port}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    write!(client.stdin.take().unwrap(), "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let output = client.wait_with_output().expect("wait for openssl");
    assert!(output.status.success(), "openssl s_client: {}", printed(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An agent `name` of `cluster` that presents `cert` (and checks the scheduler against `ca`).
fn agent_with_certificate(cluster: &Cluster, name: &str, ca: &str, cert: &str, key: &str) -> Daemon {
    let work = cluster.dir.path().join(name);
    cluster.start_extra_agent(
        name,
        &work,
        "cpus:1;mem:64;disk:64",
        &["--tls-ca", ca, "--tls-cert", cert, "--tls-key", key],
    )
}

#[test]
fn agents_prove_who_they_are_with_certificates_and_serve_their_logs_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::new(certs.path());
    let (scheduler_cert, scheduler_key) = ca.issue("scheduler", &["IP:127.0.0.1"]);
    // One certificate for the agents: its DNS name is who they are, its IP where their log
    // services are reached.
    let (agent_cert, agent_key) = ca.issue("agents", &["DNS:agents.test.atoll", "IP:127.0.0.1"]);
    let alice = "alice-token";
    let digest: String = Sha256::digest(alice.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let auth = certs.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "[users.alice]\ntoken_sha256 = \"{digest}\"\nroles = [\"www-data\"]\n\n\
             [users.fleet]\ncertificate_name = \"agents.test.atoll\"\nagent = true\n"
        ),
    )
    .unwrap();
    let auth = auth.display().to_string();
    let scheduler_flags =
        ["--auth", &auth, "--tls-cert", &scheduler_cert, "--tls-key", &scheduler_key, "--tls-ca", &ca.cert];
    let agent_flags = ["--tls-ca", &ca.cert, "--tls-cert", &agent_cert, "--tls-key", &agent_key];
    let cluster = Cluster::start_with_flags(10, &scheduler_flags, &agent_flags);
    let as_alice = |args: &[&str]| {
        Command::new(atoll_tests::atoll_binary())
            .args(args)
            .args(["--scheduler", &cluster.url])
            .env("ATOLL_TOKEN", alice)
            .env("ATOLL_CA_FILE", &ca.cert)
            .output()
            .unwrap()
    };

    // The agents registered with their certificate alone (no token), so they run alice's job,
    // and its executor announced it in the embedded registry with the same certificate.
    let file = cluster.announced_job(1);
    let job = "devcluster/www-data/prod/web";
    let created = as_alice(&["job", "create", job, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let listed = eventually("the task's member", Duration::from_secs(15), || {
        let listed = as_alice(&["sd", "list", job, "--json"]);
        let text = String::from_utf8_lossy(&listed.stdout).into_owned();
        (listed.status.success() && text.contains("ALIVE")).then_some(text)
    });
    assert!(listed.contains("\"shard\": 0") || listed.contains("\"shard\":0"), "{listed}");

    // Logs come through the scheduler, which reads the agent's log service over TLS.
    let logs = eventually("the task's output", Duration::from_secs(15), || {
        let logs = as_alice(&["task", "logs", &format!("{job}/0")]);
        let text = printed(&logs);
        (logs.status.success() && text.contains("serving on")).then_some(text)
    });
    assert!(logs.contains("serving on"), "{logs}");
    let agent = &cluster.agents[0];
    assert!(!agent.log().contains("token"), "no token was needed: {}", agent.log());

    // A certificate the CA signed for a name no user has is refused, as is one from another CA.
    let (stranger_cert, stranger_key) = ca.issue("stranger", &["DNS:web.test.atoll"]);
    let stranger = agent_with_certificate(&cluster, "stranger", &ca.cert, &stranger_cert, &stranger_key);
    eventually("the stranger's refusal", Duration::from_secs(15), || {
        stranger
            .log()
            .contains("the client certificate (for web.test.atoll) is no user's certificate_name")
            .then_some(())
    });
    let other = tempfile::tempdir().unwrap();
    let other_ca = TestCa::new(other.path());
    let (forged_cert, forged_key) = other_ca.issue("agents", &["DNS:agents.test.atoll"]);
    let forged = agent_with_certificate(&cluster, "forged", &ca.cert, &forged_cert, &forged_key);
    // The handshake fails; how the agent words it depends on when the scheduler hangs up
    // (closed, reset), so what counts is that it never registers (the host list, below).
    eventually("the forged agent's refusal", Duration::from_secs(15), || {
        forged.log().contains("lost the scheduler; retrying").then_some(())
    });
    let hosts = as_alice(&["host", "status", "--json"]);
    assert!(hosts.status.success(), "{}", printed(&hosts));
    let hosts = String::from_utf8_lossy(&hosts.stdout).into_owned();
    assert!(hosts.contains("agent-1") && !hosts.contains("stranger") && !hosts.contains("forged"), "{hosts}");
    let killed = as_alice(&["job", "killall", job]);
    assert!(killed.status.success(), "{}", printed(&killed));

    // A user with a certificate_name needs a scheduler that takes certificates.
    let mut refused = Daemon::start(
        "no-client-ca",
        cluster.dir.path(),
        &[
            "scheduler",
            "--data-dir",
            cluster.dir.path().join("other").to_str().unwrap(),
            "--grpc",
            "127.0.0.1:0",
            "--auth",
            &auth,
        ],
    );
    assert_eq!(refused.wait(Duration::from_secs(10)).code(), Some(6), "{}", refused.log());
    assert!(
        refused.log().contains("users.fleet of the --auth file proves who they are with a certificate"),
        "{}",
        refused.log()
    );
}

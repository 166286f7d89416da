//! TLS through the real binary: a scheduler serving a certificate signed by a CA made here
//! (with openssl), agents and clients that check it, and what happens to a client that does not
//! (plaintext to the TLS port, https without the CA, the CA with a plaintext address).

use std::process::Command;

use atoll_tests::{Cluster, atoll, printed, test_certificates};

#[test]
fn a_tls_scheduler_runs_jobs_for_clients_and_agents_that_check_it_and_refuses_plaintext() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_certificates(certs.path());
    let cluster = Cluster::start_with_flags(10, &["--tls-cert", &cert, "--tls-key", &key], &["--tls-ca", &ca]);
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

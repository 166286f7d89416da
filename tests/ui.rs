//! The web UI in a real browser (headless Chromium over WebDriver): the cluster page lists the
//! agents and the job, the job page its instance RUNNING, and when the job is killed from the
//! command line the page shows it KILLED without reloading; the instance page has the task's
//! history; the role, hosts and updates pages show theirs. The job page's screenshot is written to `target/ui/job.png`. With `--auth`, pages
//! want a user's token.

use std::time::Duration;

use atoll_tests::{Browser, Cluster, eventually, free_port, http_request, printed, workspace_root};
use base64::Engine;
use sha2::{Digest, Sha256};

const JOB: &str = "devcluster/www-data/devel/hello";

#[test]
fn pages_show_the_cluster_a_job_and_an_instance_and_follow_changes_without_reloading() {
    let (cluster, http) = Cluster::start_serving_http(10);
    let created = cluster.job(&["create", JOB, &cluster.sleeping_service(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let browser = Browser::start();
    let base = format!("http://127.0.0.1:{http}");

    browser.open(&format!("{base}/"));
    let text = browser.text();
    for expected in ["Cluster devcluster", "Agents", "agent-1", "agent-2", JOB, "service"] {
        assert!(text.contains(expected), "{expected} on the cluster page:\n{text}");
    }

    browser.open(&format!("{base}/jobs/{JOB}"));
    let text = browser.text();
    assert!(text.contains(&format!("Job {JOB}")) && text.contains("RUNNING"), "{text}");
    eventually("the page to be live", Duration::from_secs(10), || {
        (browser.script("return document.getElementById('live').textContent") == "live").then_some(())
    });
    let screenshot = browser.screenshot();
    assert!(screenshot.starts_with(b"\x89PNG"), "a PNG");
    let shots = workspace_root().join("target/ui");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join("job.png"), &screenshot).unwrap();

    // A change from elsewhere shows on the page as it happens, the page itself kept.
    browser.script("window.keptAcrossRedraws = 42; return null");
    let killed = cluster.job(&["killall", JOB]);
    assert!(killed.status.success(), "{}", printed(&killed));
    eventually("the page to show the task KILLED", Duration::from_secs(20), || {
        browser.text().contains("KILLED").then_some(())
    });
    assert_eq!(browser.script("return window.keptAcrossRedraws"), 42, "redrawn in place, not reloaded");

    browser.open(&format!("{base}/jobs/{JOB}/0"));
    let text = browser.text();
    for expected in ["PENDING", "ASSIGNED", "RUNNING", "KILLING", "KILLED", "Killed by request"] {
        assert!(text.contains(expected), "{expected} in the instance's history:\n{text}");
    }
    browser.open(&format!("{base}/roles/devcluster/www-data"));
    let text = browser.text();
    // The job was killed (and so removed) above.
    assert!(text.contains("Role www-data") && text.contains("No jobs.") && text.contains("none set"), "{text}");
    browser.open(&format!("{base}/hosts"));
    let text = browser.text();
    assert!(text.contains("agent-1") && text.contains("agent-2") && text.contains("NONE"), "{text}");
    browser.open(&format!("{base}/updates"));
    assert!(browser.text().contains("No updates yet."), "{}", browser.text());
    let (status, _, body) = http_request(http, "GET", "/jobs/devcluster/www-data/devel/nothing", &[], None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("Not found"), "{body}");
}

#[test]
fn with_auth_the_pages_want_a_users_token_and_metrics_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.toml");
    let digest: String = Sha256::digest(b"alice-token").iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&auth, format!("[users.alice]\ntoken_sha256 = \"{digest}\"\nroles = [\"www-data\"]\n")).unwrap();
    let http = free_port();
    let http_flag = format!("127.0.0.1:{http}");
    let cluster = Cluster::start_with_flags(10, &["--auth", auth.to_str().unwrap(), "--http", &http_flag], &[]);
    let (status, headers, _) = http_request(http, "GET", "/", &[], None);
    assert_eq!(status, 401);
    assert!(headers.iter().any(|(n, v)| n == "www-authenticate" && v.starts_with("Basic")), "{headers:?}");
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:guess"));
    assert_eq!(http_request(http, "GET", "/", &[("Authorization", &wrong)], None).0, 401);
    let right = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:alice-token"));
    let (status, _, body) = http_request(http, "GET", "/", &[("Authorization", &right)], None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Cluster devcluster"), "{body}");
    assert_eq!(http_request(http, "GET", "/metrics", &[], None).0, 200, "metrics are open");
    drop(cluster);
}

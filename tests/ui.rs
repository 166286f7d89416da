//! The web UI in a real browser (headless Chromium over WebDriver): the cluster page lists the
//! agents and the job, the job page its instance RUNNING, and when the job is killed from the
//! command line the page shows it KILLED without reloading; the instance page has the task's
//! history; the role, hosts and updates pages show theirs; the logs page follows a task's
//! output live and says when it ended. The job page's screenshot is written to
//! `target/ui/job.png`. With `--auth`, pages want a user's token. The frameworks page lists a
//! framework subscribed over gRPC, whose page shows its task and links to the task's instance
//! page and log.

use std::time::Duration;

use atoll_tests::framework_client::{TestFramework, framework_task};
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

#[test]
fn the_logs_page_follows_a_tasks_output_live_and_says_when_it_ended() {
    let (cluster, http) = Cluster::start_serving_http(10);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("talker.rhai");
    std::fs::write(
        &file,
        r#"let talk = Process(#{ name: "talk", cmdline: "echo starting >&2; i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done" });
let t = SequentialTask(#{ processes: [talk], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "talker", task: t }) ];
"#,
    )
    .unwrap();
    let job = "devcluster/www-data/devel/talker";
    let created = cluster.job(&["create", job, file.to_str().unwrap(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let browser = Browser::start();
    let base = format!("http://127.0.0.1:{http}");

    // The instance page links to the live log.
    browser.open(&format!("{base}/jobs/{job}/0"));
    browser.script("document.querySelector('a[href$=\"/logs?stream=stdout\"]').click(); return null");
    let first_line = |text: &str| -> Option<u64> {
        text.lines().find_map(|line| line.trim().strip_prefix("line-").and_then(|n| n.parse().ok()))
    };
    let last_line = |text: &str| -> Option<u64> {
        text.lines().rev().find_map(|line| line.trim().strip_prefix("line-").and_then(|n| n.parse().ok()))
    };
    let seen = eventually("the log on the page", Duration::from_secs(20), || last_line(&browser.text()));
    let text = browser.text();
    assert!(text.contains(&format!("Logs of {job}/0")) && text.contains("following"), "{text}");
    assert!(text.contains(&format!("atoll task logs {job}/0 --process talk -f")), "{text}");
    assert_eq!(first_line(&text), Some(1), "the page starts at the log's first line:\n{text}");
    // New output arrives on the same page, without reloading it.
    browser.script("window.keptWhileFollowing = 7; return null");
    eventually("newer lines on the page", Duration::from_secs(20), || {
        last_line(&browser.text()).filter(|&newest| newest >= seen + 5)
    });
    assert_eq!(browser.script("return window.keptWhileFollowing"), 7, "followed in place, not reloaded");

    browser.script("document.querySelector('.choices a[href*=\"stream=stderr\"]').click(); return null");
    eventually("stderr on the page", Duration::from_secs(20), || {
        let text = browser.text();
        (text.contains("starting") && last_line(&text).is_none()).then_some(())
    });

    // The end of the task ends the page's following, and the page says so.
    browser.open(&format!("{base}/jobs/{job}/0/logs"));
    eventually("the page to follow", Duration::from_secs(20), || last_line(&browser.text()));
    let killed = cluster.job(&["killall", job]);
    assert!(killed.status.success(), "{}", printed(&killed));
    eventually("the page to say the log is complete", Duration::from_secs(30), || {
        browser.text().contains("The task has ended; this is all of its log.").then_some(())
    });
    assert_eq!(browser.script("return document.getElementById('live').textContent"), "ended");

    // What cannot be read is said on the page, in the scheduler's or the agent's words.
    browser.open(&format!("{base}/jobs/{job}/0/logs?process=nosuch"));
    eventually("the refusal on the page", Duration::from_secs(20), || {
        let text = browser.text();
        text.contains("has no process 'nosuch'; its processes: talk").then_some(())
    });
    let (status, _, body) = http_request(http, "GET", &format!("/jobs/{job}/7/logs"), &[], None);
    assert_eq!(status, 404, "an instance that never had a task: {body}");
    let (status, _, body) = http_request(http, "GET", &format!("/jobs/{job}/0/logs?stream=both"), &[], None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown log stream 'both': choose stdout or stderr"), "{body}");
}

#[test]
fn the_frameworks_pages_show_a_framework_and_its_task_linked_to_its_instance_page() {
    let (cluster, http) = Cluster::start_serving_http(10);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let framework = runtime.block_on(async {
        let mut framework =
            TestFramework::subscribe(&cluster.url, "webui", "www-data", None, None).await.expect("subscribed");
        let task = framework_task("greeter", 0.1, 16, "echo the greeter is up; exec sleep 600");
        framework.launch_into_an_offer(task).await;
        framework
    });
    let id = framework.id.clone();
    let browser = Browser::start();
    let base = format!("http://127.0.0.1:{http}");

    browser.open(&format!("{base}/frameworks"));
    let text = browser.text();
    for expected in ["Frameworks", "atoll-jobs", "built in", &id, "www-data", "subscribed"] {
        assert!(text.contains(expected), "{expected} on the frameworks page:\n{text}");
    }
    assert!(text.find("atoll-jobs") < text.find(id.as_str()), "the built-in framework first:\n{text}");
    browser.script(&format!("document.querySelector('a[href=\"/frameworks/{id}\"]').click(); return null"));
    eventually("the framework's page with its task RUNNING", Duration::from_secs(30), || {
        let text = browser.text();
        (text.contains(&format!("Framework {id}")) && text.contains("greeter") && text.contains("RUNNING"))
            .then_some(())
    });
    browser.script("document.querySelector('tr[data-task=\"greeter\"] a').click(); return null");
    let instance = format!("devcluster/www-data/framework/{id}/0");
    eventually("the task's instance page", Duration::from_secs(20), || {
        let text = browser.text();
        (text.contains(&format!("Instance {instance}")) && text.contains("Launched by framework")).then_some(())
    });
    browser.script("document.querySelector('a[href$=\"/logs?stream=stdout\"]').click(); return null");
    eventually("the task's output on its logs page", Duration::from_secs(20), || {
        browser.text().contains("the greeter is up").then_some(())
    });
    let (status, _, body) = http_request(http, "GET", "/frameworks/nobody-1", &[], None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No framework nobody-1 is known"), "{body}");
    // Subscribed until here.
    drop(framework);
}

//! Service discovery through the real binary and the scheduler's embedded registry: announced
//! tasks are ServerSet members with Aurora's JSON; a killed task's member leaves; a deleted
//! member comes back; a registry that lost its state (a scheduler restart) gets every member
//! again under new sequence numbers; the members of a dead host vanish with their sessions.

use std::collections::BTreeMap;
use std::time::Duration;

use atoll_proto::v1::{self, registry_service_client::RegistryServiceClient};
use atoll_tests::{Cluster, atoll, eventually, kill_sandbox_processes, printed};
use serde_json::Value;

const JOB: &str = "devcluster/www-data/prod/web";
const PATH: &str = "/aurora/www-data/prod/web";

/// The members `atoll sd list --json` shows, by node name.
fn members(cluster: &Cluster) -> BTreeMap<String, Value> {
    let output = atoll(&["sd", "list", JOB, "--json", "--scheduler", &cluster.url]);
    assert!(output.status.success(), "{}", printed(&output));
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed["path"], PATH);
    listed["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_owned(), m["member"].clone()))
        .collect()
}

fn alive_shards(members: &BTreeMap<String, Value>) -> Vec<u64> {
    let mut shards: Vec<u64> =
        members.values().filter(|m| m["status"] == "ALIVE").filter_map(|m| m["shard"].as_u64()).collect();
    shards.sort_unstable();
    shards
}

#[test]
fn running_instances_are_alive_members_with_auroras_json_and_leave_when_killed() {
    let cluster = Cluster::start(10);
    let created = cluster.job(&["create", JOB, &cluster.announced_job(3), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let listed = eventually("three ALIVE members", Duration::from_secs(10), || {
        let listed = members(&cluster);
        (alive_shards(&listed) == [0, 1, 2]).then_some(listed)
    });
    let status = cluster.status(JOB);
    for member in listed.values() {
        let shard = member["shard"].as_u64().unwrap() as usize;
        let task = &status["instances"][shard];
        assert_eq!(member["serviceEndpoint"]["host"], task["host"], "{member}");
        assert_eq!(
            member["serviceEndpoint"]["port"], task["ports"]["http"],
            "the primary port, as an integer: {member}"
        );
        assert_eq!(member["additionalEndpoints"]["aurora"], member["serviceEndpoint"], "the default alias");
        assert_eq!(member["additionalEndpoints"]["http"], member["serviceEndpoint"]);
    }
    assert!(listed.keys().all(|name| name.starts_with("member_") && name.len() == "member_".len() + 10));

    let killed = cluster.job(&["kill", &format!("{JOB}/1")]);
    assert!(killed.status.success(), "{}", printed(&killed));
    assert_eq!(alive_shards(&members(&cluster)), vec![0, 2], "the killed instance's member is gone");
    let _ = cluster.job(&["killall", JOB]);
}

#[test]
fn a_deleted_member_returns_and_a_lost_registry_is_refilled() {
    let mut cluster = Cluster::start(10);
    let created = cluster.job(&["create", JOB, &cluster.announced_job(1), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let first = eventually("one ALIVE member", Duration::from_secs(10), || {
        let listed = members(&cluster);
        (alive_shards(&listed) == [0]).then(|| listed.keys().next().cloned()).flatten()
    });

    {
        // A client of its own, gone (runtime and connection) before the scheduler is stopped.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut registry = RegistryServiceClient::connect(cluster.url.clone()).await.unwrap();
            registry.delete_node(v1::DeleteNodeRequest { path: format!("{PATH}/{first}") }).await.unwrap();
        });
    }
    let second = eventually("the member to be back within 2 s", Duration::from_secs(2), || {
        let listed = members(&cluster);
        listed.keys().next().filter(|name| **name != first).cloned()
    });
    assert!(second > first, "a re-created member has a higher sequence number");

    // The embedded registry lives in the scheduler's memory: a restart loses it, and the
    // task's executor announces it again.
    cluster.scheduler.take().expect("scheduler").stop();
    cluster.start_scheduler(10);
    eventually("the member to be announced again", Duration::from_secs(15), || {
        (alive_shards(&members(&cluster)) == [0]).then_some(())
    });
    let _ = cluster.job(&["killall", JOB]);
}

#[test]
fn the_members_of_a_dead_host_vanish_with_their_sessions() {
    let mut cluster = Cluster::start(30);
    let created = cluster.job(&["create", JOB, &cluster.announced_job(1), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    eventually("one ALIVE member", Duration::from_secs(10), || (alive_shards(&members(&cluster)) == [0]).then_some(()));
    let task = cluster.status(JOB)["instances"][0].clone();
    cluster.crash_agent(task["host"].as_str().unwrap());
    kill_sandbox_processes(std::path::Path::new(task["sandbox"].as_str().unwrap()));
    eventually("the member to vanish with its session", Duration::from_secs(20), || {
        members(&cluster).is_empty().then_some(())
    });
}

/// Answers `GET /health` with "ok" while its home has a `healthy` file.
const HEALTH_SERVER: &str = r#"
import http.server, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if os.path.exists("healthy") else b"sick"
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        self.send_response(200); self.end_headers()
        if self.path == "/quitquitquit": os._exit(0)
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;

fn member_status(cluster: &Cluster) -> Option<String> {
    members(cluster).values().next().and_then(|m| m["status"].as_str().map(str::to_owned))
}

#[test]
fn a_health_checked_member_is_starting_until_healthy_and_steps_aside_while_failing() {
    let cluster = Cluster::start(10);
    let server = cluster.dir.path().join("health_server.py");
    std::fs::write(&server, HEALTH_SERVER).unwrap();
    let file = cluster.dir.path().join("checked.rhai");
    std::fs::write(
        &file,
        format!(
            r#"let web = Process(#{{ name: "web", cmdline: "echo {{{{thermos.ports[http]}}}}; exec python3 {server} {{{{thermos.ports[health]}}}}" }});
let t = SequentialTask(#{{ processes: [web], resources: Resources(#{{ cpu: 0.1, ram: 64 * MB, disk: 16 * MB }}) }});
let checks = HealthCheckConfig(#{{ initial_interval_secs: 0.2, interval_secs: 0.2, max_consecutive_failures: 1000 }});
let jobs = [ Service(#{{ cluster: "devcluster", role: "www-data", environment: "prod", name: "web", task: t, announce: Announcer(#{{}}), health_check_config: checks }}) ];
"#,
            server = server.display()
        ),
    )
    .unwrap();
    let created = cluster.job(&["create", JOB, file.to_str().unwrap()]);
    assert!(created.status.success(), "{}", printed(&created));
    eventually("a STARTING member", Duration::from_secs(15), || (member_status(&cluster)? == "STARTING").then_some(()));
    let sandbox = eventually("the sandbox", Duration::from_secs(5), || {
        cluster.status(JOB)["instances"][0]["sandbox"].as_str().map(std::path::PathBuf::from)
    });
    let home = sandbox.join("sandbox");
    std::fs::write(home.join("healthy"), "").unwrap();
    eventually("ALIVE once healthy", Duration::from_secs(10), || (member_status(&cluster)? == "ALIVE").then_some(()));
    std::fs::remove_file(home.join("healthy")).unwrap();
    eventually("WARNING while checks fail", Duration::from_secs(10), || {
        (member_status(&cluster)? == "WARNING").then_some(())
    });
    std::fs::write(home.join("healthy"), "").unwrap();
    eventually("ALIVE again", Duration::from_secs(10), || (member_status(&cluster)? == "ALIVE").then_some(()));
    let _ = cluster.job(&["killall", JOB]);
}

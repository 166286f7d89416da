//! ServerSets in a real ZooKeeper (Debian's package), read by an independent consumer: kazoo
//! (PyPI), with Finagle's rules (children named `member_*`, integer ports). Agents run with
//! `--zk`; the scenarios match the embedded registry's: members appear with Aurora's JSON, a
//! killed instance's member leaves, a deleted member comes back within 2 s, expired sessions are
//! announced again under new sequence numbers, and a dead host's members vanish.

use std::time::Duration;

use atoll_tests::{Cluster, Daemon, ZooKeeper, atoll, eventually, kill_sandbox_processes, printed};
use serde_json::Value;

const JOB: &str = "devcluster/www-data/prod/web";
const PATH: &str = "/aurora/www-data/prod/web";

/// kazoo, listing or deleting members as a consumer would.
const KAZOO: &str = r#"
import json, sys
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
hosts, command, path = sys.argv[1], sys.argv[2], sys.argv[3]
zk = KazooClient(hosts=hosts)
zk.start(timeout=15)
if command == "list":
    members = []
    if zk.exists(path):
        for name in sorted(zk.get_children(path)):
            if not name.startswith("member_"):
                continue
            try:
                data, _ = zk.get(path + "/" + name)
            except NoNodeError:
                continue  # gone between listing and reading, as consumers allow
            member = json.loads(data)
            assert isinstance(member["serviceEndpoint"]["port"], int), member
            for endpoint in member["additionalEndpoints"].values():
                assert isinstance(endpoint["port"], int), member
            members.append({"name": name, "member": member})
        parent_data, _ = zk.get(path)
        assert parent_data == b"", parent_data
    print(json.dumps(members))
elif command == "delete":
    zk.delete(path)
zk.stop()
"#;

fn kazoo(zookeeper: &ZooKeeper, dir: &std::path::Path, command: &str, path: &str) -> Value {
    let script = dir.join("kazoo_reader.py");
    std::fs::write(&script, KAZOO).unwrap();
    let output = std::process::Command::new("python3")
        .arg(&script)
        .args([&zookeeper.address(), command, path])
        .output()
        .expect("run python3");
    assert!(output.status.success(), "kazoo failed (pip install kazoo): {}", printed(&output));
    if command == "list" { serde_json::from_slice(&output.stdout).expect("kazoo prints JSON") } else { Value::Null }
}

fn alive(members: &Value) -> Vec<(u64, String)> {
    let mut alive: Vec<(u64, String)> = members
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["member"]["status"] == "ALIVE")
        .map(|m| (m["member"]["shard"].as_u64().unwrap(), m["name"].as_str().unwrap().to_owned()))
        .collect();
    alive.sort();
    alive
}

fn shards(members: &Value) -> Vec<u64> {
    alive(members).into_iter().map(|(shard, _)| shard).collect()
}

#[test]
fn members_in_zookeeper_are_read_by_kazoo_and_follow_their_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let mut zookeeper = ZooKeeper::start(dir.path());
    let address = zookeeper.address();
    let mut cluster = Cluster::start_with_agent_flags(30, &["--zk", &address]);
    let created = cluster.job(&["create", JOB, &cluster.announced_job(3), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));

    let members = eventually("three ALIVE members in ZooKeeper", Duration::from_secs(15), || {
        let members = kazoo(&zookeeper, dir.path(), "list", PATH);
        (shards(&members) == [0, 1, 2]).then_some(members)
    });
    let status = cluster.status(JOB);
    for entry in members.as_array().unwrap() {
        let member = &entry["member"];
        let task = &status["instances"][member["shard"].as_u64().unwrap() as usize];
        assert_eq!(member["serviceEndpoint"]["host"], task["host"]);
        assert_eq!(member["serviceEndpoint"]["port"], task["ports"]["http"]);
        assert_eq!(member["additionalEndpoints"]["aurora"], member["serviceEndpoint"]);
    }
    let listed = atoll(&["sd", "list", JOB, "--zk", &address, "--json", "--scheduler", &cluster.url]);
    assert!(listed.status.success(), "{}", printed(&listed));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["members"].as_array().unwrap().len(), 3, "atoll sd reads ZooKeeper too");

    let watching =
        Daemon::start("sd-watch", dir.path(), &["sd", "watch", JOB, "--zk", &address, "--scheduler", &cluster.url]);
    eventually("sd watch to show the three members", Duration::from_secs(10), || {
        (watching.log().matches("ALIVE").count() >= 3).then_some(())
    });

    let killed = cluster.job(&["kill", &format!("{JOB}/1")]);
    assert!(killed.status.success(), "{}", printed(&killed));
    assert_eq!(shards(&kazoo(&zookeeper, dir.path(), "list", PATH)), vec![0, 2], "gone before the kill returned");
    eventually("sd watch to show the change: a new table of two", Duration::from_secs(10), || {
        (watching.log().matches("ALIVE").count() >= 5).then_some(())
    });
    drop(watching);

    let (_, first) = alive(&kazoo(&zookeeper, dir.path(), "list", PATH)).remove(0);
    kazoo(&zookeeper, dir.path(), "delete", &format!("{PATH}/{first}"));
    let back = eventually("the deleted member back within 2 s", Duration::from_secs(2), || {
        let members = kazoo(&zookeeper, dir.path(), "list", PATH);
        (shards(&members) == [0, 2]).then(|| alive(&members)).filter(|m| m[0].1 != first)
    });
    assert!(back[0].1 > first, "re-created under a higher sequence number");

    // Keep ZooKeeper down past the sessions' timeout: they expire, and the members come back
    // under new sessions and new names.
    let before = alive(&kazoo(&zookeeper, dir.path(), "list", PATH));
    zookeeper.restart_after(Duration::from_secs(8));
    let after = eventually("the members to be announced again", Duration::from_secs(30), || {
        let members = alive(&kazoo(&zookeeper, dir.path(), "list", PATH));
        let renamed = members.len() == 2 && members.iter().all(|m| !before.iter().any(|b| b.1 == m.1));
        renamed.then_some(members)
    });
    assert_eq!(after.iter().map(|m| m.0).collect::<Vec<_>>(), vec![0, 2]);

    // A dead host: its agent and the tasks' processes are gone; the sessions expire.
    let task = cluster.status(JOB)["instances"][0].clone();
    cluster.crash_agent(task["host"].as_str().unwrap());
    kill_sandbox_processes(std::path::Path::new(task["sandbox"].as_str().unwrap()));
    eventually("the dead host's member to vanish", Duration::from_secs(20), || {
        (!shards(&kazoo(&zookeeper, dir.path(), "list", PATH)).contains(&0)).then_some(())
    });
}

#[test]
fn clients_find_a_scheduler_that_announces_itself_in_zookeeper() {
    let dir = tempfile::tempdir().unwrap();
    let zookeeper = ZooKeeper::start(dir.path());
    let address = zookeeper.address();
    let cluster = Cluster::start_with_flags(
        10,
        &["--zk", &address, "--serverset-path", "/sd/schedulers", "--advertise-host", "127.0.0.1"],
        &[],
    );
    let members = eventually("the scheduler's member", Duration::from_secs(15), || {
        let members = kazoo(&zookeeper, dir.path(), "list", "/sd/schedulers");
        (members.as_array()?.len() == 1).then_some(members)
    });
    assert_eq!(members[0]["member"]["serviceEndpoint"]["port"].as_u64(), Some(u64::from(cluster.port)));

    let clusters = dir.path().join("clusters.toml");
    std::fs::write(&clusters, format!("[clusters.devcluster]\nscheduler = \"zk://{address}/sd/schedulers\"\n"))
        .unwrap();
    let listed = std::process::Command::new(atoll_tests::atoll_binary())
        .args(["job", "list", "devcluster", "--json"])
        .env("ATOLL_CLUSTERS", &clusters)
        .output()
        .unwrap();
    assert!(listed.status.success(), "found through zk://: {}", printed(&listed));
    let nobody = dir.path().join("nobody.toml");
    std::fs::write(&nobody, format!("[clusters.devcluster]\nscheduler = \"zk://{address}/sd/nobody\"\n")).unwrap();
    let missing = std::process::Command::new(atoll_tests::atoll_binary())
        .args(["job", "list", "devcluster"])
        .env("ATOLL_CLUSTERS", &nobody)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(7), "{}", printed(&missing));
    assert!(printed(&missing).contains("no scheduler is announced at /sd/nobody"), "{}", printed(&missing));
}

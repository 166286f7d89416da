//! Authentication and permissions through the real binary: a scheduler with `--auth` and an
//! audit log, agents that register with their own credential, and users who may change only
//! their roles' jobs. Each refusal is checked with its exit code and message, and the audit log
//! with what it recorded.

use std::time::Duration;

use atoll_proto::v1::{self, agent_service_client::AgentServiceClient};
use atoll_tests::{Cluster, atoll, atoll_as, eventually, printed};
use sha2::{Digest, Sha256};

const JOB: &str = "devcluster/www-data/devel/hello";
const ALICE: &str = "alice-token-1";
const BOB: &str = "bob-token-2";
const OPS: &str = "ops-token-3";
const AGENT: &str = "agent-token-4";

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A cluster whose scheduler knows alice (www-data), bob (billing), ops (admin) and the
/// agents' credential, logging every change to `audit.jsonl`; with the directory of those
/// files; `scheduler_flags` go to the scheduler besides.
fn secured(scheduler_flags: &[&str]) -> (Cluster, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "[users.alice]\ntoken_sha256 = \"{}\"\nroles = [\"www-data\"]\n\n[users.bob]\ntoken_sha256 = \"{}\"\nroles = [\"billing\"]\n\n\
             [users.ops]\ntoken_sha256 = \"{}\"\nadmin = true\n\n[users.agents]\ntoken_sha256 = \"{}\"\nagent = true\n",
            digest(ALICE),
            digest(BOB),
            digest(OPS),
            digest(AGENT)
        ),
    )
    .unwrap();
    let agent_token = dir.path().join("agent.token");
    std::fs::write(&agent_token, format!("{AGENT}\n")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let flags =
        [&["--auth", auth.to_str().unwrap(), "--audit-log", audit.to_str().unwrap()][..], scheduler_flags].concat();
    let cluster = Cluster::start_with_flags(10, &flags, &["--token-file", agent_token.to_str().unwrap()]);
    (cluster, dir)
}

fn as_user(cluster: &Cluster, token: &str, args: &[&str]) -> std::process::Output {
    atoll_as(token, &[args, &["--scheduler", &cluster.url]].concat())
}

#[test]
fn users_change_only_their_roles_jobs_agents_need_their_credential_and_every_change_is_audited() {
    let (cluster, secrets) = secured(&[]);
    let file = cluster.sleeping_service();

    // No token, or one nobody has: refused, exit 4, saying what to do.
    let anonymous = atoll(&["job", "list", "devcluster", "--scheduler", &cluster.url]);
    assert_eq!(anonymous.status.code(), Some(4), "{}", printed(&anonymous));
    assert!(printed(&anonymous).contains("no token: set ATOLL_TOKEN"), "{}", printed(&anonymous));
    let stranger = as_user(&cluster, "guess", &["job", "list", "devcluster"]);
    assert_eq!(stranger.status.code(), Some(4));
    assert!(printed(&stranger).contains("the token matches no user"), "{}", printed(&stranger));

    // Alice runs a www-data job on the agents, which registered with their credential.
    let created = as_user(&cluster, ALICE, &["job", "create", JOB, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));

    // The agent's credential reaches its executors but not the task's processes.
    let env_file = cluster.dir.path().join("env.rhai");
    std::fs::write(
        &env_file,
        r#"let p = Process(#{ name: "env", cmdline: "echo token=${ATOLL_TOKEN:-none}; exec sleep 600" });
let t = SequentialTask(#{ processes: [p], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "env", task: t }) ];
"#,
    )
    .unwrap();
    let env_job = "devcluster/www-data/devel/env";
    let created =
        as_user(&cluster, ALICE, &["job", "create", env_job, env_file.to_str().unwrap(), "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let status: serde_json::Value =
        serde_json::from_slice(&as_user(&cluster, ALICE, &["job", "status", env_job, "--json"]).stdout).unwrap();
    let sandbox = status["instances"][0]["sandbox"].as_str().expect("a sandbox").to_owned();
    let stdout = std::path::Path::new(&sandbox).join(".logs/env/0/stdout");
    let printed_env = eventually("the task's output", Duration::from_secs(10), || {
        std::fs::read_to_string(&stdout).ok().filter(|text| text.contains("token="))
    });
    assert_eq!(printed_env.trim(), "token=none", "the task never sees the agent's token");

    // Alice may not have a task run as a Unix user outside her roles (billing is bob's).
    let other_user = cluster.dir.path().join("as-billing.rhai");
    std::fs::write(
        &other_user,
        r#"let p = Process(#{ name: "p", cmdline: "exec sleep 600" });
let t = Task(#{ processes: [p], user: "billing", resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "as-billing", task: t }) ];
"#,
    )
    .unwrap();
    let as_billing = "devcluster/www-data/devel/as-billing";
    let refused = as_user(&cluster, ALICE, &["job", "create", as_billing, other_user.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(4), "{}", printed(&refused));
    assert!(
        printed(&refused).contains(&format!("user alice may not run tasks of {as_billing} as Unix user billing")),
        "{}",
        printed(&refused)
    );

    // Bob may read it but not change it; alice may not drain hosts; ops may.
    let read = as_user(&cluster, BOB, &["job", "status", JOB]);
    assert!(read.status.success(), "{}", printed(&read));
    let killed = as_user(&cluster, BOB, &["job", "killall", JOB]);
    assert_eq!(killed.status.code(), Some(4), "{}", printed(&killed));
    assert!(
        printed(&killed).contains("user bob may not kill jobs of role www-data: their roles are billing"),
        "{}",
        printed(&killed)
    );
    let drained = as_user(&cluster, ALICE, &["host", "drain", "agent-1"]);
    assert_eq!(drained.status.code(), Some(4), "{}", printed(&drained));
    assert!(
        printed(&drained).contains("user alice may not drain hosts: that needs an admin user"),
        "{}",
        printed(&drained)
    );
    let quota = as_user(&cluster, OPS, &["quota", "set", "devcluster/www-data", "4", "1GB", "1GB"]);
    assert!(quota.status.success(), "{}", printed(&quota));

    // A user's token does not make an agent.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let refused = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(cluster.url.clone()).unwrap().connect().await.unwrap();
        let mut agents = AgentServiceClient::new(atoll_proto::Bearer::new(Some(ALICE)).unwrap().wrap(channel));
        agents.heartbeat(v1::HeartbeatRequest { agent_id: "rogue".into() }).await.unwrap_err()
    });
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("needs the agent credential"), "{}", refused.message());

    // The audit log has each change, with who asked and how it ended.
    let audit = secrets.path().join("audit.jsonl");
    let lines: Vec<serde_json::Value> = eventually("the audit log", Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&audit).ok()?;
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        (lines.len() >= 6).then_some(lines)
    });
    let summary: Vec<(String, String, String, String)> = lines
        .iter()
        .map(|l| {
            let field = |name: &str| l[name].as_str().unwrap().to_owned();
            (field("user"), field("call"), field("subject"), field("outcome"))
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("alice".into(), "CreateJob".into(), JOB.into(), "Ok".into()),
            ("alice".into(), "CreateJob".into(), "devcluster/www-data/devel/env".into(), "Ok".into()),
            (
                "alice".into(),
                "CreateJob".into(),
                "devcluster/www-data/devel/as-billing".into(),
                "PermissionDenied".into()
            ),
            ("bob".into(), "KillTasks".into(), JOB.into(), "PermissionDenied".into()),
            ("alice".into(), "DrainHosts".into(), "agent-1".into(), "PermissionDenied".into()),
            ("ops".into(), "SetQuota".into(), "www-data".into(), "Ok".into()),
        ]
    );
    assert!(lines[3]["message"].as_str().unwrap().contains("may not kill"), "{}", lines[3]);
}

#[test]
fn a_flood_from_one_user_is_refused_without_slowing_others_or_the_agents() {
    let (cluster, _secrets) = secured(&["--user-calls-per-second", "100"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (passed, refused) = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(cluster.url.clone()).unwrap().connect().await.unwrap();
        let mut client = v1::scheduler_service_client::SchedulerServiceClient::new(
            atoll_proto::Bearer::new(Some(BOB)).unwrap().wrap(channel),
        );
        let (mut passed, mut refused) = (0, Vec::new());
        for _ in 0..1000 {
            match client.list_jobs(v1::ListJobsRequest { cluster: "devcluster".into(), ..Default::default() }).await {
                Ok(_) => passed += 1,
                Err(status) => refused.push(status),
            }
        }
        (passed, refused)
    });
    assert!((200..1000).contains(&passed), "a burst of two seconds' worth passes, the rest not: {passed}");
    assert!(refused.iter().all(|s| s.code() == tonic::Code::ResourceExhausted), "{refused:?}");
    assert!(
        refused[0].message().starts_with("user bob is calling more often than 100 times a second"),
        "{}",
        refused[0].message()
    );

    // Alice, whose `--wait-until` polls as it always does, and the agents carry on.
    let file = cluster.sleeping_service();
    let created = as_user(&cluster, ALICE, &["job", "create", JOB, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
}

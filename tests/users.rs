//! Tasks run as their users, through the real binary with two real Unix users this test makes
//! (root only; CI runs as root): each task's processes, health check and finaliser run as its
//! user with only the documented environment, its home and log files are that user's alone,
//! and another role's task can neither read them nor signal its processes. A task whose user
//! does not exist, or is root, fails naming the user and the host. An agent that cannot switch
//! users refuses to start, saying what to do.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use atoll_tests::{Cluster, Daemon, eventually, printed};
use serde_json::Value;

const ALICE: &str = "atoll-t-alice";
const BOB: &str = "atoll-t-bob";
/// A group alice is in besides her own.
const SHARED: &str = "atoll-t-shared";

/// Users and a group made for this test, removed when it ends however it ends.
struct TestUsers;

impl TestUsers {
    fn make() -> TestUsers {
        let run = |program: &str, args: &[&str]| {
            let output = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
            // 9: the user or group exists already (left by an interrupted run).
            assert!(matches!(output.status.code(), Some(0 | 9)), "{program} {args:?}: {output:?}");
        };
        run("groupadd", &["--system", SHARED]);
        for user in [ALICE, BOB] {
            run("useradd", &["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", user]);
        }
        run("usermod", &["--append", "--groups", SHARED, ALICE]);
        TestUsers
    }
}

impl Drop for TestUsers {
    fn drop(&mut self) {
        for user in [ALICE, BOB] {
            let _ = Command::new("userdel").args(["--force", user]).output();
        }
        let _ = Command::new("groupdel").arg(SHARED).output();
    }
}

fn uid_of(user: &str) -> u32 {
    nix::unistd::User::from_name(user).expect("look up").expect("the user exists").uid.as_raw()
}

fn write_job(cluster: &Cluster, name: &str, text: &str) -> String {
    let path = cluster.dir.path().join(format!("{name}.rhai"));
    std::fs::write(&path, text).expect("write job file");
    path.display().to_string()
}

/// A service of `role` whose process runs `cmdline` and whose health check passes only when it
/// runs as the role's user.
fn service(role: &str, cmdline: &str) -> String {
    format!(
        r#"let main = Process(#{{ name: "main", cmdline: "{cmdline}" }});
let t = Task(#{{ processes: [main], resources: Resources(#{{ cpu: 0.1, ram: 32 * MB, disk: 16 * MB }}) }});
let jobs = [ Service(#{{ cluster: "devcluster", role: "{role}", environment: "devel", name: "svc", task: t,
    health_check_config: HealthCheckConfig(#{{ initial_interval_secs: 1.0, interval_secs: 1.0,
        health_checker: HealthCheckerConfig(#{{ shell: ShellHealthChecker(#{{ shell_command: "test \"$(id -un)\" = {role}" }}) }}) }}) }}) ];
"#
    )
}

/// A one-off job of role `role` whose task asks for `user`; a finaliser records who ran it.
fn batch_as(role: &str, user: &str) -> String {
    format!(
        r#"let p = Process(#{{ name: "main", cmdline: "id -un > whoami" }});
let finish = Process(#{{ name: "finish", cmdline: "id -un > finaliser", final: true }});
let t = Task(#{{ processes: [p, finish], user: "{user}", resources: Resources(#{{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }}) }});
let jobs = [ Job(#{{ cluster: "devcluster", role: "{role}", environment: "devel", name: "batch", task: t }}) ];
"#
    )
}

/// Creates `job` from `text` and waits for its instance to run; returns the instance.
fn running(cluster: &Cluster, job: &str, text: &str) -> Value {
    let file = write_job(cluster, job.rsplit('/').next().unwrap_or("job"), text);
    let created = cluster.job(&["create", job, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    cluster.status(job)["instances"][0].clone()
}

/// A file a task wrote in its home, once it is there.
fn written(home: &Path, name: &str) -> String {
    let path = home.join(name);
    eventually(&format!("{} to be written", path.display()), Duration::from_secs(20), || {
        std::fs::read_to_string(&path).ok().filter(|text| text.ends_with('\n'))
    })
    .trim()
    .to_owned()
}

#[test]
fn tasks_run_as_their_users_apart_from_each_other() {
    if !nix::unistd::geteuid().is_root() {
        // Not root: the agent must refuse to switch users rather than run tasks as itself.
        let cluster = Cluster::start(10);
        let work = cluster.dir.path().join("switching");
        let mut agent = Daemon::start(
            "switching",
            cluster.dir.path(),
            &["agent", "--scheduler", &cluster.url, "--work-dir", work.to_str().unwrap(), "--no-isolation"],
        );
        assert!(!agent.wait(Duration::from_secs(10)).success());
        assert!(agent.log().contains("running tasks as their users needs root"), "{}", agent.log());
        return;
    }
    let _users = TestUsers::make();
    let cluster = Cluster::start_switching_users(10, &[]);

    // Alice's task: who it runs as, with which groups and environment, and a secret.
    let alice_job = "devcluster/atoll-t-alice/devel/svc";
    let alice = running(
        &cluster,
        alice_job,
        &service(
            ALICE,
            "id -un > whoami; id -Gn > groups; env > environment; echo secret > secret; chmod 644 secret; echo $$ > pid; exec sleep 600",
        ),
    );
    let root = PathBuf::from(alice["sandbox"].as_str().expect("a sandbox"));
    let home = root.join("sandbox");
    assert_eq!(written(&home, "whoami"), ALICE, "the health check passed as alice, and so did the process");
    let groups = written(&home, "groups");
    assert!(groups.split_whitespace().any(|g| g == SHARED), "supplementary groups are set: {groups}");
    let environment = written(&home, "environment");
    for expected in [format!("USER={ALICE}"), format!("LOGNAME={ALICE}"), format!("HOME={}", home.display())] {
        assert!(environment.lines().any(|line| line == expected), "{expected} in {environment}");
    }
    assert!(environment.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    assert!(!environment.contains("CARGO"), "nothing of the agent's environment: {environment}");
    let alice_uid = uid_of(ALICE);
    let metadata = std::fs::metadata(&home).expect("the task's home");
    assert_eq!((metadata.uid(), metadata.permissions().mode() & 0o777), (alice_uid, 0o700));
    let log = root.join(".logs/main/0/stderr");
    let metadata = std::fs::metadata(&log).expect("the process's log");
    assert_eq!((metadata.uid(), metadata.permissions().mode() & 0o777), (alice_uid, 0o600));
    assert_eq!(std::fs::metadata(root.join(".executor")).expect("executor dir").permissions().mode() & 0o777, 0o700);
    let alice_pid = written(&home, "pid");

    // Bob's task cannot read alice's files, list her logs or signal her processes, though her
    // secret itself is world-readable: her home is closed.
    let probes = format!(
        "cat {home}/secret > read 2>&1; echo $? >> read; cat {log} > log 2>&1; echo $? >> log; \
         ls {root}/.logs > list 2>&1; echo $? >> list; kill -0 {alice_pid} > signal 2>&1; echo $? >> signal; exec sleep 600",
        home = home.display(),
        log = log.display(),
        root = root.display(),
    );
    let bob = running(&cluster, "devcluster/atoll-t-bob/devel/svc", &service(BOB, &probes));
    let bob_home = PathBuf::from(bob["sandbox"].as_str().expect("a sandbox")).join("sandbox");
    for (probe, refusal) in [
        ("read", "Permission denied"),
        ("log", "Permission denied"),
        ("list", "Permission denied"),
        ("signal", "Operation not permitted"),
    ] {
        let result = written(&bob_home, probe);
        assert!(result.contains(refusal) && !result.ends_with("\n0") && result != "0", "{probe}: {result}");
    }

    let killed = cluster.job(&["killall", alice_job]);
    assert!(killed.status.success(), "{}", printed(&killed));

    // A task may name its user; its finaliser runs as that user too.
    let batch = write_job(&cluster, "batch", &batch_as(ALICE, BOB));
    let created = cluster.job(&["create", "devcluster/atoll-t-alice/devel/batch", &batch]);
    assert!(created.status.success(), "{}", printed(&created));
    let end = cluster.ended("devcluster/atoll-t-alice/devel/batch");
    assert_eq!(end["status"], "FINISHED", "{end}");
    let batch_home = PathBuf::from(end["sandbox"].as_str().expect("a sandbox")).join("sandbox");
    assert_eq!((written(&batch_home, "whoami"), written(&batch_home, "finaliser")), (BOB.into(), BOB.into()));
    let killed = cluster.job(&["killall", "devcluster/atoll-t-alice/devel/batch"]);
    assert!(killed.status.success(), "{}", printed(&killed));

    // A user the host does not have, and root, are refused, naming the user and the host.
    let ghost = write_job(&cluster, "ghost", &batch_as(BOB, "atoll-t-ghost"));
    let created = cluster.job(&["create", "devcluster/atoll-t-bob/devel/batch", &ghost]);
    assert!(created.status.success(), "{}", printed(&created));
    let end = cluster.ended("devcluster/atoll-t-bob/devel/batch");
    let message = end["message"].as_str().unwrap_or_default();
    assert_eq!(end["status"], "FAILED", "{end}");
    assert!(
        message.starts_with("user 'atoll-t-ghost' does not exist on host ") && message.contains("agent-"),
        "{message}"
    );
    let as_root = write_job(&cluster, "root", &batch_as(ALICE, "root"));
    let created = cluster.job(&["create", "devcluster/atoll-t-alice/devel/batch", &as_root]);
    assert!(created.status.success(), "{}", printed(&created));
    let end = eventually("the root task to fail", Duration::from_secs(60), || {
        let entry = cluster.status("devcluster/atoll-t-alice/devel/batch")["instances"][0].clone();
        (entry["status"] == "FAILED").then_some(entry)
    });
    let message = end["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("user 'root' is root (uid 0), and the agent on host agent-"), "{message}");
    assert!(message.ends_with("unless started with --allow-root"), "{message}");

    // An agent whose work directory the users could not reach refuses to start.
    let closed = cluster.dir.path().join("closed");
    std::fs::create_dir(&closed).expect("create");
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).expect("close");
    let work = closed.join("work");
    let mut refused = Daemon::start(
        "closed",
        cluster.dir.path(),
        &["agent", "--scheduler", &cluster.url, "--work-dir", work.to_str().unwrap(), "--no-isolation"],
    );
    assert!(!refused.wait(Duration::from_secs(10)).success());
    let expected = format!("the tasks' users cannot reach the work directory: {} is mode 0700", closed.display());
    assert!(refused.log().contains(&expected), "{}", refused.log());
    let _ = cluster.job(&["killall", "devcluster/atoll-t-bob/devel/svc"]);
}

//! Test harness for the end-to-end tests: builds the real `atoll` binary, starts schedulers and
//! agents as separate processes on loopback ports chosen at run time, runs client commands, and
//! cleans every process up when a test ends, passing or failing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod crash_loops;
pub mod framework_client;
pub mod soak;

pub use nix::sys::signal::Signal;
use nix::sys::signal::{kill, killpg};
use nix::unistd::Pid;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_owned()
}

static BINARY: OnceLock<PathBuf> = OnceLock::new();

/// Builds `atoll` once per test binary (debug unless [`use_release_binary`] came first) and
/// returns its path.
pub fn atoll_binary() -> &'static Path {
    BINARY.get_or_init(|| build_atoll(false))
}

/// Makes every daemon and client the harness starts the optimised build: for benchmarks.
pub fn use_release_binary() {
    let release = BINARY.get_or_init(|| build_atoll(true));
    assert!(release.ends_with("release/atoll"), "call use_release_binary before anything starts atoll");
}

/// Builds `atoll` (optimised when `release`) and returns its path.
pub fn build_atoll(release: bool) -> PathBuf {
    build_binary("atoll-cli", "atoll", release)
}

/// Builds binary `bin` of workspace package `package` (optimised when `release`), honouring
/// `CARGO_TARGET_DIR`, and returns its absolute path.
pub fn build_binary(package: &str, bin: &str, release: bool) -> PathBuf {
    let mut args = vec!["build", "--quiet", "-p", package, "--bin", bin];
    if release {
        args.push("--release");
    }
    let status =
        Command::new(env!("CARGO")).args(&args).current_dir(workspace_root()).status().expect("run cargo build");
    assert!(status.success(), "cargo build of {package} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let built = target.join(if release { "release" } else { "debug" }).join(bin);
    std::path::absolute(&built).unwrap_or(built)
}

/// Runs `command` to its end, its output read as it comes; one still running after `limit` is
/// killed and its output so far is the error.
pub fn output_within(command: &mut Command, limit: Duration) -> Result<Output, Output> {
    use std::io::Read;
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the command");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + limit;
    let (status, in_time) = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break (status, true);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break (child.wait().expect("reap the command"), false);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = Output {
        status,
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    };
    if in_time { Ok(output) } else { Err(output) }
}

/// Starts `atoll dev --agents AGENTS` from the binary `atoll` on a free loopback port, its data in
/// `dir/dev`, and waits until it serves; returns it and its scheduler's URL. For benchmarks.
pub fn start_dev(atoll: &Path, dir: &Path, agents: u32) -> (Daemon, String) {
    let (dev, url, _) = start_dev_serving_http(atoll, dir, agents);
    (dev, url)
}

/// [`start_dev`], and the loopback port its HTTP listener (the UI, metrics) is on.
pub fn start_dev_serving_http(atoll: &Path, dir: &Path, agents: u32) -> (Daemon, String, u16) {
    let port = free_port();
    let http_port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let grpc = format!("127.0.0.1:{port}");
    let http = format!("127.0.0.1:{http_port}");
    let data = dir.join("dev");
    let agents = agents.to_string();
    let args = [
        "dev",
        "--agents",
        &agents,
        "--grpc",
        &grpc,
        "--http",
        &http,
        "--data-dir",
        data.to_str().expect("utf-8 path"),
    ];
    let dev = Daemon::start_program(atoll, "dev", dir, &args);
    eventually("atoll dev to serve", Duration::from_secs(30), || {
        let listed = Command::new(atoll).args(["job", "list", "devcluster", "--scheduler", &url]).output().ok()?;
        listed.status.success().then_some(())
    });
    (dev, url, http_port)
}

/// Starts `PROGRAM scheduler --data-dir DATA --grpc 127.0.0.1:PORT EXTRA` (or on every
/// interface, with `everywhere`), logging to `DIR/NAME.log`, and waits until it listens on the
/// loopback port.
pub fn start_scheduler_on(
    program: &Path,
    name: &str,
    dir: &Path,
    data: &Path,
    port: u16,
    everywhere: bool,
    extra: &[&str],
) -> Daemon {
    let grpc = format!("{}:{port}", if everywhere { "0.0.0.0" } else { "127.0.0.1" });
    let args = ["scheduler", "--data-dir", path(data), "--grpc", &grpc];
    let scheduler = Daemon::start_program(program, name, dir, &[&args[..], extra].concat());
    eventually("the scheduler to listen", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    });
    scheduler
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A long-running `atoll` process, stopped with SIGTERM (then SIGKILL) when dropped.
pub struct Daemon {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `atoll ARGS`, logging to `DIR/NAME.log`.
    pub fn start(name: &str, dir: &Path, args: &[&str]) -> Daemon {
        Daemon::start_program(atoll_binary(), name, dir, args)
    }

    /// Starts `PROGRAM ARGS`, logging to `DIR/NAME.log`.
    pub fn start_program(program: &Path, name: &str, dir: &Path, args: &[&str]) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("create log");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone log"))
            .stderr(file)
            .spawn()
            .expect("start atoll");
        Daemon { name: name.to_owned(), child, log }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = kill(self.pid(), Signal::SIGTERM);
        self.wait(Duration::from_secs(30))
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        let _ = kill(self.pid(), signal);
    }

    /// Kills the process outright, as a crash would.
    pub fn crash(mut self) {
        let _ = kill(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// Whether the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for daemon") {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit; its log:\n{}", self.name, self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(self.pid(), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A CA and a certificate for 127.0.0.1 and localhost signed by it, made with openssl (P-256)
/// in `dir`: the paths of the CA certificate, the server certificate and its key.
pub fn test_certificates(dir: &Path) -> (String, String, String) {
    let ca = TestCa::new(dir);
    let (cert, key) = ca.issue("server", &["IP:127.0.0.1", "DNS:localhost"]);
    (ca.cert.clone(), cert, key)
}

/// A certificate authority made with openssl in a directory, for tests.
pub struct TestCa {
    dir: PathBuf,
    /// The CA certificate's path.
    pub cert: String,
    key: String,
}

impl TestCa {
    /// A fresh CA in `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let path = |name: &str| dir.join(name).display().to_string();
        let (cert, key) = (path("ca.pem"), path("ca.key"));
        openssl(
            &[
                &["req", "-x509"][..],
                &NEW_KEY,
                &["-days", "2", "-subj", "/CN=atoll test CA", "-keyout", &key, "-out", &cert],
            ]
            .concat(),
        );
        TestCa { dir: dir.to_owned(), cert, key }
    }

    /// A certificate named `name` for `names` (openssl's `subjectAltName` entries, such as
    /// `IP:127.0.0.1` or `DNS:agents`) signed by this CA: the paths of it and its key.
    pub fn issue(&self, name: &str, names: &[&str]) -> (String, String) {
        let path = |suffix: &str| self.dir.join(format!("{name}{suffix}")).display().to_string();
        let (key, request, cert, extensions) = (path(".key"), path(".csr"), path(".pem"), path(".ext"));
        openssl(
            &[&["req"][..], &NEW_KEY, &["-subj", &format!("/CN={name}"), "-keyout", &key, "-out", &request]].concat(),
        );
        std::fs::write(&extensions, format!("subjectAltName={}\n", names.join(","))).expect("write extensions");
        openssl(&[
            "x509",
            "-req",
            "-in",
            &request,
            "-CA",
            &self.cert,
            "-CAkey",
            &self.key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &extensions,
            "-out",
            &cert,
        ]);
        (cert, key)
    }
}

/// openssl's arguments for a new P-256 key without a passphrase.
const NEW_KEY: [&str; 5] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

fn openssl(args: &[&str]) {
    let output = Command::new("openssl").args(args).output().expect("run openssl");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// `GET PATH` from `127.0.0.1:PORT` over HTTP/1.0: the status code, the headers (lower-cased
/// names) and the body.
pub fn http_get(port: u16, path: &str) -> (u16, Vec<(String, String)>, String) {
    http_request(port, "GET", path, &[], None)
}

/// `METHOD PATH` with `headers` and a JSON `body` to `127.0.0.1:PORT` over HTTP/1.1, one request
/// per connection: the status code, the headers (lower-cased names) and the body (as long as
/// its Content-Length says, or to the end of the connection).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP listener");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("set a read timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    } else {
        request.push_str("\r\n");
    }
    stream.write_all(request.as_bytes()).expect("send the request");
    // Some servers (chromedriver) keep the connection open after the answer: read the head,
    // then as much body as it announces.
    let mut received = Vec::new();
    let mut buffer = [0_u8; 8192];
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut buffer).expect("read the response");
        assert!(read > 0, "the connection closed before the headers: {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).expect("a status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = received[head_end + 4..].to_vec();
    let length = headers.iter().find(|(name, _)| name == "content-length").and_then(|(_, v)| v.parse::<usize>().ok());
    loop {
        if length.is_some_and(|length| body.len() >= length) {
            break;
        }
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => body.extend_from_slice(&buffer[..read]),
            Err(error) => panic!("read the response body: {error}"),
        }
    }
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Runs a client command to completion.
pub fn atoll(args: &[&str]) -> Output {
    Command::new(atoll_binary()).args(args).stdin(Stdio::null()).output().expect("run atoll")
}

/// Runs a client command with `ATOLL_TOKEN` set to `token`.
pub fn atoll_as(token: &str, args: &[&str]) -> Output {
    Command::new(atoll_binary()).args(args).env("ATOLL_TOKEN", token).stdin(Stdio::null()).output().expect("run atoll")
}

/// The text a command printed, both streams, for assertion messages.
pub fn printed(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Polls `probe` until it returns Some, or panics with `what` after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether any process of group `pgid` still exists (zombies awaiting reaping count, so
/// callers poll this).
pub fn group_alive(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None).is_ok()
}

/// The status a sandbox's executor last reported: the last complete line of its
/// `.executor/status.jsonl`; `None` before the first or when the sandbox is unreadable.
pub fn executor_status(sandbox: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(sandbox.join(".executor/status.jsonl")).ok()?;
    let complete = &text[..text.rfind('\n')?];
    serde_json::from_str(complete.rsplit('\n').next()?).ok()
}

/// Kills whatever process groups a sandbox's status file lists, and its executor: cleanup
/// for tests that crash an agent and leave its tasks behind.
pub fn kill_sandbox_processes(sandbox: &Path) {
    let Some(status) = executor_status(sandbox) else { return };
    // The executor first, and only once it is gone its processes: like a host that died, and
    // unlike a task whose processes ended, which its executor would record.
    // Only a pid that is still this sandbox's executor: a stale one may be anyone's by now.
    let executor = status["executor_pid"].as_i64().filter(|&pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let sandbox = sandbox.as_os_str().as_encoded_bytes();
        cmdline.windows(sandbox.len()).any(|window| window == sandbox)
    });
    if let Some(pid) = executor {
        let pid = Pid::from_raw(pid as i32);
        let _ = kill(pid, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while kill(pid, None).is_ok() && !is_zombie(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for pgid in status["process_groups"].as_array().into_iter().flatten().filter_map(|g| g.as_i64()) {
        let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL);
    }
}

fn is_zombie(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// A scheduler with two agents, each a separate `atoll` process on loopback.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub port: u16,
    pub scheduler: Option<Daemon>,
    pub agents: Vec<Daemon>,
    /// Flags every agent of this cluster gets, e.g. `--zk HOST:PORT`.
    agent_flags: Vec<String>,
    /// Flags the scheduler gets.
    scheduler_flags: Vec<String>,
    /// Whether agents run each task as its user; without it they run every task as
    /// themselves (`--no-switch-user`), since most tests' roles are not users of this host.
    switch_users: bool,
    /// The HTTP port of each agent started with one (`--http`), by agent index.
    pub agent_http: std::collections::BTreeMap<u32, u16>,
}

impl Cluster {
    /// Starts a scheduler whose agents time out after `agent_timeout_secs`, and two agents.
    pub fn start(agent_timeout_secs: u64) -> Cluster {
        Cluster::start_with_agent_flags(agent_timeout_secs, &[])
    }

    /// Like [`Cluster::start`], with extra flags for every agent.
    pub fn start_with_agent_flags(agent_timeout_secs: u64, agent_flags: &[&str]) -> Cluster {
        Cluster::start_with_flags(agent_timeout_secs, &[], agent_flags)
    }

    /// Like [`Cluster::start`], with extra flags for the scheduler and for every agent.
    pub fn start_with_flags(agent_timeout_secs: u64, scheduler_flags: &[&str], agent_flags: &[&str]) -> Cluster {
        Cluster::start_cluster(agent_timeout_secs, scheduler_flags, agent_flags, false)
    }

    /// Like [`Cluster::start`], with the scheduler serving HTTP on a port of its own (returned)
    /// and each agent too (in [`Cluster::agent_http`]).
    pub fn start_serving_http(agent_timeout_secs: u64) -> (Cluster, u16) {
        let http = free_port();
        let flag = format!("127.0.0.1:{http}");
        let cluster = Cluster::start_cluster_with(agent_timeout_secs, &["--http", &flag], &[], false, true);
        (cluster, http)
    }

    /// Like [`Cluster::start_with_agent_flags`], with agents that run each task as its user
    /// (root only), in a directory the tasks' users can pass through.
    pub fn start_switching_users(agent_timeout_secs: u64, agent_flags: &[&str]) -> Cluster {
        Cluster::start_cluster(agent_timeout_secs, &[], agent_flags, true)
    }

    fn start_cluster(
        agent_timeout_secs: u64,
        scheduler_flags: &[&str],
        agent_flags: &[&str],
        switch_users: bool,
    ) -> Cluster {
        Cluster::start_cluster_with(agent_timeout_secs, scheduler_flags, agent_flags, switch_users, false)
    }

    fn start_cluster_with(
        agent_timeout_secs: u64,
        scheduler_flags: &[&str],
        agent_flags: &[&str],
        switch_users: bool,
        serve_agent_http: bool,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        if switch_users {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("open the cluster dir");
        }
        let port = free_port();
        // A scheduler serving TLS is reached over https.
        let scheme = if scheduler_flags.contains(&"--tls-cert") { "https" } else { "http" };
        let mut cluster = Cluster {
            url: format!("{scheme}://127.0.0.1:{port}"),
            port,
            dir,
            scheduler: None,
            agents: Vec::new(),
            agent_flags: agent_flags.iter().map(|f| (*f).to_owned()).collect(),
            scheduler_flags: scheduler_flags.iter().map(|f| (*f).to_owned()).collect(),
            switch_users,
            agent_http: std::collections::BTreeMap::new(),
        };
        cluster.start_scheduler(agent_timeout_secs);
        for index in [1, 2] {
            if serve_agent_http {
                cluster.agent_http.insert(index, free_port());
            }
            let agent = cluster.start_agent(index);
            cluster.agents.push(agent);
        }
        cluster
    }

    /// Kills agent `name` with SIGKILL, as a crash would; its tasks' executors keep running.
    pub fn crash_agent(&mut self, name: &str) {
        let index = self.agents.iter().position(|a| a.name == name).expect("a running agent of that name");
        self.agents.remove(index).crash();
    }

    /// Starts agent `agent-INDEX` again, on the same work directory.
    pub fn restart_agent(&mut self, index: u32) {
        let agent = self.start_agent(index);
        self.agents.push(agent);
    }

    pub fn start_scheduler(&mut self, agent_timeout_secs: u64) {
        let data = self.dir.path().join("scheduler");
        let grpc = format!("127.0.0.1:{}", self.port);
        let timeout = agent_timeout_secs.to_string();
        let args = ["scheduler", "--data-dir", path(&data), "--grpc", &grpc, "--cluster", "devcluster"];
        let extra: Vec<&str> = self.scheduler_flags.iter().map(String::as_str).collect();
        let scheduler = Daemon::start(
            "scheduler",
            self.dir.path(),
            &[&args[..], &["--agent-timeout-secs", &timeout], &extra].concat(),
        );
        // Serving once it listens: it opens its store first, then binds, then serves at once,
        // whatever credentials or TLS its callers need.
        eventually("the scheduler to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(&grpc).ok().map(|_| ())
        });
        self.scheduler = Some(scheduler);
    }

    fn start_agent(&self, index: u32) -> Daemon {
        let work = self.dir.path().join(format!("agent-{index}"));
        let hostname = format!("agent-{index}");
        // Each cluster its own port ranges (below the kernel's ephemeral ports, from the
        // scheduler's port), so tasks of clusters run at once by concurrent tests never collide.
        let first_port = 10_000 + u32::from(self.port % 1000) * 20 + 10 * index;
        let resources = format!("cpus:1;mem:512;disk:512;ports:[{first_port}-{}]", first_port + 9);
        let attributes = format!("host:{hostname};rack:r{index}");
        // Each start of an agent logs to its own file, so a restarted agent's log is its own.
        let log_name = format!(
            "{hostname}-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        );
        let parent = self.cgroup_parent();
        let mut args: Vec<&str> = vec![
            "agent",
            "--scheduler",
            &self.url,
            "--work-dir",
            path(&work),
            "--hostname",
            &hostname,
            "--resources",
            &resources,
            "--attributes",
            &attributes,
            "--on-exit",
            "kill",
            "--cgroup-parent",
            &parent,
            "--disk-check-interval-secs",
            "1",
        ];
        if !self.switch_users {
            args.push("--no-switch-user");
        }
        let http = self.agent_http.get(&index).map(|port| format!("127.0.0.1:{port}"));
        if let Some(http) = &http {
            args.extend(["--http", http.as_str()]);
        }
        args.extend(self.agent_flags.iter().map(String::as_str));
        let mut daemon = Daemon::start(&log_name, self.dir.path(), &args);
        daemon.name = hostname;
        daemon
    }

    /// Starts one more agent, `hostname`, on `work`, offering `resources`, running tasks as
    /// itself and without cgroups, with `extra` flags; its log is `NAME.log` in the cluster's
    /// directory. For tests of agents the cluster's own two are not.
    pub fn start_extra_agent(&self, hostname: &str, work: &Path, resources: &str, extra: &[&str]) -> Daemon {
        let work = path(work);
        let attributes = format!("host:{hostname}");
        let args = [
            "agent",
            "--scheduler",
            &self.url,
            "--work-dir",
            work,
            "--hostname",
            hostname,
            "--attributes",
            &attributes,
            "--resources",
            resources,
            "--no-switch-user",
            "--no-isolation",
        ];
        let mut daemon = Daemon::start(hostname, self.dir.path(), &[&args[..], extra].concat());
        daemon.name = hostname.to_owned();
        daemon
    }

    /// Every sandbox in this cluster's agents' work directories.
    pub fn sandboxes(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else { return Vec::new() };
        let work_dirs = entries.flatten().map(|e| e.path()).filter(|p| p.join("sandboxes").is_dir());
        work_dirs
            .flat_map(|work| {
                std::fs::read_dir(work.join("sandboxes")).into_iter().flatten().flatten().map(|e| e.path())
            })
            .collect()
    }

    /// The cgroup this cluster's tasks live under: one per cluster, so concurrent test clusters
    /// never share a task group.
    pub fn cgroup_parent(&self) -> String {
        format!("atoll-test-{}", self.port)
    }

    /// Writes a job file for `devcluster/www-data/prod/web`: a service of `instances` instances,
    /// each serving on its `http` port, with a default `Announcer`; returns its path.
    pub fn announced_job(&self, instances: u32) -> String {
        let file = self.dir.path().join("web.rhai");
        std::fs::write(
            &file,
            format!(
                r#"let web = Process(#{{ name: "web", cmdline: "echo serving on {{{{thermos.ports[http]}}}}; exec sleep 600" }});
let t = SequentialTask(#{{ processes: [web], resources: Resources(#{{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }}) }});
let jobs = [ Service(#{{ cluster: "devcluster", role: "www-data", environment: "prod", name: "web", instances: {instances}, task: t, announce: Announcer(#{{}}) }}) ];
"#
            ),
        )
        .expect("write job file");
        file.display().to_string()
    }

    /// Writes a job file for `devcluster/www-data/devel/hello`: one instance of a service that
    /// sleeps; returns its path.
    pub fn sleeping_service(&self) -> String {
        let file = self.dir.path().join("hello.rhai");
        std::fs::write(
            &file,
            r#"let p = Process(#{ name: "hello", cmdline: "exec sleep 600" });
let t = SequentialTask(#{ processes: [p], resources: Resources(#{ cpu: 0.1, ram: 16 * MB, disk: 16 * MB }) });
let jobs = [ Service(#{ cluster: "devcluster", role: "www-data", environment: "devel", name: "hello", task: t }) ];
"#,
        )
        .expect("write job file");
        file.display().to_string()
    }

    /// Runs `atoll job ARGS --scheduler URL`.
    pub fn job(&self, args: &[&str]) -> Output {
        atoll(&[&["job"], args, &["--scheduler", &self.url]].concat())
    }

    /// Runs `atoll update ARGS --scheduler URL`.
    pub fn update(&self, args: &[&str]) -> Output {
        atoll(&[&["update"], args, &["--scheduler", &self.url]].concat())
    }

    /// Instance 0 of `job` once it has ended (FAILED, FINISHED, KILLED or LOST), from
    /// `job status --json`.
    pub fn ended(&self, job: &str) -> serde_json::Value {
        eventually("the task to end", Duration::from_secs(60), || {
            let entry = self.status(job)["instances"][0].clone();
            ["FAILED", "FINISHED", "KILLED", "LOST"]
                .contains(&entry["status"].as_str().unwrap_or_default())
                .then_some(entry)
        })
    }

    /// `job status --json`, parsed.
    pub fn status(&self, job: &str) -> serde_json::Value {
        let output = self.job(&["status", job, "--json"]);
        assert!(output.status.success(), "job status failed: {}", printed(&output));
        serde_json::from_slice(&output.stdout).expect("job status --json prints JSON")
    }
}

impl Drop for Cluster {
    /// Stops the agents (which kill their tasks), then kills whatever executors and tasks are
    /// left in their work directories (those of a crashed agent, or of a test that failed before
    /// it cleaned up), then removes the cluster's (by then empty) cgroup parents.
    fn drop(&mut self) {
        self.agents.clear();
        for sandbox in self.sandboxes() {
            kill_sandbox_processes(&sandbox);
        }
        let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else { return };
        for controller in controllers.flatten() {
            let _ = std::fs::remove_dir(controller.path().join(self.cgroup_parent()));
        }
    }
}

/// A ZooKeeper server (Debian's `zookeeper` package) on a free loopback port, for tests.
pub struct ZooKeeper {
    pub port: u16,
    dir: PathBuf,
    server: Option<Daemon>,
}

/// Where Debian's package puts the server.
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

impl ZooKeeper {
    /// Starts a standalone server with its data in `dir`, and waits until it serves.
    pub fn start(dir: &Path) -> ZooKeeper {
        assert!(
            Path::new(ZOOKEEPER_JAR).exists(),
            "{ZOOKEEPER_JAR} is missing: install ZooKeeper with `apt-get install zookeeper` (.ci/run does)"
        );
        let mut zookeeper = ZooKeeper { port: free_port(), dir: dir.to_owned(), server: None };
        zookeeper.run();
        zookeeper
    }

    /// `127.0.0.1:PORT`, for `--zk`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn run(&mut self) {
        let config = self.dir.join("zoo.cfg");
        let data = self.dir.join("zookeeper-data");
        std::fs::create_dir_all(&data).expect("create ZooKeeper data dir");
        let text = format!(
            "tickTime=1000\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=*\nmaxSessionTimeout=60000\n",
            data.display(),
            self.port
        );
        std::fs::write(&config, text).expect("write zoo.cfg");
        let server = Daemon::start_program(
            Path::new("java"),
            "zookeeper",
            &self.dir,
            &["-Xmx256m", "-cp", ZOOKEEPER_JAR, "org.apache.zookeeper.server.quorum.QuorumPeerMain", path(&config)],
        );
        let port = self.port;
        eventually("ZooKeeper to serve", Duration::from_secs(30), || {
            use std::io::{Read, Write};
            let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
            // A server still starting may accept and say nothing: never wait on it for ever.
            stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
            stream.write_all(b"srvr").ok()?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).ok()?;
            answer.contains("Mode:").then_some(())
        });
        self.server = Some(server);
    }

    /// Stops the server (sessions cannot be kept alive while it is down) and starts it again
    /// after `down`.
    pub fn restart_after(&mut self, down: Duration) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        std::thread::sleep(down);
        self.run();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`; `bash
/// .ci/run` installs them), for tests of what a person sees in the web UI.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) is needed; bash .ci/run installs it");
        eventually("chromedriver to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
        let profile = tempfile::tempdir().expect("a profile directory");
        // Without the network flags Chromium keeps trying hosts this machine cannot reach.
        let args = serde_json::json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            format!("--user-data-dir={}", profile.path().display()),
        ]);
        let capabilities = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let (status, _, body) = http_request(port, "POST", "/session", &[], Some(&capabilities.to_string()));
        assert_eq!(status, 200, "a WebDriver session: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON from chromedriver");
        let session = answer["value"]["sessionId"].as_str().expect("a session id").to_owned();
        Browser { driver, port, session, _profile: profile }
    }

    fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let path = format!("/session/{}{path}", self.session);
        let body = body.map(|b| b.to_string());
        let (status, _, text) = http_request(self.port, method, &path, &[], body.as_deref());
        assert_eq!(status, 200, "{method} {path}: {text}");
        serde_json::from_str::<serde_json::Value>(&text).expect("JSON from chromedriver")["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub fn open(&self, url: &str) {
        self.call("POST", "/url", Some(serde_json::json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page; its return value.
    pub fn script(&self, script: &str) -> serde_json::Value {
        self.call("POST", "/execute/sync", Some(serde_json::json!({ "script": script, "args": [] })))
    }

    /// The text a person sees on the page.
    pub fn text(&self) -> String {
        self.script("return document.body.innerText").as_str().unwrap_or_default().to_owned()
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let encoded = self.call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD.decode(encoded.as_str().expect("base64")).expect("a PNG")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http_request(self.port, "DELETE", &format!("/session/{}", self.session), &[], None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

//! Benchmark: announcement latency with real ZooKeeper, from a task's process starting to its
//! member being visible to a watcher (issue 6's target: under 100 ms).
//!
//! A release scheduler and two agents run with `--zk`; a watcher (the `atoll-zookeeper` crate, a
//! ZooKeeper persistent recursive watch) follows the job's ServerSet on a thread of its own, so
//! it reads every change as it happens. For each of N one-instance jobs, the task's process
//! writes its own start time (`date +%s.%N`) before anything else; the watcher notes when the
//! member appears. Latency = appearance - process start, both on this machine's clock; a member
//! visible before the process's first command ran counts as 0. (The task gets half a core, so
//! its first command is not held back by a CPU quota; the executor is outside the task's
//! cgroups either way.)
//!
//! Run: `cargo bench -p atoll-tests --bench announce_latency` (N=15; set ATOLL_BENCH_JOBS).

use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atoll_tests::{Cluster, ZooKeeper, eventually, printed, use_release_binary};
use atoll_zookeeper::Resolver;

fn main() {
    let jobs: usize = std::env::var("ATOLL_BENCH_JOBS").ok().and_then(|n| n.parse().ok()).unwrap_or(15);
    use_release_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let zookeeper = ZooKeeper::start(dir.path());
    let address = zookeeper.address();
    let cluster = Cluster::start_with_agent_flags(30, &["--zk", &address]);
    let watcher = watch_in_background(address);
    let mut samples = Vec::new();
    let mut early = 0;
    for n in 0..jobs {
        let name = format!("latency-{n}");
        let key = format!("devcluster/bench/prod/{name}");
        let path = format!("/aurora/bench/prod/{name}");
        let file = cluster.dir.path().join(format!("{name}.rhai"));
        std::fs::write(
            &file,
            format!(
                r#"let p = Process(#{{ name: "serve", cmdline: "date +%s.%N > started; echo {{{{thermos.ports[http]}}}}; exec sleep 600" }});
let t = SequentialTask(#{{ processes: [p], resources: Resources(#{{ cpu: 0.5, ram: 16 * MB, disk: 16 * MB }}) }});
let jobs = [ Service(#{{ cluster: "devcluster", role: "bench", environment: "prod", name: "{name}", task: t, announce: Announcer(#{{}}) }}) ];
"#
            ),
        )
        .expect("write job file");
        watcher.paths.send(path).expect("the watcher runs");
        watcher.ready.recv().expect("the watcher follows the path");
        let created = cluster.job(&["create", &key, file.to_str().unwrap()]);
        assert!(created.status.success(), "{}", printed(&created));
        let appeared = watcher.appeared.recv_timeout(Duration::from_secs(30)).expect("the member appears");
        let sandbox = eventually("the task's sandbox", Duration::from_secs(10), || {
            cluster.status(&key)["instances"][0]["sandbox"].as_str().map(std::path::PathBuf::from)
        });
        // The member can be visible before the shell has written its first line: the executor
        // announces as soon as it has started the process.
        let started: f64 = eventually("the process's start time", Duration::from_secs(10), || {
            std::fs::read_to_string(sandbox.join("started")).ok()?.trim().parse().ok()
        });
        early += usize::from(appeared < started);
        samples.push(Duration::from_secs_f64((appeared - started).max(0.0)));
        let _ = cluster.job(&["killall", &key]);
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "announce_latency: {} tasks, process start to member visible: min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        samples.len(),
        ms(samples[0]),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(samples[samples.len() - 1])
    );
    println!(
        "announce_latency: {early} of {} members were visible before the process's first command ran",
        samples.len()
    );
}

/// The watcher thread's ends of its channels: paths to follow in, readiness and appearance
/// times (seconds since the epoch) out.
struct Watcher {
    paths: mpsc::Sender<String>,
    ready: mpsc::Receiver<()>,
    appeared: mpsc::Receiver<f64>,
}

/// Follows each path sent, one at a time: says when the watch is set (and the path has no
/// member), then sends the time its first ALIVE member became visible.
fn watch_in_background(address: String) -> Watcher {
    let (paths, path_receiver) = mpsc::channel::<String>();
    let (ready_sender, ready) = mpsc::channel();
    let (appeared_sender, appeared) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let resolver = runtime.block_on(Resolver::connect(&address)).expect("connect the watcher");
        for path in path_receiver {
            runtime.block_on(async {
                let mut watch = resolver.watch(&path, None).await.expect("watch");
                assert!(watch.next().await.expect("read").is_empty(), "no member before the job exists");
                ready_sender.send(()).expect("the bench waits");
                loop {
                    if !watch.next().await.expect("read").is_empty() {
                        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs_f64();
                        appeared_sender.send(now).expect("the bench waits");
                        return;
                    }
                }
            });
        }
    });
    Watcher { paths, ready, appeared }
}

//! Frameworks through the real binary, speaking the gRPC framework API as any framework would:
//! two frameworks that each want the whole cluster converge to their roles' weighted shares
//! while an Aurora job keeps running and no agent is ever promised twice; a framework that
//! fails over gets its tasks and its unacknowledged updates back, one past its failover timeout
//! loses them; and wrong calls are refused with words that say why, touching nobody else.

use std::time::{Duration, Instant};

use atoll_proto::v1;
use atoll_proto::v1::framework_event::Event;
use atoll_proto::v1::framework_service_client::FrameworkServiceClient;
use atoll_tests::framework_client::{TestFramework as Framework, framework_task as task, frameworks, instance_of};
use atoll_tests::{Cluster, eventually, printed};

const HELLO: &str = "devcluster/www-data/devel/hello";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime")
}

/// A framework that wants everything: every offer is filled with as many tasks of 0.1 cpu and
/// 16 MB as fit, each sleeping a second or two, and every update is acknowledged.
async fn greedy(mut framework: Framework, until: Instant) {
    let mut launched = 0u32;
    while Instant::now() < until {
        let Ok(Ok(Some(event))) = tokio::time::timeout(Duration::from_secs(1), framework.events.message()).await else {
            continue;
        };
        match event.event {
            Some(Event::Offers(offers)) => {
                for offer in &offers.offers {
                    let r = offer.resources.unwrap_or_default();
                    let fit = ((r.cpu + 1e-9) / 0.1).floor().min((r.ram_mb / 16).min(r.disk_mb / 16) as f64) as u32;
                    let tasks: Vec<v1::TaskInfo> = (0..fit)
                        .map(|n| {
                            let seconds = 1.0 + f64::from((launched + n) % 3) * 0.5;
                            task(&format!("t{}", launched + n), 0.1, 16, &format!("sleep {seconds}"))
                        })
                        .collect();
                    launched += fit;
                    if let Err(refused) = framework.accept(&[offer], tasks).await {
                        // Rescinded meanwhile: the next offer serves.
                        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
                    }
                }
            }
            Some(Event::Update(update)) if !update.uuid.is_empty() => framework.acknowledge(&update).await,
            _ => {}
        }
    }
}

#[test]
fn two_greedy_frameworks_converge_to_their_weighted_shares_while_aurora_jobs_keep_running() {
    let cluster = Cluster::start_with_flags(10, &["--role-weight", "heavy=2"], &[]);
    let file = cluster.sleeping_service();
    let created = cluster.job(&["create", HELLO, &file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));
    let hello_task = cluster.status(HELLO)["instances"][0]["task_id"].as_str().expect("a task id").to_owned();
    let runtime = runtime();
    let url = cluster.url.clone();
    let samples = runtime.block_on(async move {
        let heavy = Framework::subscribe(&url, "heavy", "heavy", None, None).await.expect("heavy subscribes");
        let light = Framework::subscribe(&url, "light", "light", None, None).await.expect("light subscribes");
        let until = Instant::now() + Duration::from_secs(40);
        let workers = [tokio::spawn(greedy(heavy, until)), tokio::spawn(greedy(light, until))];
        // Sampled after a warm-up, every half second.
        tokio::time::sleep(Duration::from_secs(12)).await;
        let mut samples = Vec::new();
        while Instant::now() + Duration::from_secs(2) < until {
            samples.push(frameworks(&url).await);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        for worker in workers {
            worker.await.expect("a framework ran");
        }
        samples
    });
    let cpu = |sample: &[v1::FrameworkSummary], name: &str| {
        let found = sample.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{name} listed: {sample:?}"));
        found.allocated.unwrap_or_default().cpu
    };
    let (mut heavy, mut light) = (0.0, 0.0);
    for sample in &samples {
        // Never more promised than the two agents' 2 cpus: tasks and offers of everyone.
        let promised: f64 =
            sample.iter().map(|f| f.allocated.unwrap_or_default().cpu + f.offered.unwrap_or_default().cpu).sum();
        assert!(promised <= 2.0 + 1e-6, "more than the cluster promised: {promised} in {sample:?}");
        heavy += cpu(sample, "heavy");
        light += cpu(sample, "light");
    }
    assert!(samples.len() >= 20, "sampled {} times", samples.len());
    let ratio = heavy / light;
    println!("heavy {heavy:.1} light {light:.1} cpu-samples, ratio {ratio:.2} over {} samples", samples.len());
    assert!((1.5..=2.7).contains(&ratio), "heavy (weight 2) ran {ratio:.2} times what light (weight 1) ran");
    // The Aurora job ran on, the same task throughout.
    let status = cluster.status(HELLO);
    assert_eq!(status["instances"][0]["task_id"], hello_task.as_str(), "{status}");
    assert_eq!(status["instances"][0]["status"], "RUNNING", "{status}");
}

#[test]
fn a_framework_that_fails_over_gets_its_tasks_and_unacknowledged_updates_back() {
    let cluster = Cluster::start(10);
    let url = cluster.url.clone();
    let runtime = runtime();
    runtime.block_on(async move {
        let mut first = Framework::subscribe(&url, "keeper", "www-data", Some(120.0), None).await.expect("subscribes");
        let offers = first.offers().await;
        let command = "echo keeper is up; exec sleep 600";
        let ids = first.accept(&[&offers[0]], vec![task("long", 0.1, 16, command)]).await.expect("accepted");
        assert!(ids[0].starts_with("www-data-framework-keeper-"), "{ids:?}");
        first.update("long", v1::TaskState::Assigned, true).await;
        // RUNNING is seen but not acknowledged: it must come again.
        let running = first.update("long", v1::TaskState::Running, false).await;
        let id = first.id.clone();
        operators_see_it(&url, &id, &running);
        let old = (first.client.clone(), first.call());
        drop(first);
        eventually("the framework to be disconnected", Duration::from_secs(20), || {
            let listed = std::thread::scope(|s| s.spawn(|| runtime_blocking(frameworks(&url))).join().expect("listed"));
            listed.iter().find(|f| f.id == id).filter(|f| !f.connected && f.active_tasks == 1).map(|_| ())
        });
        let mut again =
            Framework::subscribe(&url, "keeper", "www-data", Some(120.0), Some(&id)).await.expect("resubscribes");
        assert_eq!(again.id, id);
        let redelivered = again.update("long", v1::TaskState::Running, true).await;
        assert_eq!(redelivered.uuid, running.uuid, "the same update, again");
        // The old subscription may no longer call.
        let (mut old_client, old_call) = old;
        let stale = old_client.revive(old_call.expect("a call")).await.expect_err("a replaced subscription is refused");
        assert_eq!(stale.code(), tonic::Code::FailedPrecondition);
        assert!(stale.message().contains("subscribed again"), "{}", stale.message());
        // Reconciliation answers with the latest state, needing no acknowledgement.
        let request = v1::ReconcileRequest { call: again.call(), task_ids: vec!["long".into(), "never".into()] };
        again.client.reconcile(request).await.expect("reconciled");
        let answer = again.update("long", v1::TaskState::Running, false).await;
        assert!(answer.uuid.is_empty(), "{answer:?}");
        let unknown = again.update("never", v1::TaskState::Lost, false).await;
        assert!(unknown.message.contains("knows no such task"), "{unknown:?}");
        // Killed by the framework, its end comes as an update.
        let kill = v1::FrameworkKillRequest { call: again.call(), task_id: "long".into() };
        again.client.kill(kill).await.expect("killed");
        again.update("long", v1::TaskState::Killed, true).await;
        let teardown = v1::TeardownRequest { call: again.call() };
        again.client.teardown(teardown).await.expect("torn down");
        let last = again
            .next_where("its end", Duration::from_secs(10), |e| match e {
                Event::Error(e) => Some(e.message.clone()),
                _ => None,
            })
            .await;
        assert!(last.contains("Torn down"), "{last}");
        assert!(frameworks(&url).await.iter().all(|f| f.id != id), "forgotten once torn down");

        // An operator tears one down: it hears who did, and is gone.
        let mut doomed = Framework::subscribe(&url, "doomed", "www-data", None, None).await.expect("subscribes");
        let doomed_id = doomed.id.clone();
        let torn = tokio::task::spawn_blocking({
            let url = url.clone();
            move || atoll_tests::atoll(&["framework", "teardown", &doomed_id, "--scheduler", &url])
        })
        .await
        .expect("ran");
        assert!(torn.status.success(), "{}", printed(&torn));
        let words = doomed
            .next_where("its end", Duration::from_secs(10), |e| match e {
                Event::Error(e) => Some(e.message.clone()),
                _ => None,
            })
            .await;
        assert!(words.contains("Torn down by local"), "{words}");

        // One that stays away past its failover timeout loses its tasks.
        let mut brief = Framework::subscribe(&url, "brief", "www-data", Some(2.0), None).await.expect("subscribes");
        let offers = brief.offers().await;
        brief.accept(&[&offers[0]], vec![task("short-lived", 0.1, 16, "exec sleep 600")]).await.expect("accepted");
        brief.update("short-lived", v1::TaskState::Running, true).await;
        let brief_id = brief.id.clone();
        drop(brief);
        let mut client = FrameworkServiceClient::connect(url.clone()).await.expect("connect");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let get = client.get_framework(v1::GetFrameworkRequest { framework_id: brief_id.clone() }).await;
            match get {
                Err(gone) => {
                    assert_eq!(gone.code(), tonic::Code::NotFound);
                    assert!(gone.message().contains("failover timeout"), "{}", gone.message());
                    break;
                }
                Ok(_) => assert!(Instant::now() < deadline, "still known past its 2 s failover timeout"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    eventually("the task of the framework that never came back to end", Duration::from_secs(20), || {
        let statuses: Vec<_> = cluster.sandboxes().iter().filter_map(|s| atoll_tests::executor_status(s)).collect();
        let killed = statuses.iter().filter(|s| s["state"] == "KILLED").count();
        (killed == 2).then_some(())
    });
}

/// What an operator sees of framework `id`, whose task `long` runs (`running` its update):
/// `atoll framework list` and `show`, and the task's output through `atoll task logs`.
fn operators_see_it(url: &str, id: &str, running: &v1::TaskUpdate) {
    let cli = |args: &[&str]| {
        let output = atoll_tests::atoll(&[args, &["--scheduler", url]].concat());
        assert!(output.status.success(), "atoll {args:?}: {}", printed(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let listed: serde_json::Value = serde_json::from_str(&cli(&["framework", "list", "--json"])).expect("JSON");
    assert_eq!(listed[0]["id"], "atoll-jobs", "the built-in framework first: {listed}");
    let keeper = listed.as_array().unwrap().iter().find(|f| f["id"] == id).expect("listed");
    assert_eq!((keeper["role"].as_str(), keeper["active_tasks"].as_u64()), (Some("www-data"), Some(1)), "{keeper}");
    assert!((keeper["allocated"]["cpu"].as_f64().unwrap() - 0.1).abs() < 1e-9, "{keeper}");
    let table = cli(&["framework", "list"]);
    assert!(table.lines().next().unwrap().starts_with("FRAMEWORK") && table.contains(id), "{table}");
    let shown = cli(&["framework", "show", id]);
    let logs_hint = format!("atoll task logs devcluster/www-data/framework/{id}/INSTANCE");
    assert!(shown.contains("long") && shown.contains("RUNNING") && shown.contains(&logs_hint), "{shown}");
    let instance = instance_of(running);
    eventually("the task's output through atoll task logs", Duration::from_secs(20), || {
        let output = atoll_tests::atoll(&["task", "logs", &instance, "--scheduler", url]);
        String::from_utf8_lossy(&output.stdout).contains("keeper is up").then_some(())
    });
    let unknown = atoll_tests::atoll(&["framework", "show", "nobody-1", "--scheduler", url]);
    assert!(!unknown.status.success());
    assert!(printed(&unknown).contains("no framework nobody-1 is known"), "{}", printed(&unknown));
}

/// Runs `future` on a runtime of its own, from a thread outside any runtime.
fn runtime_blocking<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(future)
}

#[test]
fn wrong_calls_are_refused_in_words_and_touch_no_other_framework() {
    let mut cluster = Cluster::start_with_flags(5, &["--offer-timeout-secs", "4"], &[]);
    let url = cluster.url.clone();
    let file = cluster.sleeping_service();
    let runtime = runtime();
    let (url2, file2) = (url.clone(), file.clone());
    let mut mine = runtime.block_on(async move {
        let mut mine = Framework::subscribe(&url2, "mine", "www-data", None, None).await.expect("subscribes");
        let mut other = Framework::subscribe(&url2, "other", "www-data", None, None).await.expect("subscribes");
        let offers = mine.offers().await;
        let offer = &offers[0];
        let code_and_words = |result: Result<Vec<String>, tonic::Status>| {
            let refused = result.expect_err("refused");
            (refused.code(), refused.message().to_owned())
        };
        // Someone else's offer.
        let stolen = code_and_words(other.accept(&[offer], vec![task("x", 0.1, 16, "true")]).await);
        assert_eq!(stolen.0, tonic::Code::FailedPrecondition);
        assert!(stolen.1.contains("was not made to framework"), "{}", stolen.1);
        // More than it holds.
        let greedy = code_and_words(mine.accept(&[offer], vec![task("x", 64.0, 16, "true")]).await);
        assert!(greedy.1.contains("ask for") && greedy.1.contains("offers hold"), "{}", greedy.1);
        // Bad tasks, every problem named.
        let mut both = task("bad/id", 0.1, 16, "true");
        both.executor_command = "my-executor".into();
        let bad = code_and_words(mine.accept(&[offer], vec![both, task("none", 0.1, 16, "")]).await);
        assert_eq!(bad.0, tonic::Code::InvalidArgument);
        for words in ["contains '/'", "gives both a command and an executor_command", "none has no command"] {
            assert!(bad.1.contains(words), "{words}: {}", bad.1);
        }
        let mut ported = task("ported", 0.1, 16, "true");
        ported.ports.insert("http".into(), 1);
        let port = code_and_words(mine.accept(&[offer], vec![ported]).await);
        assert!(port.1.contains("port 1 is not among the offers' ports"), "{}", port.1);
        // A flood of wrong calls from the other changes nothing for this one.
        for _ in 0..300 {
            let _ = other.accept(&[offer], vec![task("x", 0.1, 16, "true")]).await;
        }
        let ids = mine.accept(&[offer], vec![task("good", 0.1, 16, "exec sleep 600")]).await.expect("accepted");
        assert_eq!(ids.len(), 1);
        mine.update("good", v1::TaskState::Running, true).await;
        // Used once, an offer is gone.
        let twice = code_and_words(mine.accept(&[offer], vec![task("again", 0.1, 16, "true")]).await);
        assert!(twice.1.contains("is not outstanding"), "{}", twice.1);
        let unknown = mine
            .client
            .decline(v1::DeclineRequest { call: mine.call(), offer_ids: vec!["nope".into()], refuse_seconds: None })
            .await;
        assert!(unknown.expect_err("unknown").message().contains("offer nope is not outstanding"));
        let message = v1::FrameworkMessageRequest { call: mine.call(), task_id: "good".into(), data: b"hi".to_vec() };
        let refused = mine.client.message(message).await.expect_err("no custom executor to message");
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
        assert!(refused.message().contains("runs no custom executor"), "{}", refused.message());
        let wrong = Framework::subscribe(&url2, "mine", "www-data", None, Some("no-such-framework")).await;
        assert_eq!(wrong.err().map(|e| e.code()), Some(tonic::Code::NotFound));
        let teardown_builtin = mine
            .client
            .teardown(v1::TeardownRequest {
                call: Some(v1::FrameworkCall { framework_id: "atoll-jobs".into(), stream_id: String::new() }),
            })
            .await
            .expect_err("the built-in framework stays");
        assert!(teardown_builtin.message().contains("Atoll's own job scheduler"), "{}", teardown_builtin.message());

        // The other framework holds offers and does nothing with them: the Aurora job placed
        // meanwhile waits, since placement never takes what is offered to someone else, and
        // runs once the offers time out (4 s) and are rescinded.
        let held = other.offers().await;
        assert!(!held.is_empty());
        let created = std::process::Command::new(atoll_tests::atoll_binary())
            .args(["job", "create", HELLO, &file2, "--scheduler", &url2])
            .output()
            .expect("atoll job create");
        assert!(created.status.success(), "{}", printed(&created));
        let rescinded = other
            .next_where("a rescind", Duration::from_secs(15), |e| match e {
                Event::Rescind(r) => Some(r.clone()),
                _ => None,
            })
            .await;
        assert!(rescinded.reason.contains("offer timeout"), "{rescinded:?}");
        drop(other);
        mine
    });
    eventually("the Aurora job to run once the offers were rescinded", Duration::from_secs(30), || {
        (cluster.status(HELLO)["instances"][0]["status"] == "RUNNING").then_some(())
    });
    // Its agent lost, the framework hears of it, and its task is LOST.
    let id = mine.id.clone();
    let shown = runtime.block_on(async {
        let mut client = FrameworkServiceClient::connect(url.clone()).await.expect("connect");
        client.get_framework(v1::GetFrameworkRequest { framework_id: id }).await.expect("shown").into_inner()
    });
    let summary = shown.framework.clone().expect("its summary");
    assert_eq!(summary.failover_timeout_secs, 7.0 * 24.0 * 3600.0, "subscribed without one: a week, not Mesos' 0");
    let host = shown.tasks[0].hostname.clone();
    assert_eq!(shown.tasks[0].state, v1::TaskState::Running as i32, "{shown:?}");
    cluster.crash_agent(&host);
    runtime.block_on(async {
        let failed = mine
            .next_where("the agent's failure", Duration::from_secs(30), |e| match e {
                Event::Failure(f) => Some(f.clone()),
                _ => None,
            })
            .await;
        assert_eq!(failed.hostname, host);
        let lost = mine.update("good", v1::TaskState::Lost, true).await;
        assert!(lost.message.contains("stopped sending heartbeats"), "{lost:?}");
    });
}

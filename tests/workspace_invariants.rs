//! The architecture's invariants, checked from `cargo metadata` and the sources:
//! - the domain model, the job language, the placement core and the state machine reach none of
//!   tokio, tonic, prost or sled, even transitively;
//! - only the storage crate depends on sled, and only the crates at the network edge depend on
//!   tonic or prost;
//! - the model depends on its few data crates alone;
//! - the placement core depends only on the model (and regex-lite, for `like`/`unlike`) and uses no
//!   clock, randomness or I/O;
//! - the state machine and the simulator use no clock, randomness, I/O, thread or async code;
//! - the executor's planner depends only on the model and uses no clock, randomness, I/O, tokio
//!   or operating-system crate;
//! - the sandbox protocol, which agents and executors of different releases share, reaches no
//!   runtime crate, and the agent starts executors as processes without linking them;
//! - one crate alone talks to ZooKeeper;
//! - every Rust source file opens with a `//!` module doc;
//! - the only unsafe code is the hook that moves a task's processes into its control groups
//!   between fork and exec.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use atoll_tests::workspace_root;
use serde_json::Value;

const PURE_CORE: [&str; 7] =
    ["atoll-model", "atoll-dsl", "atoll-placement", "atoll-state", "atoll-planner", "atoll-cron", "atoll-allocator"];
const RUNTIME_CRATES: [&str; 4] = ["tokio", "tonic", "prost", "sled"];
/// The crates that speak gRPC: the API crate, the daemons, the client, the binary, the framework
/// SDK, and the tests (which talk to the scheduler as any other client would).
const NETWORK_EDGE: [&str; 8] = [
    "atoll-proto",
    "atoll-server",
    "atoll-agent",
    "atoll-executor",
    "atoll-client",
    "atoll-cli",
    "atoll-framework",
    "atoll-tests",
];

/// Package name → names of its normal (not dev, not build) dependencies.
struct Graph {
    normal_deps: BTreeMap<String, BTreeSet<String>>,
    workspace: BTreeSet<String>,
}

fn graph() -> Graph {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let name_of: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p["name"].as_str().expect("name")))
        .collect();
    let workspace = metadata["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|id| name_of[id.as_str().unwrap()].to_owned())
        .collect();
    let mut normal_deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in metadata["resolve"]["nodes"].as_array().expect("resolve graph") {
        let name = name_of[node["id"].as_str().expect("node id")].to_owned();
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|dep| dep["dep_kinds"].as_array().expect("dep kinds").iter().any(|k| k["kind"].is_null()))
            .map(|dep| name_of[dep["pkg"].as_str().expect("dep id")].to_owned());
        normal_deps.entry(name).or_default().extend(deps);
    }
    Graph { normal_deps, workspace }
}

impl Graph {
    fn direct(&self, package: &str) -> &BTreeSet<String> {
        &self.normal_deps[package]
    }

    fn transitive(&self, package: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![package.to_owned()];
        while let Some(next) = todo.pop() {
            for dep in self.normal_deps.get(&next).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen
    }
}

#[test]
fn the_pure_core_reaches_no_runtime_crate() {
    let graph = graph();
    for package in PURE_CORE {
        let reached = graph.transitive(package);
        let bad: Vec<&str> = RUNTIME_CRATES.iter().copied().filter(|c| reached.contains(*c)).collect();
        assert!(bad.is_empty(), "{package} depends on {bad:?}");
    }
}

#[test]
fn only_storage_uses_sled_and_only_the_network_edge_uses_grpc() {
    let graph = graph();
    for package in &graph.workspace {
        let direct = graph.direct(package);
        if package != "atoll-storage" {
            assert!(!direct.contains("sled"), "{package} depends on sled directly");
        }
        if !NETWORK_EDGE.contains(&package.as_str()) {
            for grpc in ["tonic", "prost", "tonic-prost"] {
                assert!(!direct.contains(grpc), "{package} depends on {grpc} but is not at the network edge");
            }
        }
    }
}

#[test]
fn the_placement_core_depends_on_the_model_alone_and_has_no_clock_randomness_or_io() {
    let graph = graph();
    let workspace_deps: BTreeSet<&str> =
        graph.direct("atoll-placement").iter().map(String::as_str).filter(|d| d.starts_with("atoll-")).collect();
    assert_eq!(workspace_deps, BTreeSet::from(["atoll-model"]));
    let others: BTreeSet<&str> =
        graph.direct("atoll-placement").iter().map(String::as_str).filter(|d| !d.starts_with("atoll-")).collect();
    assert!(
        others.is_subset(&BTreeSet::from(["regex-lite"])),
        "placement depends on the model and regex-lite only, not {others:?}"
    );
    assert_pure("crates/placement/src", &[]);
}

#[test]
fn the_model_depends_on_its_data_crates_alone() {
    let graph = graph();
    let direct: BTreeSet<&str> = graph.direct("atoll-model").iter().map(String::as_str).collect();
    let allowed = BTreeSet::from(["serde", "serde_json", "sha2", "thiserror", "regex-lite", "strsim"]);
    assert!(direct.is_subset(&allowed), "the model depends on {:?} beyond {allowed:?}", direct.difference(&allowed));
}

#[test]
fn the_state_machine_the_simulator_and_cron_have_no_clock_randomness_or_io() {
    // Time is an argument (`now_ms`), randomness a seeded stream, the store and the network
    // are the caller's.
    assert_pure("crates/state/src", &[]);
    assert_pure("crates/sim/src", &[]);
    // Cron reads no clock either: the time to predict from is always given.
    assert_pure("crates/cron/src", &["::now()"]);
}

/// Clock, randomness, I/O, threads and async code, which a pure core does without.
const IMPURE: [&str; 13] = [
    "std::time",
    "SystemTime",
    "Instant",
    "rand::",
    "getrandom",
    "std::fs",
    "std::io",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "tokio",
    "async ",
];

/// Asserts that no source under `dir` (from the workspace root) names anything in [`IMPURE`]
/// or in `also`.
fn assert_pure(dir: &str, also: &[&str]) {
    let files = rust_files(&workspace_root().join(dir));
    assert!(!files.is_empty(), "{dir} has sources");
    for file in files {
        // A duration given by the caller is not a clock.
        let text = std::fs::read_to_string(&file).expect("read source").replace("std::time::Duration", "Duration");
        for word in IMPURE.iter().chain(also) {
            assert!(!text.contains(word), "{} uses {word}", file.display());
        }
    }
}

#[test]
fn the_allocator_depends_on_nothing_and_has_no_clock_randomness_or_io() {
    let graph = graph();
    assert!(graph.direct("atoll-allocator").is_empty(), "the allocator depends on std alone");
    assert_pure("crates/allocator/src", &[]);
}

#[test]
fn the_executors_planner_depends_on_the_model_alone_and_has_no_clock_randomness_or_io() {
    let graph = graph();
    assert_eq!(
        graph.direct("atoll-planner").iter().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["atoll-model"]),
        "the planner depends on the model alone"
    );
    // Durations are the planner's clock, given by its caller; nothing else from `std::time` is.
    assert_pure("crates/planner/src", &["nix::", "libc"]);
}

#[test]
fn the_sandbox_protocol_reaches_no_runtime_crate_and_the_agent_does_not_link_the_executor() {
    let graph = graph();
    let reached = graph.transitive("atoll-sandbox");
    let bad: Vec<&str> = RUNTIME_CRATES.iter().copied().filter(|c| reached.contains(*c)).collect();
    assert!(bad.is_empty(), "atoll-sandbox depends on {bad:?}");
    let workspace_deps: BTreeSet<&str> =
        reached.iter().map(String::as_str).filter(|d| graph.workspace.contains(*d)).collect();
    assert_eq!(workspace_deps, BTreeSet::from(["atoll-model"]), "the sandbox protocol rests on the model alone");
    for package in ["atoll-agent", "atoll-sandbox"] {
        assert!(!graph.transitive(package).contains("atoll-executor"), "{package} links the executor");
    }
}

#[test]
fn the_framework_sdk_depends_on_the_wire_crate_and_its_runtime_alone() {
    // Frameworks outside this repository use it: it must not pull in the rest of Atoll.
    let graph = graph();
    let direct: Vec<&str> = graph.direct("atoll-framework").iter().map(String::as_str).collect();
    assert_eq!(
        direct,
        ["atoll-proto", "atoll-retry", "thiserror", "tokio", "tonic", "tracing"],
        "atoll-framework's dependencies"
    );
}

#[test]
fn one_crate_alone_talks_to_zookeeper() {
    let graph = graph();
    let users: Vec<&str> = graph
        .workspace
        .iter()
        .map(String::as_str)
        .filter(|package| graph.direct(package).contains("zookeeper-client"))
        .collect();
    assert_eq!(users, ["atoll-zookeeper"], "crates that depend on zookeeper-client");
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let root = workspace_root();
    let mut files = rust_files(&root.join("crates"));
    files.extend(rust_files(&root.join("tests")));
    assert!(files.len() > 20, "found only {} files", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        assert!(text.starts_with("//!"), "{} does not open with a //! module doc", file.display());
    }
}

#[test]
fn unsafe_code_is_allowed_in_one_place_only() {
    let root = workspace_root();
    let mut files = rust_files(&root.join("crates"));
    files.extend(rust_files(&root.join("tests")));
    let allowed: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).expect("read source");
            let relative = file.strip_prefix(&root).expect("under the root").display().to_string();
            text.lines()
                .enumerate()
                .filter(|(_, line)| line.trim_start().starts_with("#[allow(unsafe_code)]"))
                .map(|(number, _)| format!("{relative}:{}", number + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(allowed.len(), 1, "unsafe code is allowed at {allowed:?}");
    assert!(allowed[0].starts_with("crates/sandbox/src/child.rs:"), "unsafe code is allowed at {allowed:?}");
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

//! The readers of the files agents and executors share stand up to hostile content: whatever
//! bytes are in `.executor/launch.json`, `.executor/status.jsonl` or a rotating log's offsets
//! index — arbitrary, or a real file of this or an earlier release with bytes flipped, cut,
//! spliced, or a JSON value swapped for one of another type — `Sandbox::read_launch`,
//! `Sandbox::read_status` and `LogFiles::snapshot` (and reads from the snapshot) never panic,
//! and every error they give names the file's path.
//!
//! (`.executor/acknowledged` is not parsed, only looked for, so it has no reader to attack.)
//!
//! Bounded for CI: a few hundred cases per property, each in a fresh temporary sandbox.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use atoll_model::{JobKey, ProcessSpec, Resources, TaskConfig, TaskId, TaskSpec, TaskState};
use atoll_mutations::{json_value, mutate, mutation, replace_node};
use atoll_sandbox::logs::{LogFiles, Stream, index_path};
use atoll_sandbox::{ExecutorStatus, Launch, LaunchFile, STATUS_FORMAT, Sandbox};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

/// What a mutation splices into the sandbox's JSON files besides random bytes.
const SANDBOX_TOKENS: &[&str] = &["\n", "{", "}", "[", "\"", ",", ":", "null", "-1", "1e999", "\u{0}", "\\u"];
/// Wrong values for the sandbox's JSON files besides the common ones.
const SANDBOX_VALUES: &[&str] = &["\"../../etc\"", "\"\\u0000\"", "{\"format_version\": 99}"];

/// A fresh sandbox with its `.executor` directory.
fn sandbox() -> (tempfile::TempDir, Sandbox) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::create_dir(dir.path().join(".executor")).expect("create .executor");
    let sandbox = Sandbox::new(dir.path());
    (dir, sandbox)
}

/// The launch and status files of every earlier release kept in `testdata/`, and this build's.
static GOLDEN_LAUNCH_FILES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(golden_launch_files);
static GOLDEN_STATUS_FILES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(golden_status_files);

fn golden_launch_files() -> Vec<Vec<u8>> {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files: Vec<Vec<u8>> = ["sandbox-v1", "sandbox-v2", "sandbox-v3", "sandbox-v4", "sandbox-v5"]
        .iter()
        .map(|release| fs::read(testdata.join(release).join(".executor/launch.json")).expect("a golden launch file"))
        .collect();
    let (_dir, sandbox) = sandbox();
    sandbox.write_launch(&current_launch()).expect("write a launch file");
    files.push(fs::read(sandbox.launch_file()).expect("read it back"));
    files
}

fn golden_status_files() -> Vec<Vec<u8>> {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let v1 = fs::read(testdata.join("sandbox-v1/.executor/status.jsonl")).expect("a golden status file");
    let (_dir, sandbox) = sandbox();
    for state in [TaskState::Starting, TaskState::Running, TaskState::Failed] {
        let status = ExecutorStatus {
            format_version: STATUS_FORMAT,
            state,
            message: "running".into(),
            exit_code: (state == TaskState::Failed).then_some(3),
            executor_pid: 42,
            process_groups: vec![100, 200],
        };
        sandbox.write_status(&status).expect("write a status");
    }
    vec![v1, fs::read(sandbox.status_file()).expect("read it back")]
}

fn current_launch() -> LaunchFile {
    let mut spec = TaskSpec::new(
        vec![ProcessSpec::new("hello", "echo hello")],
        Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
    );
    spec.user = Some("nobody".into());
    let launch = Launch {
        task_id: TaskId("www-data-devel-hello-0-abc".into()),
        job: JobKey::new("devcluster", "www-data", "devel", "hello").expect("a valid key"),
        instance: 0,
        ports: BTreeMap::from([("http".to_owned(), 31000)]),
        config: TaskConfig::new(spec),
        config_version: Some("ab".repeat(32).parse().expect("a config id")),
    };
    LaunchFile::new(launch, "host1".into(), vec![PathBuf::from("/sys/fs/cgroup/cpu/atoll/t")], None, None, None)
}

// ---------------------------------------------------------------------------------------------
// Mutations: of the bytes, and of the JSON value.

/// `bytes`, one JSON document, with one node replaced.
fn mutate_document(bytes: &[u8], path: &[Index], replacement: Value, remove: bool) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(bytes).expect("golden files are JSON");
    replace_node(&mut value, path, replacement, remove);
    serde_json::to_vec_pretty(&value).expect("a JSON value prints")
}

/// `bytes`, JSON lines, with one node of the line `line` picks replaced.
fn mutate_line(bytes: &[u8], line: &Index, path: &[Index], replacement: Value, remove: bool) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).expect("golden files are UTF-8");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = line.index(lines.len());
    let mut value: Value = serde_json::from_str(&lines[at]).expect("golden lines are JSON");
    replace_node(&mut value, path, replacement, remove);
    lines[at] = serde_json::to_string(&value).expect("a JSON value prints");
    let mut out = lines.join("\n");
    out.push('\n');
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The readers, with their properties.

/// An error must name the file it is about.
fn names_path(error: &impl std::fmt::Display, path: &Path) -> Result<(), TestCaseError> {
    let text = error.to_string();
    prop_assert!(text.contains(&path.display().to_string()), "the error does not name {}: {text}", path.display());
    prop_assert!(text.len() > path.display().to_string().len() + 4, "the error says nothing more: {text}");
    Ok(())
}

/// `bytes` as the launch file, read.
fn read_launch(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (_dir, sandbox) = sandbox();
    fs::write(sandbox.launch_file(), bytes).expect("write the launch file");
    match sandbox.read_launch() {
        Ok(file) => {
            // What the executor does first with what it read.
            let context = file.run_context();
            prop_assert_eq!(context.instance, file.launch.instance);
        }
        Err(error) => names_path(&error, &sandbox.launch_file())?,
    }
    Ok(())
}

/// `bytes` as the status file, read.
fn read_status(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (_dir, sandbox) = sandbox();
    fs::write(sandbox.status_file(), bytes).expect("write the status file");
    match sandbox.read_status() {
        Ok(None) => prop_assert!(!bytes.contains(&b'\n'), "a file with a complete line reads as no status"),
        Ok(Some(status)) => prop_assert!(status.format_version <= STATUS_FORMAT),
        Err(error) => names_path(&error, &sandbox.status_file())?,
    }
    Ok(())
}

/// `index` as the offsets index of a run's stdout beside files `stdout`, `stdout.1`, …, then a
/// snapshot of the stream read whole, from its tail and at a random offset.
fn read_logs(index: &[u8], files: &[Vec<u8>], offset: u64) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (n, content) in files.iter().enumerate() {
        let name = if n == 0 { "stdout".to_owned() } else { format!("stdout.{n}") };
        fs::write(dir.path().join(name), content).expect("write a log file");
    }
    let index_file = index_path(dir.path(), Stream::Stdout);
    fs::write(&index_file, index).expect("write the offsets index");
    match LogFiles::new(dir.path(), Stream::Stdout).snapshot() {
        Ok(None) => {}
        Ok(Some(snapshot)) => {
            let (start, end) = (snapshot.start(), snapshot.end());
            let whole = snapshot.range(start, end).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(whole.len() as u64 <= end.saturating_sub(start), "{} bytes in {start}..{end}", whole.len());
            let tail = snapshot.tail_start(3).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(tail >= start.min(end) && tail <= end.max(start), "tail {tail} outside {start}..{end}");
            let (at, bytes) = snapshot.read(offset, 64).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(at >= offset && bytes.len() <= 64, "read {} bytes at {at} for {offset}", bytes.len());
        }
        Err(error) => {
            let text = error.to_string();
            prop_assert!(text.contains(&dir.path().display().to_string()), "the error names no file: {text}");
        }
    }
    Ok(())
}

/// Offsets indexes: lines of a name and a number, or not.
fn offsets_index() -> impl Strategy<Value = Vec<u8>> {
    let number = prop_oneof![
        (0u64..100_000).prop_map(|n| n.to_string()),
        Just(u64::MAX.to_string()),
        Just((u64::MAX - 5).to_string()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just("ten".to_owned()),
    ];
    let name = prop::sample::select(vec!["stdout", "stdout.1", "stdout.2", "stdout.9", "../x", "", "a b", "/etc"]);
    let line = prop_oneof![
        8 => (name, number).prop_map(|(name, number)| format!("{name} {number}")),
        1 => "[ -~]{0,16}",
        1 => Just(String::new()),
    ];
    prop_oneof![
        4 => prop::collection::vec(line, 0..5).prop_map(|lines| lines.join("\n").into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 1024, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_in_the_launch_file_are_an_error_naming_it(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        read_launch(&bytes)?;
    }

    #[test]
    fn mutated_launch_files_of_every_release_never_panic(
        seed in any::<Index>(),
        mutations in prop::collection::vec(mutation(SANDBOX_TOKENS), 1..5),
    ) {
        let seeds = &*GOLDEN_LAUNCH_FILES;
        read_launch(&mutate(seeds[seed.index(seeds.len())].clone(), &mutations))?;
    }

    #[test]
    fn launch_files_with_a_value_of_the_wrong_type_never_panic(
        seed in any::<Index>(),
        path in prop::collection::vec(any::<Index>(), 0..6),
        replacement in json_value(SANDBOX_VALUES),
        remove in any::<bool>(),
    ) {
        let seeds = &*GOLDEN_LAUNCH_FILES;
        let bytes = &seeds[seed.index(seeds.len())];
        read_launch(&mutate_document(bytes, &path, replacement, remove))?;
    }

    #[test]
    fn arbitrary_bytes_in_the_status_file_are_an_error_naming_it(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        read_status(&bytes)?;
    }

    #[test]
    fn mutated_status_files_never_panic(
        seed in any::<Index>(),
        mutations in prop::collection::vec(mutation(SANDBOX_TOKENS), 1..5),
    ) {
        let seeds = &*GOLDEN_STATUS_FILES;
        read_status(&mutate(seeds[seed.index(seeds.len())].clone(), &mutations))?;
    }

    #[test]
    fn status_lines_with_a_value_of_the_wrong_type_never_panic(
        seed in any::<Index>(),
        line in any::<Index>(),
        path in prop::collection::vec(any::<Index>(), 0..3),
        replacement in json_value(SANDBOX_VALUES),
        remove in any::<bool>(),
    ) {
        let seeds = &*GOLDEN_STATUS_FILES;
        let bytes = &seeds[seed.index(seeds.len())];
        read_status(&mutate_line(bytes, &line, &path, replacement, remove))?;
    }

    #[test]
    fn hostile_log_offsets_indexes_never_panic_a_reader(
        index in offsets_index(),
        files in prop::collection::vec(prop::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..40), 0..4),
        offset in prop_oneof![any::<u64>(), 0u64..200],
    ) {
        read_logs(&index, &files, offset)?;
    }
}

/// The seeds are real files each reader accepts, so the mutations start from the real thing.
#[test]
fn every_golden_file_reads() {
    for bytes in GOLDEN_LAUNCH_FILES.iter() {
        let (_dir, sandbox) = sandbox();
        fs::write(sandbox.launch_file(), bytes).expect("write the launch file");
        sandbox.read_launch().expect("a golden launch file reads");
    }
    for bytes in GOLDEN_STATUS_FILES.iter() {
        let (_dir, sandbox) = sandbox();
        fs::write(sandbox.status_file(), bytes).expect("write the status file");
        assert!(sandbox.read_status().expect("a golden status file reads").is_some());
    }
}

/// The case the offsets property found: an index that starts the newest file so late that its
/// bytes would end past the largest offset. It was an overflow (a panic in debug builds, a
/// wrapped end in release); it is an error naming the file and the index.
#[test]
fn an_index_starting_a_file_past_the_largest_offset_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("stdout"), "\n").expect("write a log file");
    let index = index_path(dir.path(), Stream::Stdout);
    fs::write(&index, format!("stdout {}\n", u64::MAX)).expect("write the offsets index");
    let error = LogFiles::new(dir.path(), Stream::Stdout).snapshot().expect_err("no stream ends past u64::MAX");
    let text = error.to_string();
    assert!(text.contains(&dir.path().join("stdout").display().to_string()), "{text}");
    assert!(text.contains(&index.display().to_string()), "{text}");
    assert!(text.contains(&u64::MAX.to_string()), "{text}");
}

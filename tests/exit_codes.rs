//! The exit code table of `docs/exit-codes.md`, checked cell by cell against a real scheduler:
//! every command named there meets every fault its row lists, and exits as the table says.

use std::path::Path;

use atoll_tests::{Cluster, atoll, printed, workspace_root};

const KNOWN: &str = "devcluster/www-data/devel/known";
const UNKNOWN: &str = "devcluster/www-data/devel/unknown";
const MALFORMED: &str = "devcluster/www-data/known";

/// The faults, in the table's column order.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Unreachable,
    MalformedKey,
    UnknownJob,
    MissingFile,
    BrokenFile,
}

const FAULTS: [Fault; 5] =
    [Fault::Unreachable, Fault::MalformedKey, Fault::UnknownJob, Fault::MissingFile, Fault::BrokenFile];

/// A job file defining the service `name`, or with `cron`, a cron job of that name on that
/// schedule.
fn job_file(dir: &Path, name: &str) -> String {
    write_job(dir, name, None)
}

fn write_job(dir: &Path, name: &str, cron: Option<&str>) -> String {
    let path = dir.join(format!("{name}{}.rhai", if cron.is_some() { "-cron" } else { "" }));
    let kind = match cron {
        Some(schedule) => format!("Job(#{{ cron_schedule: \"{schedule}\", "),
        None => "Service(#{ ".to_owned(),
    };
    std::fs::write(
        &path,
        format!(
            r#"let p = Process(#{{ name: "p", cmdline: "exec sleep 600" }});
let t = SequentialTask(#{{ processes: [p], resources: Resources(#{{ cpu: 0.01, ram: 4 * MB, disk: 4 * MB }}) }});
let jobs = [ {kind}cluster: "devcluster", role: "www-data", environment: "devel", name: "{name}", task: t }}) ];
"#
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// The table's rows: the command (in words, JOB and FILE to fill in) and the expected code for
/// each fault, None where the table says `–`.
fn table() -> Vec<(String, Vec<Option<i32>>)> {
    let doc = std::fs::read_to_string(workspace_root().join("docs/exit-codes.md")).expect("docs/exit-codes.md");
    doc.lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let command = cells[0].trim_matches('`').to_owned();
            let codes = cells[1..].iter().map(|c| c.parse().ok()).collect();
            (command, codes)
        })
        .collect()
}

#[test]
fn every_command_exits_as_the_table_says_for_every_fault() {
    let cluster = Cluster::start(10);
    let dir = cluster.dir.path();
    let known_file = job_file(dir, "known");
    let known_cron_file = write_job(dir, "known", Some("0 3 * * *"));
    let unknown_file = job_file(dir, "unknown");
    let broken = dir.join("broken.rhai");
    std::fs::write(&broken, "let jobs = [ Service(#{ ").unwrap();
    let broken = broken.display().to_string();
    let created = cluster.job(&["create", KNOWN, &known_file, "--wait-until", "RUNNING"]);
    assert!(created.status.success(), "{}", printed(&created));

    let rows = table();
    assert!(rows.len() >= 15, "the table has its rows: {rows:?}");
    let mut wrong = Vec::new();
    for (command, codes) in &rows {
        assert_eq!(codes.len(), FAULTS.len(), "{command}: one cell per fault");
        for (fault, expected) in FAULTS.iter().zip(codes) {
            let Some(expected) = expected else { continue };
            let (job, file, scheduler) = match fault {
                Fault::Unreachable => (KNOWN, known_file.clone(), "http://127.0.0.1:1".to_owned()),
                Fault::MalformedKey => (MALFORMED, known_file.clone(), cluster.url.clone()),
                Fault::UnknownJob => (UNKNOWN, unknown_file.clone(), cluster.url.clone()),
                Fault::MissingFile => (KNOWN, dir.join("missing.rhai").display().to_string(), cluster.url.clone()),
                Fault::BrokenFile => (KNOWN, broken.clone(), cluster.url.clone()),
            };
            // `cron schedule` reads a cron job: the same faults, met by a file it accepts.
            let file =
                if command.starts_with("cron schedule") && file == known_file { known_cron_file.clone() } else { file };
            let mut args: Vec<String> =
                command.split_whitespace().map(|word| word.replace("JOB", job).replace("FILE", &file)).collect();
            if !command.starts_with("config") {
                args.extend(["--scheduler".to_owned(), scheduler]);
            }
            if command.starts_with("update wait") || command.starts_with("job restart") {
                args.extend(["--wait-timeout-secs".to_owned(), "5".to_owned()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = atoll(&args);
            let code = output.status.code().expect("an exit code");
            if code != *expected {
                wrong.push(format!(
                    "`{command}` with {fault:?}: exit {code}, the table says {expected}: {}",
                    printed(&output)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

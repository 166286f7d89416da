//! Benchmark: evaluating a generated file of 1,000 full services, as a config generator would
//! write it. Run `cargo bench -p atoll-dsl --bench evaluate`; prints min and median of 5 runs.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Jobs in the file.
const JOBS: usize = 1000;
/// Runs measured.
const RUNS: usize = 5;

/// A file of `JOBS` services, each written out in full, as a generated config would be.
fn thousand_jobs() -> String {
    let mut source = String::from("let jobs = [\n");
    for n in 0..JOBS {
        writeln!(
            source,
            r#"    Service(#{{ cluster: "devcluster", role: "www-data", environment: "prod", name: "web-{n}", instances: 3,
        task: SequentialTask(#{{ processes: [Process(#{{ name: "fetch", cmdline: "echo fetch {{{{name}}}}" }}),
                                            Process(#{{ name: "serve", cmdline: "serve --port={{{{thermos.ports[http]}}}}", daemon: true }})],
                                resources: Resources(#{{ cpu: 0.5, ram: 256 * MB, disk: 512 * MB }}) }}),
        announce: Announcer(#{{}}), constraints: #{{ host: "limit:1", rack: "r1,r2" }},
        update_config: UpdateConfig(#{{ batch_size: 2 }}),
        metadata: [Metadata(#{{ key: "owner", value: "{{{{role}}}}" }})] }}),"#
        )
        .expect("writing to a string");
    }
    source.push_str("];\n");
    source
}

fn main() {
    let source = thousand_jobs();
    let mut samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let jobs = atoll_dsl::evaluate(&source, "thousand.rhai").expect("the file is valid");
            let elapsed = started.elapsed();
            assert_eq!(jobs.len(), JOBS);
            elapsed
        })
        .collect();
    samples.sort();
    println!(
        "evaluate: {JOBS} jobs ({} KiB of job file): min {:.1} ms, median {:.1} ms over {RUNS} runs",
        source.len() / 1024,
        samples[0].as_secs_f64() * 1000.0,
        samples[RUNS / 2].as_secs_f64() * 1000.0
    );
}

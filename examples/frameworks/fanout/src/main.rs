//! `atoll-example-fanout`: an example framework on Atoll's FrameworkService, written with the
//! `atoll-framework` SDK. It fans a batch computation out over the cluster's agents (shard i
//! counts the primes among its own range of numbers), launches a failed or lost shard again
//! up to `--max-attempts`, gathers every shard's result from its stdout through the
//! scheduler's LogService, and prints the combined result.

mod fanout;
mod shards;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use atoll_framework::v1::{FrameworkInfo, Resources};
use atoll_framework::{DriverConfig, SchedulerDriver};
use clap::Parser;

use crate::fanout::Fanout;
use crate::shards::{InjectedFailure, Plan, ShardState};

const ABOUT: &str = "Count the primes below SHARDS × NUMBERS_PER_SHARD on an Atoll cluster, one shard per task, as a framework of its own.";

const LONG_ABOUT: &str = "\
Count the primes below SHARDS × NUMBERS_PER_SHARD on an Atoll cluster, one shard per task, as a \
framework of its own.

It subscribes to the scheduler's FrameworkService as framework NAME in ROLE, takes the offers \
that come (spreading shards over the agents offered), and launches shard i as a task that \
counts the primes in [i × NUMBERS_PER_SHARD, (i + 1) × NUMBERS_PER_SHARD) with `seq | factor`. \
A shard that fails or is lost is launched again, up to --max-attempts in all. Once a shard \
finishes, its result is read from its stdout through the scheduler's LogService. When every \
shard is done it prints one line per shard and the total, tears the framework down and exits 0; \
if a shard fails every attempt it tears the framework down (killing the other shards) and exits \
1, naming the shard and its last failure.

Results go to stdout; progress goes to stderr (RUST_LOG=debug for more).";

const AFTER_HELP: &str = "\
Examples:
  # Against `atoll dev --agents 2` on this machine (it serves http://127.0.0.1:7070):
  atoll-example-fanout --shards 8

  # Watch a retry: shard 3 fails its first attempt on purpose.
  atoll-example-fanout --shards 8 --fail-shard 3

  # A cluster with --auth: a token that may manage the role.
  atoll-example-fanout --scheduler https://scheduler:7070 --tls-ca ca.pem --token \"$TOKEN\" --role batch";

#[derive(Parser, Debug)]
#[command(name = "atoll-example-fanout", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
struct Args {
    /// The scheduler's gRPC address, http://HOST:PORT or https://HOST:PORT.
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    scheduler: String,
    /// The role the framework draws on, and its tasks' Atoll role (subscribing needs
    /// permission to manage it).
    #[arg(long, default_value = "fanout")]
    role: String,
    /// The framework's name (letters, digits, - and _).
    #[arg(long, default_value = "fanout")]
    name: String,
    /// How many shards (tasks) to fan out.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    shards: u32,
    /// How many numbers each shard looks through.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    numbers_per_shard: u64,
    /// CPUs per shard.
    #[arg(long, default_value_t = 0.1)]
    cpus: f64,
    /// RAM per shard, in MB.
    #[arg(long, default_value_t = 32)]
    ram: u64,
    /// Disk per shard, in MB.
    #[arg(long, default_value_t = 16)]
    disk: u64,
    /// How many times a shard is launched before the fan-out gives up on it.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: u32,
    /// Makes shard SHARD's first TIMES attempts (1 if not given) exit 3 on purpose, to watch
    /// retries. May be given more than once.
    #[arg(long = "fail-shard", value_name = "SHARD[:TIMES]")]
    fail_shards: Vec<InjectedFailure>,
    /// A bearer token for a scheduler run with --auth.
    #[arg(long, env = "ATOLL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The CA certificate (PEM) an https:// scheduler's certificate is checked against.
    #[arg(long, env = "ATOLL_CA_FILE")]
    tls_ca: Option<PathBuf>,
    /// Seconds the scheduler keeps the framework's tasks running after losing it, waiting for
    /// it to subscribe again.
    #[arg(long, default_value_t = 60.0)]
    failover_timeout: f64,
    /// Seconds to keep trying to reach the scheduler before giving up.
    #[arg(long, default_value_t = 30)]
    give_up_after: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    if !(args.cpus.is_finite() && args.cpus > 0.0) {
        bail!("--cpus must be a positive number of CPUs, not {}", args.cpus);
    }
    if !(args.failover_timeout.is_finite() && args.failover_timeout >= 0.0) {
        bail!("--failover-timeout must be a number of seconds, not {}", args.failover_timeout);
    }
    let mut injected_failures = BTreeMap::new();
    for failure in &args.fail_shards {
        if failure.shard >= args.shards {
            bail!("--fail-shard {}: there are only shards 0 to {}", failure.shard, args.shards - 1);
        }
        injected_failures.insert(failure.shard, failure.times);
    }
    let plan = Plan {
        shards: args.shards,
        numbers_per_shard: args.numbers_per_shard,
        resources: Resources { cpu: args.cpus, ram_mb: args.ram, disk_mb: args.disk, gpu: 0 },
        max_attempts: args.max_attempts,
        injected_failures,
    };

    let info = FrameworkInfo { name: args.name, role: args.role, failover_timeout_secs: Some(args.failover_timeout) };
    let mut config = DriverConfig::new(&args.scheduler, info).give_up_after(Duration::from_secs(args.give_up_after));
    if let Some(token) = args.token {
        config = config.token(token);
    }
    if let Some(path) = &args.tls_ca {
        let pem = std::fs::read(path).with_context(|| format!("reading the CA certificate {}", path.display()))?;
        config = config.ca_certificate(pem);
    }
    let stop = config.stop_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("interrupted: tearing the framework down (its shards are killed)");
            stop.stop(false);
        }
    });

    let mut fanout = Fanout::new(plan);
    SchedulerDriver::run(config, &mut fanout)
        .await
        .with_context(|| format!("the fan-out's framework at {} stopped", args.scheduler))?;
    if let Some(failure) = fanout.failure {
        bail!("the fan-out failed: {failure}");
    }
    // The fan-out stops itself only once every shard is done or one failed: anything else was
    // Ctrl-C.
    if !fanout.progress.all_done() {
        bail!(
            "the fan-out was interrupted with {} of {} shards done",
            fanout.progress.done(),
            fanout.progress.shards().len()
        );
    }
    for shard in fanout.progress.shards() {
        if let ShardState::Done { primes, placed } = &shard.state {
            let (start, end) = fanout.plan.range(shard.index);
            println!(
                "shard {}: {primes} primes in [{start}, {end}), attempt {}, on {placed}",
                shard.index, shard.attempts
            );
        }
    }
    let (start, end) = fanout.plan.whole_range();
    println!("total: {} primes in [{start}, {end}) from {} shards", fanout.progress.total(), fanout.plan.shards);
    Ok(())
}

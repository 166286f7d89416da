//! The command line, as clap definitions. Help texts teach: each command says what it does and
//! shows an example.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "atoll",
    version,
    about = "Atoll: an Aurora-style cluster scheduler",
    long_about = "Atoll runs services, batch and cron jobs on a fleet of hosts.\n\n\
        Try it on one machine:\n  atoll dev examples/hello_world.rhai\n\
        then, from a second terminal:\n  atoll job status devcluster/www-data/devel/hello"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub target: SchedulerTarget,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the scheduler.
    #[command(after_help = "Example:\n  atoll scheduler --data-dir /var/lib/atoll --grpc 0.0.0.0:7070 --cluster east")]
    Scheduler(SchedulerArgs),
    /// Run an agent, which runs tasks on this host for a scheduler.
    #[command(
        after_help = "Example:\n  atoll agent --scheduler http://scheduler:7070 --work-dir /var/lib/atoll-agent \\\n    \
        --hostname h1 --resources 'cpus:4;mem:8192;disk:40960;ports:[31000-32000]' --attributes 'host:h1;rack:r1'"
    )]
    Agent(AgentArgs),
    /// Run one task in its sandbox (started by the agent; not for people).
    #[command(hide = true)]
    Executor(ExecutorArgs),
    /// Run a scheduler and local agents in one process, submit job files, and show their tasks.
    #[command(after_help = "Example:\n  atoll dev examples/hello_world.rhai\n\
        Ctrl-C stops every task it started and exits.")]
    Dev(DevArgs),
    /// Create, inspect and kill jobs.
    #[command(subcommand)]
    Job(JobCommand),
    /// Change running services: rolling updates, pauses, rollbacks, and their history.
    #[command(subcommand)]
    Update(crate::update::UpdateCommand),
    /// Cron jobs: schedule a job file's template, start it now, show its runs, predict a schedule.
    #[command(subcommand)]
    Cron(crate::cron::CronCommand),
    /// Work with job files without a scheduler.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Service discovery: the ServerSet members jobs announce.
    #[command(subcommand)]
    Sd(crate::sd::SdCommand),
    /// Look at a job instance's task: its logs.
    #[command(subcommand)]
    Task(crate::task::TaskCommand),
    /// Show the scheduler's events: task state changes, job changes, updates and cron runs, as
    /// they happen with --follow, resumable from an index.
    Events(crate::events::EventsArgs),
    /// Host maintenance: schedule it, drain hosts, bring them back, show their modes.
    #[command(subcommand)]
    Host(crate::host::HostCommand),
    /// Production quota per role: show it with its use, set it.
    #[command(subcommand)]
    Quota(crate::quota::QuotaCommand),
    /// Frameworks sharing the cluster through offers: list them, show one, tear one down.
    #[command(subcommand)]
    Framework(crate::framework::FrameworkCommand),
    /// Print a shell completion script for this command line.
    #[command(after_help = "Examples:\n  atoll completions bash > /etc/bash_completion.d/atoll\n  \
        atoll completions zsh > \"${fpath[1]}/_atoll\"\n  atoll completions fish > ~/.config/fish/completions/atoll.fish")]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), made from the same definitions as --help.
    #[command(after_help = "Example:\n  atoll man > /usr/local/share/man/man1/atoll.1 && man atoll")]
    Man,
}

/// `--bind KEY=VALUE`, for every command that reads a job file.
#[derive(Args, Clone, Default)]
pub struct Bindings {
    /// Bind `{{KEY}}` in the job file to VALUE (repeatable), e.g. --bind version=1.2.
    #[arg(long = "bind", value_name = "KEY=VALUE", value_parser = parse_binding)]
    pub bind: Vec<(String, String)>,
}

fn parse_binding(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("'{text}' is not KEY=VALUE")),
    }
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// List the job keys a job file defines.
    #[command(after_help = "Example:\n  atoll config list examples/hello_world.rhai")]
    List {
        /// The job file (Rhai).
        file: PathBuf,
        /// Print JSON for scripts instead of one key a line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        bindings: Bindings,
    },
}

#[derive(Args)]
pub struct SchedulerArgs {
    /// Where the scheduler keeps its jobs and tasks; one scheduler per directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub grpc: SocketAddr,
    /// POST every task state change to a webhook, as Aurora's -webhook_config: a JSON file
    /// with `targetURL` (http://), `headers`, `timeoutMsec` and `statuses` (docs/events.md).
    #[arg(long, value_name = "FILE")]
    pub webhook_config: Option<PathBuf>,
    /// Also serve HTTP here: Prometheus metrics at /metrics, and /health and /leaderhealth for
    /// load balancers and monitors (open to every caller, like Aurora's).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Seconds without a heartbeat after which an agent's tasks are LOST.
    #[arg(long, default_value_t = 10)]
    pub agent_timeout_secs: u64,
    /// Seconds a task waits PENDING before it may preempt lower tasks to make room.
    #[arg(long, default_value_t = 180)]
    pub preemption_delay_secs: u64,
    /// Seconds an update's new task may stay PENDING, ASSIGNED or STARTING before it counts as
    /// a failure of its instance.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub update_stuck_timeout_secs: u64,
    /// The users who may call, and their permissions: a TOML file of `[users.NAME]` tables
    /// with `token_sha256` (the hex SHA-256 of the user's token) or `certificate_name` (a DNS
    /// name of their client certificate, with --tls-ca), `roles = [...]`, `admin` and `agent`
    /// (docs/security.md). Without it, only callers on this machine are let in.
    #[arg(long, value_name = "FILE")]
    pub auth: Option<PathBuf>,
    /// Append a JSON line for every call that changes something (user, call, subject, outcome).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Serve TLS with this certificate (PEM, the chain); clients then use https:// and check it
    /// against its CA. Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The cluster's CA certificate (PEM): callers may present a client certificate it signed
    /// instead of a token (mutual TLS; the certificate's DNS name is a user's
    /// `certificate_name`), and agents' TLS log services are checked against it.
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "auth"])]
    pub tls_ca: Option<PathBuf>,
    /// Calls a second each user of the --auth file may make (bursts of twice that pass); more
    /// are refused, so one user cannot wedge the scheduler. Agents are not limited.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub user_calls_per_second: u32,
    /// The IANA time zone of cron jobs that name no cron_timezone, e.g. Europe/Paris; a job
    /// keeps the zone it was scheduled with.
    #[arg(long, default_value = atoll_cron::DEFAULT_ZONE, value_name = "ZONE")]
    pub cron_timezone: String,
    /// Seconds a cron run missed while the scheduler was down may still start late, for jobs
    /// that set no cron_starting_deadline_secs; 0 starts no missed run.
    #[arg(long, default_value_t = 900)]
    pub cron_starting_deadline_secs: u64,
    /// Announce this scheduler in this ZooKeeper ensemble, `HOST:PORT[,HOST:PORT…][/chroot]`,
    /// so clients can find it at `zk://ENSEMBLE/PATH`.
    #[arg(long, value_name = "ENSEMBLE")]
    pub zk: Option<String>,
    /// The ServerSet path the scheduler announces itself at.
    #[arg(long, default_value = atoll_server::DEFAULT_SCHEDULER_PATH)]
    pub serverset_path: String,
    /// The host name clients reach this scheduler by, for its announcement; defaults to the
    /// machine's hostname.
    #[arg(long)]
    pub advertise_host: Option<String>,
    /// A role's weight in the allocator, ROLE=WEIGHT (repeatable), as Mesos' --weights: a role
    /// of weight 2 gets twice the dominant share of one of weight 1 when both want more.
    /// Atoll's own job scheduler is role `jobs`; roles not named weigh 1.
    #[arg(long = "role-weight", value_name = "ROLE=WEIGHT", value_parser = parse_role_weight)]
    pub role_weights: Vec<(String, f64)>,
    /// What a role is promised at least, ROLE=cpus:C;mem:MB[;disk:MB][;gpus:N] (repeatable), as
    /// Mesos' quota guarantees: while a role holds less, its frameworks are offered first, and
    /// what the others are offered leaves enough free to cover it. Role `jobs` is Atoll's own
    /// job scheduler.
    #[arg(long = "role-guarantee", value_name = "ROLE=RESOURCES", value_parser = parse_role_guarantee)]
    pub role_guarantees: Vec<(String, atoll_model::Resources)>,
    /// Seconds an offer to a framework stays outstanding before it is rescinded, so no
    /// framework sits on resources it does not use.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub offer_timeout_secs: u64,
}

/// `ROLE=cpus:C;mem:MB;disk:MB;gpus:N`, each part optional but one at least.
fn parse_role_guarantee(value: &str) -> Result<(String, atoll_model::Resources), String> {
    let (role, amounts) = value.split_once('=').ok_or_else(|| {
        format!("'{value}' is not ROLE=RESOURCES, e.g. --role-guarantee analytics='cpus:8;mem:16384'")
    })?;
    if role.is_empty() {
        return Err(format!("'{value}' names no role"));
    }
    let mut resources = atoll_model::Resources { cpu: 0.0, ram_mb: 0, disk_mb: 0, gpu: 0 };
    for part in amounts.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, amount) =
            part.split_once(':').ok_or_else(|| format!("'{part}' is not NAME:AMOUNT, e.g. cpus:8 or mem:16384"))?;
        let bad = || format!("the {name} of role {role}'s guarantee must be a number of 0 or more, not '{amount}'");
        match name {
            "cpus" => {
                resources.cpu = amount.parse::<f64>().ok().filter(|c| c.is_finite() && *c >= 0.0).ok_or_else(bad)?
            }
            "mem" => resources.ram_mb = amount.parse().map_err(|_| bad())?,
            "disk" => resources.disk_mb = amount.parse().map_err(|_| bad())?,
            "gpus" => resources.gpu = amount.parse().map_err(|_| bad())?,
            other => {
                return Err(format!(
                    "unknown resource '{other}' in role {role}'s guarantee; use cpus, mem, disk, gpus"
                ));
            }
        }
    }
    Ok((role.to_owned(), resources))
}

/// `ROLE=WEIGHT`, the weight a positive number.
fn parse_role_weight(value: &str) -> Result<(String, f64), String> {
    let (role, weight) =
        value.split_once('=').ok_or_else(|| format!("'{value}' is not ROLE=WEIGHT, e.g. --role-weight analytics=2"))?;
    let weight: f64 =
        weight.parse().map_err(|_| format!("the weight of role {role} must be a number, not '{weight}'"))?;
    if !(weight.is_finite() && weight > 0.0) {
        return Err(format!("the weight of role {role} must be more than 0, not {weight}"));
    }
    if role.is_empty() {
        return Err(format!("'{value}' names no role"));
    }
    Ok((role.to_owned(), weight))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnExitArg {
    /// Leave tasks running under their executors.
    Leave,
    /// Kill every task before exiting.
    Kill,
}

#[derive(Args)]
pub struct AgentArgs {
    /// Where task sandboxes live.
    #[arg(long)]
    pub work_dir: PathBuf,
    /// This host's name, as tasks and clients reach it; also the agent's id. Defaults to the
    /// machine's hostname.
    #[arg(long)]
    pub hostname: Option<String>,
    /// What this agent offers, in Mesos syntax (mem and disk in MB). Defaults to the machine's
    /// own cores, memory and free disk, with ports 31000-32000.
    #[arg(long, value_name = "'cpus:4;mem:8192;disk:40960;ports:[31000-32000]'")]
    pub resources: Option<String>,
    /// Attributes that constraints match, e.g. 'host:h1;rack:r1'.
    #[arg(long, default_value = "")]
    pub attributes: String,
    /// What to do with running tasks when the agent stops.
    #[arg(long, value_enum, default_value_t = OnExitArg::Leave)]
    pub on_exit: OnExitArg,
    /// Run tasks without cgroup limits. Without this flag an agent that cannot use cgroups
    /// refuses to start, so no task runs unlimited by accident.
    #[arg(long)]
    pub no_isolation: bool,
    /// The cgroup under which each task gets its own group.
    #[arg(long, default_value = atoll_agent::isolation::DEFAULT_PARENT)]
    pub cgroup_parent: String,
    /// Seconds between measurements of each task's sandbox against its disk limit.
    #[arg(long, default_value_t = 10)]
    pub disk_check_interval_secs: u64,
    /// How long a finished task's sandbox (its files and logs) is kept before the agent removes
    /// it; a week by default, as Mesos' --gc_delay.
    #[arg(long, value_name = "SECS", default_value_t = 7 * 24 * 3600)]
    pub sandbox_retention_secs: u64,
    /// How many finished tasks' sandboxes are kept at most; the oldest go first.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub sandboxes_kept: usize,
    /// How long an executor waits for a stopped agent to come back (a restart, an upgrade)
    /// before it ends its task LOST and exits, so no task outlives its agent for ever (Mesos'
    /// --recovery_timeout, 15 minutes).
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub executor_recovery_timeout_secs: u64,
    /// Announce tasks in this ZooKeeper ensemble, `HOST:PORT[,HOST:PORT…][/chroot]`, instead of
    /// the scheduler's embedded registry.
    #[arg(long, value_name = "ENSEMBLE")]
    pub zk: Option<String>,
    /// The root of the ServerSet paths tasks announce themselves under.
    #[arg(long, default_value = atoll_announce::DEFAULT_ROOT)]
    pub serverset_root: String,
    /// A file holding the agent credential (a token of a user with `agent = true` in the
    /// scheduler's --auth file); without it, `ATOLL_TOKEN` if set.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The CA certificate (PEM) an https:// scheduler's certificate is checked against; the
    /// agent's executors use it too.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// The agent's own certificate (PEM), signed by the scheduler's --tls-ca: presented to the
    /// scheduler instead of a token (its DNS name is the agent user's `certificate_name`), and
    /// served by the agent's log service, which the scheduler then reads over TLS. Its names
    /// must cover the address the scheduler reaches the agent at. Needs --tls-key.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTP here: Prometheus metrics at /metrics (tasks, executors, each task's cpu,
    /// memory and log bytes, OOM kills) and /health.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Run every task as the agent's own user instead of its task's user (the task's `user`,
    /// or its role). Without it the agent must run as root, and each task runs as its user:
    /// processes, health checks and finalisers, with a sandbox only that user can read; a task
    /// whose user does not exist on the host fails, naming the user and the host.
    #[arg(long, conflicts_with_all = ["allowed_users", "allow_root"])]
    pub no_switch_user: bool,
    /// The only users tasks may run as, comma-separated (default: any user of the host but
    /// root); a task of another fails, naming the user.
    #[arg(long, value_name = "USER,...", value_delimiter = ',')]
    pub allowed_users: Option<Vec<String>>,
    /// Let tasks run as root (uid 0, whatever its name), which is refused by default.
    #[arg(long)]
    pub allow_root: bool,
}

#[derive(Args)]
pub struct ExecutorArgs {
    /// The task's sandbox, holding `.executor/launch.json`.
    #[arg(long)]
    pub sandbox: PathBuf,
}

#[derive(Args)]
pub struct DevArgs {
    /// Job files to submit once the cluster is up.
    pub files: Vec<PathBuf>,
    /// Where to keep the scheduler's state and the agents' sandboxes. Defaults to a fresh
    /// temporary directory, removed on exit; with a directory given, jobs survive restarts.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// How many local agents to run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub agents: u32,
    /// The address the scheduler serves gRPC on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub grpc: SocketAddr,
    /// The address the scheduler serves HTTP on: metrics at /metrics, /health.
    #[arg(long, default_value = "127.0.0.1:7080")]
    pub http: SocketAddr,
    #[command(flatten)]
    pub bindings: Bindings,
}

/// The cluster a command of the command line means, before or after the subcommand.
pub const DEFAULT_CLUSTER: &str = "devcluster";

/// Which scheduler to talk to: options taken anywhere on the line, before or after the
/// subcommand.
#[derive(Args, Clone, Default)]
pub struct SchedulerTarget {
    /// The scheduler's address, `http://HOST:PORT` or `zk://ENSEMBLE/PATH`; overrides the
    /// clusters file (~/.config/atoll/clusters.toml, or the file ATOLL_CLUSTERS names). For
    /// `atoll agent`: the scheduler it serves (default http://127.0.0.1:7070).
    #[arg(long, global = true)]
    pub scheduler: Option<String>,
    /// The cluster, for commands that name no job (host, and `atoll scheduler`, which runs
    /// it; default devcluster); with a job key it must be the key's cluster.
    #[arg(long, global = true)]
    pub cluster: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum WaitUntil {
    Pending,
    Running,
    Finished,
}

/// A job and the job file that proposes its new config, for `job diff` and `job plan`.
#[derive(Args)]
pub struct ProposedJob {
    /// CLUSTER/ROLE/ENV/NAME[/INSTANCES].
    pub job: String,
    /// The job file (Rhai) that defines the job.
    pub file: PathBuf,
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub bindings: Bindings,
}

#[derive(Subcommand)]
pub enum JobCommand {
    /// Create a job from the job file that defines it.
    #[command(
        after_help = "Example:\n  atoll job create devcluster/www-data/devel/hello examples/hello_world.rhai --wait-until RUNNING"
    )]
    Create {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        /// The job file (Rhai) that defines the job.
        file: PathBuf,
        /// Wait until every instance is in this state (FINISHED: has ended).
        #[arg(long, value_enum)]
        wait_until: Option<WaitUntil>,
        /// Give up waiting after this many seconds (exit 9).
        #[arg(long, default_value_t = 300)]
        wait_timeout_secs: u64,
        #[command(flatten)]
        bindings: Bindings,
    },
    /// Show the status of each instance of a job: its current task, and with --history its
    /// earlier ones.
    #[command(after_help = "Examples:\n  atoll job status devcluster/www-data/devel/hello --history\n  \
        atoll job status devcluster/www-data/devel/hello --json     # earlier tasks under \"history\"\n\n\
        One instance's every state, with times and messages: atoll task events JOBKEY/INSTANCE")]
    Status {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        /// Also show each instance's earlier tasks, with their end states, times and messages.
        #[arg(long)]
        history: bool,
        /// Print JSON for scripts instead of a table (earlier tasks included).
        #[arg(long)]
        json: bool,
    },
    /// Show a job with every default filled in: from its job file, or as the scheduler has it.
    #[command(
        after_help = "Examples:\n  atoll job inspect devcluster/www-data/devel/hello examples/hello_world.rhai\n  \
        atoll job inspect devcluster/www-data/devel/hello --json     # the scheduler's copy"
    )]
    Inspect {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        /// The job file that defines the job; without it, the scheduler's stored config is shown.
        file: Option<PathBuf>,
        /// Print JSON for scripts instead of a listing.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        bindings: Bindings,
    },
    /// List the jobs of a cluster, optionally of one role and environment.
    #[command(after_help = "Example:\n  atoll job list devcluster/www-data")]
    List {
        /// CLUSTER[/ROLE[/ENV]].
        prefix: String,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Kill some instances of a job and wait for them to stop.
    #[command(after_help = "Example:\n  atoll job kill devcluster/www-data/devel/hello/0,2-3")]
    Kill {
        /// CLUSTER/ROLE/ENV/NAME/INSTANCES, instances as ids and ranges: 0,2-3.
        instances: String,
        /// Give up waiting after this many seconds (exit 9).
        #[arg(long, default_value_t = 120)]
        wait_timeout_secs: u64,
    },
    /// Explain one instance: why it is PENDING (each reason with the hosts it excluded), or
    /// its state and last event.
    #[command(after_help = "Example:\n  atoll job why devcluster/www-data/devel/hello/0")]
    Why {
        /// CLUSTER/ROLE/ENV/NAME/INSTANCE.
        instance: String,
        /// Print JSON for scripts instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Restart instances (all of them without INSTANCES) in batches, and wait until each runs
    /// a new task. Each batch starts once the previous batch's replacements are RUNNING.
    #[command(after_help = "Example:\n  atoll job restart devcluster/www-data/devel/hello/0-3 --batch-size 2")]
    Restart {
        /// CLUSTER/ROLE/ENV/NAME[/INSTANCES].
        instances: String,
        /// Instances restarted at a time.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        batch_size: u32,
        /// Give up waiting after this many seconds (exit 9); the restart carries on.
        #[arg(long, default_value_t = 300)]
        wait_timeout_secs: u64,
    },
    /// Add instances to a job, each a copy of INSTANCE's config, numbered after the last.
    #[command(after_help = "Example:\n  atoll job add devcluster/www-data/devel/hello/0 2")]
    Add {
        /// CLUSTER/ROLE/ENV/NAME/INSTANCE: the instance to copy.
        instance: String,
        /// How many instances to add.
        count: u32,
    },
    /// Show what updating a job to its job file would change.
    ///
    /// Field by field for each config its instances run, and the instances it would add or
    /// remove. Nothing changes.
    #[command(after_help = "Example:\n  atoll job diff devcluster/www-data/prod/web web.rhai")]
    Diff(ProposedJob),
    /// Dry-run updating a job to its job file: where each new task would go.
    ///
    /// Runs the update on a copy of the cluster: the diff, then which instances would be created,
    /// replaced or removed, where each new task would go, what would be preempted, and why what
    /// cannot be placed cannot. Nothing changes; if nothing else does either, `atoll update
    /// start` then makes the same decisions.
    #[command(after_help = "Example:\n  atoll job plan devcluster/www-data/prod/web web.rhai")]
    Plan(ProposedJob),
    /// Kill every instance of a job, wait for them to stop, and remove the job.
    #[command(after_help = "Example:\n  atoll job killall devcluster/www-data/devel/hello")]
    Killall {
        /// CLUSTER/ROLE/ENV/NAME.
        job: String,
        /// Give up waiting after this many seconds (exit 9).
        #[arg(long, default_value_t = 120)]
        wait_timeout_secs: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_weights_and_guarantees_are_read_with_words_for_mistakes() {
        assert_eq!(parse_role_weight("analytics=2"), Ok(("analytics".to_owned(), 2.0)));
        assert!(parse_role_weight("analytics=0").unwrap_err().contains("more than 0"));
        assert!(parse_role_weight("analytics").unwrap_err().contains("ROLE=WEIGHT"));
        let (role, promised) = parse_role_guarantee("prod=cpus:8;mem:16384").unwrap();
        assert_eq!((role.as_str(), promised.cpu, promised.ram_mb, promised.disk_mb), ("prod", 8.0, 16384, 0));
        assert!(parse_role_guarantee("prod=cpus:-1").unwrap_err().contains("0 or more"));
        assert!(parse_role_guarantee("prod=ram:1").unwrap_err().contains("unknown resource 'ram'"));
        assert!(parse_role_guarantee("=cpus:1").unwrap_err().contains("names no role"));
    }
}

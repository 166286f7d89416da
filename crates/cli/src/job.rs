//! `atoll job …`: create, status, why, list, diff, plan, kill, killall, restart and add.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use atoll_client::{ApiErrorKind, ClientError, Clusters, SchedulerClient};
use atoll_model::event::EventFilter;
use atoll_model::{InstanceSet, JobKey, JobKeyPrefix, TaskState};
use atoll_proto::v1;

use crate::args::{JobCommand, ProposedJob, SchedulerTarget, WaitUntil};
use crate::exit::{CliError, CliResult, ExitCode};
use crate::wakeups::Wakeups;
use crate::{jobfile, plan, render};

/// How often waiting commands ask the scheduler for news when it has no event stream.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

pub async fn run(command: JobCommand, target: &SchedulerTarget) -> CliResult {
    match command {
        JobCommand::Create { job, file, wait_until, wait_timeout_secs, bindings } => {
            let key: JobKey = job.parse()?;
            let spec = jobfile::job(&file, &bindings, &key)?;
            let client = connect(target, &key.cluster).await?;
            create(&client, &spec, &file).await?;
            if let Some(wanted) = wait_until {
                wait_for(&client, &key, wanted, Duration::from_secs(wait_timeout_secs)).await?;
            }
            Ok(())
        }
        JobCommand::Status { job, history, json } => {
            let key: JobKey = job.parse()?;
            let client = connect(target, &key.cluster).await?;
            let tasks = client.tasks(&key, history || json).await?;
            if json {
                println!("{}", render::status_json(&key.to_string(), &tasks));
            } else {
                println!("{}", render::status_table(&key.to_string(), &tasks, history));
            }
            Ok(())
        }
        JobCommand::Inspect { job, file, json, bindings } => {
            let key: JobKey = job.parse()?;
            let spec = match file {
                Some(file) => jobfile::job(&file, &bindings, &key)?,
                None => connect(target, &key.cluster).await?.job_config(&key).await?,
            };
            if json {
                println!("{}", render::inspect_json(&spec));
            } else {
                println!("{}", render::inspect_text(&spec));
            }
            Ok(())
        }
        JobCommand::List { prefix, json } => {
            let prefix: JobKeyPrefix = prefix.parse()?;
            let client = connect(target, &prefix.cluster).await?;
            let jobs = client.list_jobs(&prefix).await?;
            if json {
                println!("{}", render::list_json(&jobs));
            } else {
                println!("{}", render::list_table(&jobs));
            }
            Ok(())
        }
        JobCommand::Kill { instances, wait_timeout_secs } => {
            let (key, instances) = parse_instances(&instances)?;
            let client = connect(target, &key.cluster).await?;
            kill(&client, &key, Some(&instances.0), Duration::from_secs(wait_timeout_secs)).await
        }
        JobCommand::Killall { job, wait_timeout_secs } => {
            let key: JobKey = job.parse()?;
            let client = connect(target, &key.cluster).await?;
            kill(&client, &key, None, Duration::from_secs(wait_timeout_secs)).await
        }
        JobCommand::Why { instance, json } => {
            let (key, instance) = parse_instance(&instance)?;
            let client = connect(target, &key.cluster).await?;
            let tasks = client.tasks(&key, false).await?;
            let task = tasks.iter().find(|t| t.instance == instance).ok_or_else(|| {
                CliError::invalid_parameter(format!(
                    "job {key} has no instance {instance}; see `atoll job status {key}`"
                ))
            })?;
            let name = format!("{key}/{instance}");
            println!(
                "{}",
                if json { render::why_json(&name, task).to_string() } else { render::why_text(&name, task) }
            );
            Ok(())
        }
        JobCommand::Diff(proposed) => {
            let (spec, scope, client) = proposal(&proposed, target).await?;
            let response = client.diff(&spec, scope.as_ref()).await.map_err(refusal)?;
            let shown = proposed.file.display().to_string();
            if proposed.json {
                println!("{}", plan::diff_json(&spec, &response));
            } else {
                println!("{}", plan::diff_text(&spec, &shown, &response));
            }
            Ok(())
        }
        JobCommand::Plan(proposed) => {
            let (spec, scope, client) = proposal(&proposed, target).await?;
            let response = client.plan(&spec, scope.as_ref()).await.map_err(refusal)?;
            let shown = proposed.file.display().to_string();
            if proposed.json {
                println!("{}", plan::plan_json(&spec, &response));
            } else {
                println!("{}", plan::plan_text(&spec, &shown, &response));
            }
            Ok(())
        }
        JobCommand::Restart { instances, batch_size, wait_timeout_secs } => {
            let (key, instances) = parse_scope(&instances)?;
            let client = connect(target, &key.cluster).await?;
            let restarted = client.restart(&key, instances.as_ref(), batch_size).await.map_err(refusal)?;
            wait_for_restart(&client, &key, &restarted, batch_size, Duration::from_secs(wait_timeout_secs)).await
        }
        JobCommand::Add { instance, count } => {
            let (key, instance) = parse_instance(&instance)?;
            let client = connect(target, &key.cluster).await?;
            let added = client.add_instances(&key, instance, count).await.map_err(refusal)?;
            let ids: Vec<String> = added.iter().map(|(i, _)| i.to_string()).collect();
            println!(
                "Added {} instance(s) to {key} as copies of instance {instance}: {}. Watch them with: atoll job status {key}",
                added.len(),
                ids.join(",")
            );
            Ok(())
        }
    }
}

/// The job a `job diff` or `job plan` names, read from its file, the instances named, and a
/// connection to its cluster's scheduler.
async fn proposal(
    proposed: &ProposedJob,
    target: &SchedulerTarget,
) -> Result<(atoll_model::JobSpec, Option<BTreeSet<u32>>, SchedulerClient), CliError> {
    let (key, scope) = parse_scope(&proposed.job)?;
    let spec = jobfile::job(&proposed.file, &proposed.bindings, &key)?;
    let client = connect(target, &key.cluster).await?;
    Ok((spec, scope, client))
}

/// What the scheduler refused: a bad parameter (INVALID_ARGUMENT), or a request it cannot
/// carry out now (quota, a restart under way).
fn refusal(e: ClientError) -> CliError {
    match e {
        ClientError::Api { kind: ApiErrorKind::InvalidArgument, message } => CliError::invalid_parameter(message),
        ClientError::Api { kind: ApiErrorKind::ResourceExhausted | ApiErrorKind::FailedPrecondition, message } => {
            CliError::failed(message)
        }
        other => CliError::from(other),
    }
}

/// Splits `CLUSTER/ROLE/ENV/NAME[/INSTANCES]`: a job, and the instances named (None: all).
pub fn parse_scope(text: &str) -> Result<(JobKey, Option<BTreeSet<u32>>), CliError> {
    match text.parse::<JobKey>() {
        Ok(key) => Ok((key, None)),
        Err(_) => parse_instances(text).map(|(key, set)| (key, Some(set.0))),
    }
}

/// Splits `CLUSTER/ROLE/ENV/NAME/INSTANCE` naming exactly one instance.
fn parse_instance(text: &str) -> Result<(JobKey, u32), CliError> {
    let (key, set) = parse_instances(text)?;
    match set.0.iter().copied().collect::<Vec<_>>()[..] {
        [one] => Ok((key, one)),
        _ => Err(CliError::invalid_parameter(format!(
            "invalid instance '{text}': name one instance, e.g. devcluster/www-data/devel/hello/0"
        ))),
    }
}

/// Waits until every restarted instance runs a task other than the one it replaced.
async fn wait_for_restart(
    client: &SchedulerClient,
    key: &JobKey,
    restarted: &[(u32, String)],
    batch_size: u32,
    timeout: Duration,
) -> CliResult {
    if restarted.is_empty() {
        println!("No instance of {key} runs on an agent; nothing to restart.");
        return Ok(());
    }
    eprintln!("Restarting {} instance(s) of {key}, {batch_size} at a time…", restarted.len());
    let mut done: BTreeSet<u32> = BTreeSet::new();
    watch_tasks(client, key, false, timeout, |tasks| {
        for (instance, old) in restarted {
            if done.contains(instance) {
                continue;
            }
            let Some(task) = tasks.iter().find(|t| t.instance == *instance) else {
                done.insert(*instance);
                continue;
            };
            let state = atoll_proto::task_state(task.state);
            if task.task_id != *old && state.is_ok_and(|s| s == TaskState::Running || s.is_terminal()) {
                eprintln!("  {key}/{instance}: {} as {}", render::state_name(task.state), task.task_id);
                done.insert(*instance);
            }
        }
        if done.len() == restarted.len() {
            println!("Restarted {} instance(s) of {key}.", restarted.len());
            return Look::Done(Ok(()));
        }
        Look::NotYet(format!(
            ": {} of {} instance(s) of {key} restarted; the restart carries on",
            done.len(),
            restarted.len()
        ))
    })
    .await
}

/// What one look at a job's tasks found, while waiting for them.
enum Look {
    /// The wait is over, with this result.
    Done(CliResult),
    /// Not yet; what a timeout now would say is still awaited, after "timed out after N s".
    NotYet(String),
}

/// Looks at `key`'s tasks (every run kept, with `history`) now and after each event of the job
/// (every [`POLL_INTERVAL`] from a scheduler without an event stream) until `look` is done, or
/// fails with [`ExitCode::Timeout`] once `timeout` has passed.
async fn watch_tasks(
    client: &SchedulerClient,
    key: &JobKey,
    history: bool,
    timeout: Duration,
    mut look: impl FnMut(&[v1::TaskStatus]) -> Look,
) -> CliResult {
    let started = Instant::now();
    // Subscribed before the first look, so nothing that happens after it goes unseen.
    let mut wakeups = Wakeups::subscribe(client, &EventFilter::job(key), POLL_INTERVAL).await;
    loop {
        let tasks = client.tasks(key, history).await?;
        match look(&tasks) {
            Look::Done(result) => return result,
            Look::NotYet(awaited) if started.elapsed() > timeout => {
                return Err(CliError::new(
                    ExitCode::Timeout,
                    format!("timed out after {} s{awaited}", timeout.as_secs()),
                ));
            }
            Look::NotYet(_) => {
                wakeups.next(timeout.saturating_sub(started.elapsed()) + POLL_INTERVAL).await;
            }
        }
    }
}

/// Connects to `--scheduler` if given, else to the cluster's scheduler from the clusters file.
/// A `--cluster` given as well must be the cluster the command is about.
pub async fn connect(target: &SchedulerTarget, cluster: &str) -> Result<SchedulerClient, CliError> {
    if let Some(named) = target.cluster.as_deref().filter(|named| *named != cluster) {
        return Err(CliError::invalid_parameter(format!(
            "--cluster {named} does not match the cluster this names, {cluster}; drop --cluster or name a job of {named}"
        )));
    }
    let clusters = Clusters::load_default()?;
    let address = match &target.scheduler {
        Some(address) => address.clone(),
        None => clusters.scheduler(cluster)?.to_owned(),
    };
    let credentials = clusters.credentials(cluster)?;
    Ok(SchedulerClient::connect(&address, &credentials).await?)
}

/// Splits `CLUSTER/ROLE/ENV/NAME/INSTANCES`.
fn parse_instances(text: &str) -> Result<(JobKey, InstanceSet), CliError> {
    let Some((job, instances)) = text.rsplit_once('/') else {
        return Err(CliError::invalid_parameter(format!(
            "invalid instances '{text}': expected CLUSTER/ROLE/ENV/NAME/INSTANCES, e.g. devcluster/www-data/devel/hello/0,2-3"
        )));
    };
    let key: JobKey = job.parse().map_err(|_| {
        CliError::invalid_parameter(format!(
            "invalid instances '{text}': expected CLUSTER/ROLE/ENV/NAME/INSTANCES, e.g. devcluster/www-data/devel/hello/0,2-3"
        ))
    })?;
    let instances: InstanceSet =
        instances.parse().map_err(|e: atoll_model::InstanceSetError| CliError::invalid_parameter(e.to_string()))?;
    Ok((key, instances))
}

pub async fn create(client: &SchedulerClient, spec: &atoll_model::JobSpec, file: &Path) -> CliResult {
    if spec.cron_schedule.is_some() && !spec.config.service {
        // As Aurora's client: a cron job is a template, scheduled rather than created.
        return Err(CliError::failed(format!(
            "{} is a cron job (cron_schedule \"{}\"): cron jobs are scheduled, not created; run \
             atoll cron schedule {} {}",
            spec.key,
            spec.cron_schedule.as_deref().unwrap_or_default(),
            spec.key,
            file.display()
        )));
    }
    let ids = client.create_job(spec).await.map_err(|e| match e {
        // The scheduler refused the job itself (say, a cluster it does not run): a config problem.
        ClientError::Api { kind: ApiErrorKind::InvalidArgument, message } => {
            CliError::new(ExitCode::InvalidConfig, message)
        }
        // Past the role's production quota.
        ClientError::Api { kind: ApiErrorKind::ResourceExhausted, message } => CliError::failed(message),
        other => CliError::from(other),
    })?;
    println!(
        "Job {} created from {}: {} instance(s). Watch it with: atoll job status {}",
        spec.key,
        file.display(),
        ids.len(),
        spec.key
    );
    Ok(())
}

fn reached(wanted: WaitUntil, state: TaskState) -> bool {
    match wanted {
        WaitUntil::Pending => true,
        WaitUntil::Running => state == TaskState::Running || state.is_terminal(),
        WaitUntil::Finished => state.is_terminal(),
    }
}

/// Waits until every instance of `key` has reached `wanted`, printing each change.
async fn wait_for(client: &SchedulerClient, key: &JobKey, wanted: WaitUntil, timeout: Duration) -> CliResult {
    // How many events of each run have been printed: every state a run passes through is
    // printed once, even those that came and went between two polls.
    let mut printed: BTreeMap<String, usize> = BTreeMap::new();
    watch_tasks(client, key, true, timeout, |runs| {
        let mut fresh: Vec<(u64, String)> = Vec::new();
        for run in runs {
            let seen = printed.entry(run.task_id.clone()).or_default();
            for event in run.events.iter().skip(*seen) {
                if atoll_proto::task_state(event.state).is_ok_and(|s| s != TaskState::Init) {
                    fresh.push((event.at_ms, render::event_line(key, run.instance, event)));
                }
            }
            *seen = run.events.len();
        }
        fresh.sort();
        for (_, line) in fresh {
            eprintln!("{line}");
        }
        let current: Vec<v1::TaskStatus> = render::by_instance(runs).into_iter().map(|(t, _)| t.clone()).collect();
        let states: Vec<TaskState> = current.iter().filter_map(|t| atoll_proto::task_state(t.state).ok()).collect();
        if !states.is_empty() && states.iter().all(|s| reached(wanted, *s)) {
            return Look::Done(check_waited_outcome(key, wanted, &current));
        }
        Look::NotYet(format!(" waiting for {key} to be {wanted:?}{}", failures_meanwhile(runs)))
    })
    .await
}

/// What a wait that timed out should add: how many runs failed or were lost meanwhile, and
/// the newest one's words; nothing when none did.
fn failures_meanwhile(runs: &[v1::TaskStatus]) -> String {
    let failed: Vec<&v1::TaskStatus> = runs
        .iter()
        .filter(|run| {
            atoll_proto::task_state(run.state).is_ok_and(|s| matches!(s, TaskState::Failed | TaskState::Lost))
        })
        .collect();
    let newest = failed.iter().max_by_key(|run| run.events.last().map_or(0, |e| e.at_ms));
    match newest {
        None => String::new(),
        Some(run) => format!(
            "; {} run(s) failed or were lost meanwhile, the newest (instance {}): {}",
            failed.len(),
            run.instance,
            run.events.last().map_or("", |e| e.message.as_str())
        ),
    }
}

/// Waiting for RUNNING succeeds only if every instance runs; a task that ended fails it.
fn check_waited_outcome(key: &JobKey, wanted: WaitUntil, tasks: &[v1::TaskStatus]) -> CliResult {
    if wanted == WaitUntil::Running {
        let ended: Vec<String> = tasks
            .iter()
            .filter(|t| atoll_proto::task_state(t.state).is_ok_and(TaskState::is_terminal))
            .map(|t| format!("{key}/{} is {}", t.instance, render::state_name(t.state)))
            .collect();
        if !ended.is_empty() {
            return Err(CliError::failed(format!("{}; see `atoll job status {key}`", ended.join(", "))));
        }
    }
    Ok(())
}

async fn kill(
    client: &SchedulerClient,
    key: &JobKey,
    instances: Option<&BTreeSet<u32>>,
    timeout: Duration,
) -> CliResult {
    let killed: BTreeSet<String> = client
        .kill(key, instances)
        .await
        .map_err(|e| match e {
            // Instances the job does not have.
            ClientError::Api { kind: ApiErrorKind::InvalidArgument, message } => CliError::invalid_parameter(message),
            other => CliError::from(other),
        })?
        .into_iter()
        .collect();
    if killed.is_empty() {
        println!("No active instances of {key} to kill.");
        return Ok(());
    }
    eprintln!("Killing {} task(s) of {key}…", killed.len());
    watch_tasks(client, key, true, timeout, |tasks| {
        let remaining = tasks
            .iter()
            .filter(|t| killed.contains(&t.task_id))
            .filter(|t| atoll_proto::task_state(t.state).is_ok_and(|s| !s.is_terminal()))
            .count();
        if remaining == 0 {
            println!("Killed {} task(s) of {key}.", killed.len());
            return Look::Done(Ok(()));
        }
        Look::NotYet(format!(": {remaining} task(s) of {key} are still stopping"))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_follow_the_job_key() {
        let (key, set) = parse_instances("devcluster/www-data/devel/hello/0,2-3").unwrap();
        assert_eq!(key.name, "hello");
        assert_eq!(set.0.into_iter().collect::<Vec<_>>(), vec![0, 2, 3]);
        let err = parse_instances("devcluster/www-data/hello/0").unwrap_err();
        assert_eq!(err.code, ExitCode::InvalidParameter);
        assert!(err.message.contains("CLUSTER/ROLE/ENV/NAME/INSTANCES"), "{}", err.message);
        let err = parse_instances("devcluster/www-data/devel/hello/x").unwrap_err();
        assert!(err.message.contains("'x' is not an instance id"), "{}", err.message);
    }

    #[test]
    fn why_and_add_name_exactly_one_instance() {
        let (key, instance) = parse_instance("devcluster/www-data/devel/hello/3").unwrap();
        assert_eq!((key.name.as_str(), instance), ("hello", 3));
        let err = parse_instance("devcluster/www-data/devel/hello/0-1").unwrap_err();
        assert_eq!(err.code, ExitCode::InvalidParameter);
        assert!(err.message.contains("name one instance"), "{}", err.message);
    }

    #[test]
    fn a_timed_out_wait_says_how_many_runs_failed_and_the_newest_ones_words() {
        let run = |instance: u32, state: TaskState, at_ms: u64, message: &str| v1::TaskStatus {
            instance,
            state: v1::TaskState::from(state) as i32,
            events: vec![v1::TaskEvent { at_ms, state: v1::TaskState::from(state) as i32, message: message.into() }],
            ..Default::default()
        };
        assert_eq!(failures_meanwhile(&[run(0, TaskState::Running, 5, "")]), "");
        let runs = [
            run(0, TaskState::Failed, 10, "Process 'web' failed with exit code 1"),
            run(1, TaskState::Lost, 30, "Agent agent-1 stopped sending heartbeats"),
            run(0, TaskState::Throttled, 40, "Rescheduled"),
        ];
        assert_eq!(
            failures_meanwhile(&runs),
            "; 2 run(s) failed or were lost meanwhile, the newest (instance 1): Agent agent-1 stopped sending heartbeats"
        );
    }
}

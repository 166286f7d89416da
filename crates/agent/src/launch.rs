//! The launch the scheduler sent, read off the wire whole: the inverse of
//! `atoll_proto::launch_to_wire`, which builds it once from the task's own config version.

use atoll_model::{ConfigId, JobSpec, TaskConfig, TaskId, TaskSpec};
use atoll_proto::{WireError, v1};
use atoll_sandbox::Launch;

/// The task the scheduler launches, as it sent it; the error says what is wrong with it.
///
/// The task's config arrives whole (`LaunchTask.config`). A scheduler older than that field
/// sent only the parts its executors used (the task, health check, lifecycle and announcer):
/// the rest of the config then takes its defaults, as those executors ran it.
pub(crate) fn launch_from_wire(wire: &v1::LaunchTask) -> Result<Launch, String> {
    let config = match &wire.config {
        Some(config) => JobSpec::try_from(config).map_err(invalid)?.config,
        None => config_from_parts(wire)?,
    };
    let config_version = match wire.config_version.as_str() {
        "" => None,
        id => Some(id.parse::<ConfigId>().map_err(|e| format!("the scheduler sent an invalid launch: {e}"))?),
    };
    Ok(Launch {
        task_id: TaskId(wire.task_id.clone()),
        job: atoll_proto::job_key(wire.job.as_ref()).map_err(invalid)?,
        instance: wire.instance,
        ports: atoll_proto::ports_from_wire(&wire.ports).map_err(invalid)?,
        config,
        config_version,
    })
}

/// The config of a launch from a scheduler that sent it in parts.
fn config_from_parts(wire: &v1::LaunchTask) -> Result<TaskConfig, String> {
    let task = wire.task.as_ref().ok_or("the scheduler sent a launch without a task")?;
    Ok(TaskConfig {
        health_check_config: atoll_proto::health_check_from_wire(wire.health_check_config.as_ref()),
        lifecycle: atoll_proto::lifecycle_from_wire(wire.lifecycle.as_ref()),
        announce: wire.announce.as_ref().map(atoll_proto::announcer_from_wire).transpose().map_err(invalid)?,
        ..TaskConfig::new(TaskSpec::try_from(task).map_err(invalid)?)
    })
}

fn invalid(error: WireError) -> String {
    format!("the scheduler sent an invalid launch: {error}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use atoll_model::config::{Announcer, PartitionPolicy, PortTarget};
    use atoll_model::{
        AgentId, Assignment, ConfigVersion, Constraint, JobKey, ProcessSpec, Resources, ScheduledTask, TaskState,
    };

    use super::*;

    /// A task of a service with every config field the executor does not read set away from
    /// its default, so a launch that dropped one would show.
    fn task() -> ScheduledTask {
        let spec = TaskSpec::new(
            vec![ProcessSpec::new("web", "serve --port {{thermos.ports[http]}}")],
            Resources { cpu: 0.5, ram_mb: 64, disk_mb: 64, gpu: 0 },
        );
        let mut config = TaskConfig::new(spec);
        config.service = true;
        config.priority = 7;
        config.tier = Some("preferred".into());
        config.constraints = vec![Constraint::parse("rack", "!r1").expect("a constraint")];
        config.partition_policy = Some(PartitionPolicy { reschedule: false, delay_secs: 30 });
        config.announce = Some(Announcer {
            primary_port: "http".into(),
            portmap: BTreeMap::from([("admin".into(), PortTarget::Static(8080))]),
            zk_path: None,
        });
        ScheduledTask {
            id: TaskId("www-data-prod-web-2-abc-7".into()),
            job: JobKey::new("devcluster", "www-data", "prod", "web").expect("a job key"),
            instance: 2,
            config: ConfigVersion::new(config),
            state: TaskState::Assigned,
            assignment: Some(Assignment {
                agent: AgentId("agent-1".into()),
                hostname: "host1".into(),
                ports: BTreeMap::from([("http".into(), 31000)]),
            }),
            sandbox: None,
            exit_code: None,
            failure_count: 0,
            ancestor: None,
            not_before_ms: 0,
            events: Vec::new(),
        }
    }

    #[test]
    fn a_launch_arrives_with_the_tasks_whole_config_and_its_version() {
        let task = task();
        let launch = launch_from_wire(&atoll_proto::launch_to_wire(&task)).expect("a valid launch");
        let expected = Launch {
            task_id: task.id.clone(),
            job: task.job.clone(),
            instance: 2,
            ports: BTreeMap::from([("http".into(), 31000)]),
            config: task.config.config().clone(),
            config_version: Some(task.config.id()),
        };
        assert_eq!(launch, expected);
    }

    #[test]
    fn a_launch_from_an_older_scheduler_is_put_together_from_its_parts() {
        let task = task();
        let mut wire = atoll_proto::launch_to_wire(&task);
        wire.config = None;
        let launch = launch_from_wire(&wire).expect("a valid launch");
        let sent = task.config.config();
        assert_eq!(launch.config.task, sent.task);
        assert_eq!(launch.config.announce, sent.announce);
        assert_eq!(launch.config.health_check_config, sent.health_check_config);
        assert_eq!(launch.config.lifecycle, sent.lifecycle);
        assert!(!launch.config.service, "what such a scheduler did not send takes its default");
        wire.task = None;
        assert_eq!(launch_from_wire(&wire).expect_err("no task"), "the scheduler sent a launch without a task");
    }

    #[test]
    fn an_invalid_launch_says_what_is_wrong() {
        let mut wire = atoll_proto::launch_to_wire(&task());
        wire.ports.insert("http".into(), 70_000);
        let error = launch_from_wire(&wire).expect_err("not a port");
        assert!(error.starts_with("the scheduler sent an invalid launch: "), "{error}");
        assert!(error.contains("70000 is not a port"), "{error}");
        let mut wire = atoll_proto::launch_to_wire(&task());
        wire.config_version = "abc".into();
        let error = launch_from_wire(&wire).expect_err("not a config id");
        assert!(error.contains("'abc' is not a config id"), "{error}");
    }
}

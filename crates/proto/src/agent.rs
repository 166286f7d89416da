//! Conversions of agent resources, port maps and launches.

use std::collections::{BTreeMap, HashMap};

use atoll_model as model;

use crate::{WireError, v1};

impl From<&model::AgentResources> for v1::AgentResources {
    fn from(r: &model::AgentResources) -> v1::AgentResources {
        v1::AgentResources {
            cpus: r.cpus,
            mem_mb: r.mem_mb,
            disk_mb: r.disk_mb,
            gpus: r.gpus,
            ports: r.ports.iter().map(|p| v1::PortRange { begin: p.begin.into(), end: p.end.into() }).collect(),
        }
    }
}

impl TryFrom<&v1::AgentResources> for model::AgentResources {
    type Error = WireError;

    fn try_from(r: &v1::AgentResources) -> Result<model::AgentResources, WireError> {
        let port = |p: u32| {
            u16::try_from(p).map_err(|_| WireError { field: "agent ports", reason: format!("{p} is not a port") })
        };
        let ports = r
            .ports
            .iter()
            .map(|p| Ok(model::PortRange { begin: port(p.begin)?, end: port(p.end)? }))
            .collect::<Result<Vec<_>, WireError>>()?;
        if !r.cpus.is_finite() || r.cpus < 0.0 {
            return Err(WireError { field: "agent cpus", reason: format!("{} is not a cpu count", r.cpus) });
        }
        Ok(model::AgentResources { cpus: r.cpus, mem_mb: r.mem_mb, disk_mb: r.disk_mb, gpus: r.gpus, ports })
    }
}

/// The launch of `task` as an agent receives it, built once, from the task's own config
/// version: its whole config in `config` (a `JobConfig` of the task's job without job-level
/// fields), and beside it the parts agents older than that field read.
pub fn launch_to_wire(task: &model::ScheduledTask) -> v1::LaunchTask {
    let config = &task.config;
    let whole = model::JobSpec {
        key: task.job.clone(),
        instances: 0,
        cron_schedule: None,
        cron_collision_policy: model::config::CronCollisionPolicy::default(),
        cron_timezone: None,
        cron_starting_deadline_secs: None,
        update_config: model::config::UpdateConfig::default(),
        config: config.config().clone(),
    };
    let whole = v1::JobConfig {
        cron_collision_policy: v1::CronCollisionPolicy::Unspecified as i32,
        update_config: None,
        ..v1::JobConfig::from(&whole)
    };
    v1::LaunchTask {
        task_id: task.id.0.clone(),
        job: Some((&task.job).into()),
        instance: task.instance,
        task: Some((&config.task).into()),
        ports: task.assignment.as_ref().map(|a| ports_to_wire(&a.ports)).unwrap_or_default(),
        health_check_config: Some(crate::health_check_to_wire(&config.health_check_config)),
        lifecycle: Some(crate::lifecycle_to_wire(&config.lifecycle)),
        announce: config.announce.as_ref().map(crate::announcer_to_wire),
        config_version: config.id().to_string(),
        config: Some(whole),
    }
}

/// Converts a port map to its wire form.
pub fn ports_to_wire(ports: &BTreeMap<String, u16>) -> HashMap<String, u32> {
    ports.iter().map(|(name, port)| (name.clone(), u32::from(*port))).collect()
}

/// Reads a port map, rejecting numbers that are not ports.
pub fn ports_from_wire(ports: &HashMap<String, u32>) -> Result<BTreeMap<String, u16>, WireError> {
    ports
        .iter()
        .map(|(name, port)| {
            u16::try_from(*port)
                .map(|p| (name.clone(), p))
                .map_err(|_| WireError { field: "ports", reason: format!("{port} is not a port") })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_carries_the_tasks_whole_config_and_the_parts_older_agents_read() {
        let spec = model::TaskSpec::new(
            vec![model::ProcessSpec::new("web", "serve")],
            model::Resources { cpu: 0.5, ram_mb: 64, disk_mb: 64, gpu: 0 },
        );
        let mut config = model::TaskConfig::new(spec);
        config.priority = 3;
        config.production = true;
        config.metadata = vec![model::config::Metadata { key: "team".into(), value: "web".into() }];
        let task = model::ScheduledTask {
            id: model::TaskId("www-data-prod-web-0-abc-1".into()),
            job: "devcluster/www-data/prod/web".parse().expect("a job key"),
            instance: 0,
            config: model::ConfigVersion::new(config.clone()),
            state: model::TaskState::Assigned,
            assignment: None,
            sandbox: None,
            exit_code: None,
            failure_count: 0,
            ancestor: None,
            not_before_ms: 0,
            events: Vec::new(),
        };
        let wire = launch_to_wire(&task);
        let whole = wire.config.as_ref().expect("the whole config");
        assert_eq!((whole.instances, whole.cron_collision_policy, whole.update_config.as_ref()), (0, 0, None));
        let sent = model::JobSpec::try_from(whole).expect("a valid config");
        assert_eq!((&sent.key, &sent.config), (&task.job, &config));
        assert_eq!(wire.task, Some((&config.task).into()), "the task, for agents older than `config`");
        assert_eq!(wire.config_version, task.config.id().to_string());
    }
}

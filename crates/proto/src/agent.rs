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

/// The launch of `task` as an agent receives it, built from the task's own config version.
pub fn launch_to_wire(task: &model::ScheduledTask) -> v1::LaunchTask {
    let config = &task.config;
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

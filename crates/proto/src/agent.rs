//! Conversions of agent resources and port maps.

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

//! Host maintenance, Aurora's modes per agent: NONE, SCHEDULED (placed on last), DRAINING (takes
//! no new task) and DRAINED (draining, with no active task left). A drained host is reached only
//! through draining: the mode turns DRAINED when the host's last active task is gone, checked
//! when the mode is set and at every housekeeping tick.

use std::collections::BTreeSet;

use atoll_model::AgentId;
use atoll_placement::MaintenanceMode;

use crate::ClusterState;

/// A host's maintenance mode, as `atoll host status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMaintenance {
    pub host: String,
    /// `None` for a host the scheduler does not know.
    pub mode: Option<MaintenanceMode>,
}

impl ClusterState {
    /// Puts `hosts` (hostnames or agent ids) into `mode`. Asking for DRAINED drains: the host is
    /// DRAINING until no active task is left on it. Returns each host's mode afterwards; hosts the
    /// scheduler does not know are left alone and come back without a mode.
    pub fn set_maintenance(&mut self, hosts: &[String], mode: MaintenanceMode) -> Vec<HostMaintenance> {
        let mode = if mode == MaintenanceMode::Drained { MaintenanceMode::Draining } else { mode };
        for host in hosts {
            if let Some(id) = self.agent_named(host).cloned()
                && let Some(agent) = self.agents.get_mut(&id)
            {
                agent.maintenance = mode;
            }
        }
        self.finish_draining();
        self.maintenance(hosts)
    }

    /// The maintenance mode of each of `hosts`, or of every known agent when `hosts` is empty.
    pub fn maintenance(&self, hosts: &[String]) -> Vec<HostMaintenance> {
        if hosts.is_empty() {
            return self
                .agents
                .values()
                .map(|a| HostMaintenance { host: a.hostname.clone(), mode: Some(a.maintenance) })
                .collect();
        }
        hosts
            .iter()
            .map(|host| HostMaintenance {
                host: host.clone(),
                mode: self.agent_named(host).and_then(|id| self.agents.get(id)).map(|a| a.maintenance),
            })
            .collect()
    }

    /// DRAINING hosts with no active task left become DRAINED.
    pub(crate) fn finish_draining(&mut self) {
        let busy: BTreeSet<&AgentId> = self
            .tasks
            .values()
            .filter(|t| t.state.is_on_agent())
            .filter_map(|t| t.assignment.as_ref().map(|a| &a.agent))
            .collect();
        let drained: Vec<AgentId> = self
            .agents
            .values()
            .filter(|a| a.maintenance == MaintenanceMode::Draining && !busy.contains(&a.id))
            .map(|a| a.id.clone())
            .collect();
        for id in drained {
            if let Some(agent) = self.agents.get_mut(&id) {
                agent.maintenance = MaintenanceMode::Drained;
            }
        }
    }

    fn agent_named(&self, host: &str) -> Option<&AgentId> {
        self.agents.values().find(|a| a.hostname == host || a.id.0 == host).map(|a| &a.id)
    }
}

//! Host maintenance, Aurora's modes per host: NONE, SCHEDULED (placed on last), DRAINING (takes
//! no new task, and its tasks are moved off) and DRAINED (draining, with no active task left).
//!
//! Draining a host moves each task on it to DRAINING, which kills it; the KILLED task is
//! rescheduled, and placement keeps it off the host. A drained host is reached only through
//! draining: the mode turns DRAINED when the host's last active task is gone, checked when the
//! mode is set and at every housekeeping tick. Modes are kept by hostname and are durable, so
//! they survive a scheduler restart and an agent's absence.

use std::collections::BTreeSet;

use atoll_model::{AgentId, MaintenanceMode, TaskId, TaskState};

use crate::{ClusterState, Effect, Outcome};

/// A host's maintenance mode, as `atoll host status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMaintenance {
    pub host: String,
    /// `None` for a host the scheduler does not know.
    pub mode: Option<MaintenanceMode>,
}

impl ClusterState {
    /// Puts `hosts` (hostnames or agent ids) into `mode`. Asking for DRAINED drains: the host is
    /// DRAINING, its tasks are moved off, and it is DRAINED once none is left. Returns each
    /// host's mode afterwards, and the kills agents must carry out; hosts the scheduler does
    /// not know are left alone and come back without a mode.
    pub fn set_maintenance(
        &mut self,
        hosts: &[String],
        mode: MaintenanceMode,
        now_ms: u64,
    ) -> (Vec<HostMaintenance>, Outcome) {
        let mode = if mode == MaintenanceMode::Drained { MaintenanceMode::Draining } else { mode };
        let mut effects = Vec::new();
        for host in hosts {
            let Some(hostname) = self.known_host(host) else { continue };
            let current = self.host_mode(&hostname);
            if mode == MaintenanceMode::Draining && current == MaintenanceMode::Drained {
                continue;
            }
            if current != mode {
                self.put_host_mode(&hostname, mode);
                // Where placement may go, and what it prefers, has changed.
                self.placement_wanted = true;
            }
            if mode == MaintenanceMode::Draining {
                effects.extend(self.drain(&hostname, now_ms));
                let on_host: Vec<AgentId> =
                    self.agents.values().filter(|a| a.hostname == hostname).map(|a| a.id.clone()).collect();
                for agent in on_host {
                    effects.extend(self.rescind_offers_on(&agent, "its host is draining"));
                }
            }
        }
        self.finish_draining();
        (self.maintenance(hosts), self.outcome(effects))
    }

    /// The maintenance mode of each of `hosts`, or of every known host when `hosts` is empty.
    pub fn maintenance(&self, hosts: &[String]) -> Vec<HostMaintenance> {
        if hosts.is_empty() {
            let names: BTreeSet<&String> =
                self.agents.values().map(|a| &a.hostname).chain(self.host_modes.keys()).collect();
            return names
                .into_iter()
                .map(|host| HostMaintenance { host: host.clone(), mode: Some(self.host_mode(host)) })
                .collect();
        }
        hosts
            .iter()
            .map(|host| HostMaintenance {
                host: host.clone(),
                mode: self.known_host(host).map(|hostname| self.host_mode(&hostname)),
            })
            .collect()
    }

    /// The mode of the host named `hostname`; NONE unless set.
    pub(crate) fn host_mode(&self, hostname: &str) -> MaintenanceMode {
        self.host_modes.get(hostname).copied().unwrap_or_default()
    }

    fn put_host_mode(&mut self, hostname: &str, mode: MaintenanceMode) {
        if mode == MaintenanceMode::None {
            self.host_modes.remove(&hostname.to_owned());
        } else {
            self.host_modes.insert(hostname.to_owned(), mode);
        }
    }

    /// Moves every task bound to `hostname` that is not already stopping to DRAINING.
    fn drain(&mut self, hostname: &str, now_ms: u64) -> Vec<Effect> {
        let on_host: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.state.can_transition_to(TaskState::Draining))
            .filter(|t| t.assignment.as_ref().is_some_and(|a| a.hostname == hostname))
            .map(|t| t.id.clone())
            .collect();
        let message = format!("Draining host {hostname} for maintenance");
        on_host.iter().flat_map(|id| self.transition(id, TaskState::Draining, &message, now_ms)).collect()
    }

    /// DRAINING hosts with no active task left become DRAINED.
    pub(crate) fn finish_draining(&mut self) {
        let busy: BTreeSet<&str> = self
            .tasks
            .values()
            .filter(|t| t.state.is_on_agent())
            .filter_map(|t| t.assignment.as_ref().map(|a| a.hostname.as_str()))
            .collect();
        let drained: Vec<String> = self
            .host_modes
            .iter()
            .filter(|(host, mode)| **mode == MaintenanceMode::Draining && !busy.contains(host.as_str()))
            .map(|(host, _)| host.clone())
            .collect();
        for host in drained {
            self.put_host_mode(&host, MaintenanceMode::Drained);
        }
    }

    /// The hostname of a host known by hostname or agent id, from its agent or its mode.
    fn known_host(&self, host: &str) -> Option<String> {
        self.agents
            .values()
            .find(|a| a.hostname == host || a.id.0 == host)
            .map(|a| a.hostname.clone())
            .or_else(|| self.host_modes.contains_key(host).then(|| host.to_owned()))
    }
}

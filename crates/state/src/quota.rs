//! Production quota per role, as Aurora's `QuotaManager` keeps it: only production (preferred
//! tier) tasks off dedicated hosts count, and a job is refused at creation (or when instances
//! are added) if its role's production use would exceed the quota, with Aurora's message.
//!
//! A role without a quota has none, as in Aurora: it may run no production job until an
//! operator sets one (`atoll quota set`). `StateConfig::production_needs_quota` false lifts
//! that for roles without a quota, for `atoll dev`.

use atoll_model::{JobKey, ResourceAggregate, TaskConfig};

use crate::{ClusterState, Outcome, StateError};

/// A role's quota and what its active tasks take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaUsage {
    pub role: String,
    /// None: no quota is set (no production jobs, unless the scheduler does not require one).
    pub quota: Option<ResourceAggregate>,
    /// Production tasks off dedicated hosts: what counts against the quota.
    pub production: ResourceAggregate,
    /// Tasks on dedicated hosts, production or not.
    pub dedicated: ResourceAggregate,
    /// Other non-production tasks.
    pub non_production: ResourceAggregate,
}

impl ClusterState {
    /// Sets `role`'s production quota.
    pub fn set_quota(&mut self, role: &str, quota: ResourceAggregate) -> Outcome {
        self.quotas.insert(role.to_owned(), quota);
        self.outcome(Vec::new())
    }

    /// `role`'s quota and what its active tasks (pending ones included) take.
    pub fn quota(&self, role: &str) -> QuotaUsage {
        let mut usage = QuotaUsage {
            role: role.to_owned(),
            quota: self.quotas.get(role).copied(),
            production: ResourceAggregate::default(),
            dedicated: ResourceAggregate::default(),
            non_production: ResourceAggregate::default(),
        };
        for task in self.tasks.values().filter(|t| t.state.is_active() && t.job.role == role) {
            let config = &task.config;
            let bucket = if config.is_dedicated() {
                &mut usage.dedicated
            } else if config.is_production() {
                &mut usage.production
            } else {
                &mut usage.non_production
            };
            *bucket = bucket.plus(ResourceAggregate::of(&config.task.resources, 1));
        }
        usage
    }

    /// Refuses `instances` more tasks of `config` for `job` if they would take its role's
    /// production use past the quota.
    pub(crate) fn check_quota(&self, job: &JobKey, config: &TaskConfig, instances: u32) -> Result<(), StateError> {
        if !config.is_production() || config.is_dedicated() {
            return Ok(());
        }
        let usage = self.quota(&job.role);
        let Some(quota) = usage.quota else {
            if !self.config.production_needs_quota {
                return Ok(());
            }
            return Err(StateError::InsufficientQuota(format!(
                "role {role} has no quota for production jobs; an operator gives it one with \
                 `atoll quota set {cluster}/{role} CPU RAM DISK`",
                role = job.role,
                cluster = job.cluster
            )));
        };
        let requested = usage.production.plus(ResourceAggregate::of(&config.task.resources, u64::from(instances)));
        match quota.excess(&requested) {
            Some(details) => Err(StateError::InsufficientQuota(details)),
            None => Ok(()),
        }
    }
}

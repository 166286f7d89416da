//! Conversions of job keys, job and task configs, and task states.

use atoll_model as model;

use crate::config::*;
use crate::{WireError, missing, v1};

impl From<&model::JobKey> for v1::JobKey {
    fn from(k: &model::JobKey) -> v1::JobKey {
        v1::JobKey {
            cluster: k.cluster.clone(),
            role: k.role.clone(),
            environment: k.environment.clone(),
            name: k.name.clone(),
        }
    }
}

impl TryFrom<&v1::JobKey> for model::JobKey {
    type Error = WireError;

    fn try_from(k: &v1::JobKey) -> Result<model::JobKey, WireError> {
        model::JobKey::new(&k.cluster, &k.role, &k.environment, &k.name)
            .map_err(|e| WireError { field: "job key", reason: e.to_string() })
    }
}

/// Reads a required job key field.
pub fn job_key(k: Option<&v1::JobKey>) -> Result<model::JobKey, WireError> {
    model::JobKey::try_from(k.ok_or_else(|| missing("job key"))?)
}

impl From<&model::Resources> for v1::Resources {
    fn from(r: &model::Resources) -> v1::Resources {
        v1::Resources { cpu: r.cpu, ram_mb: r.ram_mb, disk_mb: r.disk_mb, gpu: r.gpu }
    }
}

impl From<&v1::Resources> for model::Resources {
    fn from(r: &v1::Resources) -> model::Resources {
        model::Resources { cpu: r.cpu, ram_mb: r.ram_mb, disk_mb: r.disk_mb, gpu: r.gpu }
    }
}

impl From<&model::TaskSpec> for v1::TaskConfig {
    fn from(t: &model::TaskSpec) -> v1::TaskConfig {
        v1::TaskConfig {
            name: t.name.clone(),
            processes: t
                .processes
                .iter()
                .map(|p| v1::ProcessConfig {
                    name: p.name.clone(),
                    cmdline: p.cmdline.clone(),
                    max_failures: p.max_failures,
                    daemon: p.daemon,
                    ephemeral: p.ephemeral,
                    min_duration_secs: p.min_duration,
                    r#final: p.is_final,
                    logger: Some(logger_to_wire(&p.logger)),
                })
                .collect(),
            order: t.order.iter().map(|chain| v1::ProcessOrder { processes: chain.clone() }).collect(),
            resources: Some((&t.resources).into()),
            max_failures: t.max_failures,
            max_concurrency: t.max_concurrency,
            finalization_wait_secs: t.finalization_wait,
            user: t.user.clone(),
        }
    }
}

impl TryFrom<&v1::TaskConfig> for model::TaskSpec {
    type Error = WireError;

    fn try_from(t: &v1::TaskConfig) -> Result<model::TaskSpec, WireError> {
        Ok(model::TaskSpec {
            name: t.name.clone(),
            processes: t
                .processes
                .iter()
                .map(|p| {
                    Ok(model::ProcessSpec {
                        name: p.name.clone(),
                        cmdline: p.cmdline.clone(),
                        max_failures: p.max_failures,
                        daemon: p.daemon,
                        ephemeral: p.ephemeral,
                        min_duration: p.min_duration_secs,
                        is_final: p.r#final,
                        logger: logger_from_wire(p.logger.as_ref())?,
                    })
                })
                .collect::<Result<_, WireError>>()?,
            order: t.order.iter().map(|o| o.processes.clone()).collect(),
            resources: t.resources.as_ref().map(Into::into).ok_or_else(|| missing("task resources"))?,
            max_failures: t.max_failures,
            max_concurrency: t.max_concurrency,
            finalization_wait: t.finalization_wait_secs,
            user: t.user.clone(),
        })
    }
}

impl From<&model::JobSpec> for v1::JobConfig {
    fn from(j: &model::JobSpec) -> v1::JobConfig {
        v1::JobConfig {
            key: Some((&j.key).into()),
            task: Some((&j.config.task).into()),
            instances: j.instances,
            service: j.config.service,
            contact: j.config.contact.clone(),
            tier: j.config.tier.clone(),
            priority: j.config.priority,
            production: j.config.production,
            max_task_failures: j.config.max_task_failures,
            cron_schedule: j.cron_schedule.clone(),
            cron_collision_policy: cron_policy_to_wire(j.cron_collision_policy) as i32,
            cron_timezone: j.cron_timezone.clone(),
            cron_starting_deadline_secs: j.cron_starting_deadline_secs,
            update_config: Some(update_config_to_wire(&j.update_config)),
            constraints: j.config.constraints.iter().map(constraint_to_wire).collect(),
            metadata: j
                .config
                .metadata
                .iter()
                .map(|m| v1::Metadata { key: m.key.clone(), value: m.value.clone() })
                .collect(),
            health_check_config: Some(health_check_to_wire(&j.config.health_check_config)),
            lifecycle: Some(lifecycle_to_wire(&j.config.lifecycle)),
            announce: j.config.announce.as_ref().map(announcer_to_wire),
            partition_policy: j
                .config
                .partition_policy
                .as_ref()
                .map(|p| v1::PartitionPolicy { reschedule: p.reschedule, delay_secs: p.delay_secs }),
            sla_policy: j.config.sla_policy.as_ref().map(sla_to_wire),
            container: j.config.container.as_ref().map(container_to_wire),
            custom_executor: j.config.custom_executor.as_ref().map(|e| v1::CustomExecutor { data: e.data.clone() }),
        }
    }
}

impl TryFrom<&v1::JobConfig> for model::JobSpec {
    type Error = WireError;

    fn try_from(j: &v1::JobConfig) -> Result<model::JobSpec, WireError> {
        let config = model::TaskConfig {
            task: model::TaskSpec::try_from(j.task.as_ref().ok_or_else(|| missing("task"))?)?,
            service: j.service,
            contact: j.contact.clone(),
            tier: j.tier.clone(),
            priority: j.priority,
            production: j.production,
            max_task_failures: j.max_task_failures,
            constraints: j.constraints.iter().map(constraint_from_wire).collect::<Result<_, WireError>>()?,
            metadata: j
                .metadata
                .iter()
                .map(|m| model::config::Metadata { key: m.key.clone(), value: m.value.clone() })
                .collect(),
            health_check_config: health_check_from_wire(j.health_check_config.as_ref()),
            lifecycle: lifecycle_from_wire(j.lifecycle.as_ref()),
            announce: j.announce.as_ref().map(announcer_from_wire).transpose()?,
            partition_policy: j
                .partition_policy
                .as_ref()
                .map(|p| model::config::PartitionPolicy { reschedule: p.reschedule, delay_secs: p.delay_secs }),
            sla_policy: j.sla_policy.as_ref().map(sla_from_wire).transpose()?,
            container: j.container.as_ref().map(container_from_wire).transpose()?,
            custom_executor: j.custom_executor.as_ref().map(|e| model::job::CustomExecutor { data: e.data.clone() }),
        };
        Ok(model::JobSpec {
            key: job_key(j.key.as_ref())?,
            instances: j.instances,
            cron_schedule: j.cron_schedule.clone(),
            cron_collision_policy: cron_policy_from_wire(j.cron_collision_policy)?,
            cron_timezone: j.cron_timezone.clone(),
            cron_starting_deadline_secs: j.cron_starting_deadline_secs,
            update_config: update_config_from_wire(j.update_config.as_ref()),
            config,
        })
    }
}

impl From<model::TaskState> for v1::TaskState {
    fn from(s: model::TaskState) -> v1::TaskState {
        use model::TaskState as M;
        use v1::TaskState as W;
        match s {
            M::Init => W::Init,
            M::Throttled => W::Throttled,
            M::Pending => W::Pending,
            M::Assigned => W::Assigned,
            M::Starting => W::Starting,
            M::Running => W::Running,
            M::Finished => W::Finished,
            M::Preempting => W::Preempting,
            M::Restarting => W::Restarting,
            M::Draining => W::Draining,
            M::Failed => W::Failed,
            M::Killed => W::Killed,
            M::Killing => W::Killing,
            M::Lost => W::Lost,
            M::Partitioned => W::Partitioned,
        }
    }
}

/// Reads a task state field, rejecting unknown and unspecified values.
pub fn task_state(raw: i32) -> Result<model::TaskState, WireError> {
    let wire = v1::TaskState::try_from(raw)
        .map_err(|_| WireError { field: "task state", reason: format!("unknown value {raw}") })?;
    model::TaskState::ALL
        .into_iter()
        .find(|s| v1::TaskState::from(*s) == wire)
        .ok_or_else(|| WireError { field: "task state", reason: "unspecified".to_owned() })
}

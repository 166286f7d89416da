//! The wire types of the Atoll API (`proto/atoll/v1`), generated at build time, and the
//! conversions between them and the domain model.
//!
//! Invariant: this is the only crate that defines wire types. Conversions into the model
//! validate what arrives (`TryFrom`), so a malformed request becomes a [`WireError`] that names
//! the field, never a panic.

use std::collections::BTreeMap;

use atoll_model as model;

/// Generated prost messages and tonic services for `atoll.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod v1 {
    tonic::include_proto!("atoll.v1");
}

/// The encoded file descriptor set of `atoll.v1`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/atoll_descriptor.bin"));

/// A message that does not describe a valid model value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct WireError {
    pub field: &'static str,
    pub reason: String,
}

fn missing(field: &'static str) -> WireError {
    WireError { field, reason: "missing".to_owned() }
}

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
                })
                .collect(),
            order: t.order.iter().map(|chain| v1::ProcessOrder { processes: chain.clone() }).collect(),
            resources: Some((&t.resources).into()),
            max_failures: t.max_failures,
            max_concurrency: t.max_concurrency,
            finalization_wait_secs: t.finalization_wait,
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
                .map(|p| model::ProcessSpec {
                    name: p.name.clone(),
                    cmdline: p.cmdline.clone(),
                    max_failures: p.max_failures,
                    daemon: p.daemon,
                    ephemeral: p.ephemeral,
                    min_duration: p.min_duration_secs,
                    is_final: p.r#final,
                })
                .collect(),
            order: t.order.iter().map(|o| o.processes.clone()).collect(),
            resources: t.resources.as_ref().map(Into::into).ok_or_else(|| missing("task resources"))?,
            max_failures: t.max_failures,
            max_concurrency: t.max_concurrency,
            finalization_wait: t.finalization_wait_secs,
        })
    }
}

impl From<&model::JobSpec> for v1::JobConfig {
    fn from(j: &model::JobSpec) -> v1::JobConfig {
        v1::JobConfig {
            key: Some((&j.key).into()),
            task: Some((&j.task).into()),
            instances: j.instances,
            service: j.service,
            contact: j.contact.clone(),
            tier: j.tier.clone(),
            priority: j.priority,
            production: j.production,
            max_task_failures: j.max_task_failures,
            cron_schedule: j.cron_schedule.clone(),
        }
    }
}

impl TryFrom<&v1::JobConfig> for model::JobSpec {
    type Error = WireError;

    fn try_from(j: &v1::JobConfig) -> Result<model::JobSpec, WireError> {
        Ok(model::JobSpec {
            key: job_key(j.key.as_ref())?,
            task: model::TaskSpec::try_from(j.task.as_ref().ok_or_else(|| missing("task"))?)?,
            instances: j.instances,
            service: j.service,
            contact: j.contact.clone(),
            tier: j.tier.clone(),
            priority: j.priority,
            production: j.production,
            max_task_failures: j.max_task_failures,
            cron_schedule: j.cron_schedule.clone(),
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
pub fn ports_to_wire(ports: &BTreeMap<String, u16>) -> std::collections::HashMap<String, u32> {
    ports.iter().map(|(name, port)| (name.clone(), u32::from(*port))).collect()
}

/// Reads a port map, rejecting numbers that are not ports.
pub fn ports_from_wire(ports: &std::collections::HashMap<String, u32>) -> Result<BTreeMap<String, u16>, WireError> {
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

    fn job() -> model::JobSpec {
        model::JobSpec {
            key: "devcluster/www-data/devel/hello".parse().unwrap(),
            task: model::TaskSpec {
                name: "hello".into(),
                processes: vec![model::ProcessSpec::new("hello", "echo hi")],
                order: vec![vec!["hello".into()]],
                resources: model::Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
                max_failures: 1,
                max_concurrency: 0,
                finalization_wait: 30,
            },
            instances: 2,
            service: true,
            contact: Some("ops@example.com".into()),
            tier: None,
            priority: 5,
            production: false,
            max_task_failures: 1,
            cron_schedule: None,
        }
    }

    #[test]
    fn job_specs_survive_the_wire() {
        let spec = job();
        let wire = v1::JobConfig::from(&spec);
        let bytes = prost::Message::encode_to_vec(&wire);
        let decoded: v1::JobConfig = prost::Message::decode(bytes.as_slice()).unwrap();
        assert_eq!(model::JobSpec::try_from(&decoded).unwrap(), spec);
    }

    #[test]
    fn malformed_messages_name_the_field() {
        let mut wire = v1::JobConfig::from(&job());
        wire.key.as_mut().unwrap().role = "bad role".into();
        assert!(model::JobSpec::try_from(&wire).unwrap_err().to_string().contains("invalid job key"));
        wire.key = None;
        assert_eq!(model::JobSpec::try_from(&wire).unwrap_err().to_string(), "invalid job key: missing");
        let mut wire = v1::JobConfig::from(&job());
        wire.task.as_mut().unwrap().resources = None;
        assert!(model::JobSpec::try_from(&wire).unwrap_err().to_string().contains("task resources"));
    }

    #[test]
    fn task_states_round_trip_and_unknown_values_are_rejected() {
        for state in model::TaskState::ALL {
            assert_eq!(task_state(v1::TaskState::from(state) as i32).unwrap(), state);
        }
        assert!(task_state(0).is_err());
        assert!(task_state(99).is_err());
    }
}

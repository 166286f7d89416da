//! The wire types of the Atoll API (`proto/atoll/v1`), generated at build time, and the
//! conversions between them and the domain model.
//!
//! Invariant: this is the only crate that defines wire types. Conversions into the model
//! validate what arrives (`TryFrom`), so a malformed request becomes a [`WireError`] that names
//! the field, never a panic.

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

pub(crate) fn missing(field: &'static str) -> WireError {
    WireError { field, reason: "missing".to_owned() }
}

mod admin;
mod agent;
mod config;
mod events;
mod job;
mod transport;
mod updates;

pub use admin::maintenance_mode;
pub use agent::{launch_to_wire, ports_from_wire, ports_to_wire};
pub use config::{
    announcer_from_wire, announcer_to_wire, health_check_from_wire, health_check_to_wire, lifecycle_from_wire,
    lifecycle_to_wire, update_config_from_wire, update_config_to_wire,
};
pub use events::{OLDEST_EVENT_HEADER, event_filter, subscribe_request};
pub use job::{job_key, task_state};
pub use transport::{Authorized, BadToken, Bearer, TlsIdentity, TlsSetupError, secure};
pub use updates::{enum_name, update_state};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use atoll_model as model;
    use model::config as c;

    use super::*;

    /// A job with every field set away from its default.
    fn every_field() -> model::JobSpec {
        let mut process = model::ProcessSpec::new("web", "serve --port {{thermos.ports[http]}}");
        process.max_failures = 3;
        process.daemon = true;
        process.min_duration = 7;
        process.logger = c::Logger {
            destination: c::LogDestination::Both,
            mode: c::LogMode::Rotate,
            rotate: c::RotatePolicy { log_size: 1 << 20, backups: 2 },
        };
        let mut cleanup = model::ProcessSpec::new("cleanup", "rm -rf tmp");
        cleanup.is_final = true;
        cleanup.ephemeral = true;
        let mut task = model::TaskSpec::new(
            vec![process, cleanup],
            model::Resources { cpu: 1.5, ram_mb: 512, disk_mb: 1024, gpu: 1 },
        );
        task.order = vec![vec!["web".into()]];
        task.max_concurrency = 2;
        task.finalization_wait = 10;
        task.user = Some("nobody".into());
        let mut job = model::JobSpec::new("devcluster/www-data/prod/web".parse().unwrap(), task);
        job.instances = 3;
        job.config.service = true;
        job.config.contact = Some("ops@example.com".into());
        job.config.tier = Some("preferred".into());
        job.config.priority = 5;
        job.config.production = true;
        job.config.max_task_failures = -1;
        job.cron_collision_policy = c::CronCollisionPolicy::CancelNew;
        job.update_config = c::UpdateConfig {
            batch_size: 2,
            watch_secs: 30,
            max_per_shard_failures: 1,
            max_total_failures: 1,
            rollback_on_failure: false,
            wait_for_batch_completion: true,
            pulse_interval_secs: Some(120),
            sla_aware: true,
            update_strategy: Some(c::UpdateStrategy::VariableBatch {
                batch_sizes: vec![1, 2],
                autopause_after_batch: true,
            }),
        };
        job.config.constraints = vec![
            model::Constraint::parse("rack", "!r1,r2").unwrap(),
            model::Constraint::parse("host", "like:web-.*").unwrap(),
            model::Constraint::parse("dedicated", "www-data/web").unwrap(),
        ];
        job.config.metadata = vec![c::Metadata { key: "team".into(), value: "web".into() }];
        job.config.health_check_config = c::HealthCheckConfig {
            health_checker: c::HealthChecker::Shell {
                shell_command: "curl localhost:{{thermos.ports[health]}}".into(),
            },
            initial_interval_secs: 5.0,
            interval_secs: 2.5,
            max_consecutive_failures: 3,
            min_consecutive_successes: 2,
            timeout_secs: 0.5,
        };
        job.config.lifecycle = c::LifecycleConfig { http: None };
        job.config.announce = Some(c::Announcer {
            primary_port: "http".into(),
            portmap: BTreeMap::from([
                ("admin".into(), c::PortTarget::Static(8080)),
                ("web".into(), c::PortTarget::Named("http".into())),
            ]),
            zk_path: Some("/custom".into()),
        });
        job.config.partition_policy = Some(c::PartitionPolicy { reschedule: false, delay_secs: 60 });
        job.config.sla_policy = Some(c::SlaPolicy::Percentage { percentage: 95.0, duration_secs: 1800 });
        job.config.container = Some(c::Container::Mesos {
            image: Some(c::MesosImage::Docker { name: "web".into(), tag: "1.2".into() }),
            volumes: vec![c::Volume {
                container_path: "/data".into(),
                host_path: "/srv".into(),
                mode: c::VolumeMode::Rw,
            }],
        });
        // Jobs may not have one (the state machine refuses it), but the wire carries it for
        // frameworks' tasks, which are launched with the same config.
        job.config.custom_executor = Some(model::job::CustomExecutor { data: vec![0, 1, 255] });
        job
    }

    fn round_trip(spec: &model::JobSpec) -> model::JobSpec {
        let bytes = prost::Message::encode_to_vec(&v1::JobConfig::from(spec));
        let decoded: v1::JobConfig = prost::Message::decode(bytes.as_slice()).unwrap();
        model::JobSpec::try_from(&decoded).unwrap()
    }

    #[test]
    fn every_field_of_a_job_survives_the_wire() {
        let spec = every_field();
        assert_eq!(round_trip(&spec), spec);
        let mut docker = spec.clone();
        docker.config.container = Some(c::Container::Docker {
            image: "nginx".into(),
            parameters: vec![c::DockerParameter { name: "env".into(), value: "A=1".into() }],
        });
        docker.config.sla_policy =
            Some(c::SlaPolicy::Coordinator { coordinator_url: "http://c".into(), status_key: "drain".into() });
        docker.update_config.update_strategy = Some(c::UpdateStrategy::Queue { batch_size: 3 });
        assert_eq!(round_trip(&docker), docker);
    }

    #[test]
    fn a_job_with_defaults_survives_the_wire() {
        let spec = model::JobSpec::new(
            "devcluster/www-data/devel/hello".parse().unwrap(),
            model::TaskSpec::new(
                vec![model::ProcessSpec::new("hello", "echo hi")],
                model::Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
            ),
        );
        assert_eq!(round_trip(&spec), spec);
    }

    #[test]
    fn absent_sub_messages_take_auroras_defaults() {
        let mut wire = v1::JobConfig::from(&every_field());
        wire.update_config = None;
        wire.health_check_config = None;
        wire.lifecycle = None;
        wire.cron_collision_policy = 0;
        let spec = model::JobSpec::try_from(&wire).unwrap();
        assert_eq!(spec.update_config, c::UpdateConfig::default());
        assert_eq!(spec.config.health_check_config, c::HealthCheckConfig::default());
        assert_eq!(spec.config.lifecycle, c::LifecycleConfig::default());
        assert_eq!(spec.cron_collision_policy, c::CronCollisionPolicy::KillExisting);
    }

    #[test]
    fn malformed_messages_name_the_field() {
        let mut wire = v1::JobConfig::from(&every_field());
        wire.key.as_mut().unwrap().role = "bad role".into();
        assert!(model::JobSpec::try_from(&wire).unwrap_err().to_string().contains("invalid job key"));
        wire.key = None;
        assert_eq!(model::JobSpec::try_from(&wire).unwrap_err().to_string(), "invalid job key: missing");

        let mut wire = v1::JobConfig::from(&every_field());
        wire.task.as_mut().unwrap().resources = None;
        assert!(model::JobSpec::try_from(&wire).unwrap_err().to_string().contains("task resources"));

        let mut wire = v1::JobConfig::from(&every_field());
        wire.constraints[0].rule = "limit:0".into();
        let err = model::JobSpec::try_from(&wire).unwrap_err().to_string();
        assert!(err.contains("invalid constraint") && err.contains("limit takes a positive whole number"), "{err}");

        let mut wire = v1::JobConfig::from(&every_field());
        wire.cron_collision_policy = 42;
        assert!(model::JobSpec::try_from(&wire).unwrap_err().to_string().contains("cron collision policy"));

        let mut wire = v1::JobConfig::from(&every_field());
        wire.announce.as_mut().unwrap().portmap.get_mut("admin").unwrap().target =
            Some(v1::port_target::Target::StaticPort(70000));
        assert!(model::JobSpec::try_from(&wire).unwrap_err().to_string().contains("70000 is not a port"));
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

//! Conversions of the job-level configuration objects: loggers, update, health and lifecycle
//! configs, announcers, metadata, SLA and partition policies, containers, cron policies and
//! constraints. Absent messages and unspecified enums take Aurora's defaults, except where a
//! value has no sensible default (a volume's mode), which is an error.

use atoll_model as model;
use model::config as c;

use crate::{WireError, missing, v1};

fn invalid(field: &'static str, reason: impl Into<String>) -> WireError {
    WireError { field, reason: reason.into() }
}

pub(crate) fn logger_to_wire(l: &c::Logger) -> v1::Logger {
    v1::Logger {
        destination: match l.destination {
            c::LogDestination::File => v1::LogDestination::File,
            c::LogDestination::Console => v1::LogDestination::Console,
            c::LogDestination::Both => v1::LogDestination::Both,
            c::LogDestination::None => v1::LogDestination::None,
        } as i32,
        mode: match l.mode {
            c::LogMode::Standard => v1::LogMode::Standard,
            c::LogMode::Rotate => v1::LogMode::Rotate,
        } as i32,
        rotate: Some(v1::RotatePolicy { log_size_bytes: l.rotate.log_size, backups: l.rotate.backups }),
    }
}

pub(crate) fn logger_from_wire(l: Option<&v1::Logger>) -> Result<c::Logger, WireError> {
    let Some(l) = l else { return Ok(c::Logger::default()) };
    let destination = match v1::LogDestination::try_from(l.destination) {
        Ok(v1::LogDestination::Unspecified | v1::LogDestination::File) => c::LogDestination::File,
        Ok(v1::LogDestination::Console) => c::LogDestination::Console,
        Ok(v1::LogDestination::Both) => c::LogDestination::Both,
        Ok(v1::LogDestination::None) => c::LogDestination::None,
        Err(_) => return Err(invalid("logger destination", format!("unknown value {}", l.destination))),
    };
    let mode = match v1::LogMode::try_from(l.mode) {
        Ok(v1::LogMode::Unspecified | v1::LogMode::Standard) => c::LogMode::Standard,
        Ok(v1::LogMode::Rotate) => c::LogMode::Rotate,
        Err(_) => return Err(invalid("logger mode", format!("unknown value {}", l.mode))),
    };
    let rotate = l
        .rotate
        .as_ref()
        .map_or_else(c::RotatePolicy::default, |r| c::RotatePolicy { log_size: r.log_size_bytes, backups: r.backups });
    Ok(c::Logger { destination, mode, rotate })
}

pub fn update_config_to_wire(u: &c::UpdateConfig) -> v1::UpdateConfig {
    use v1::update_config::UpdateStrategy as W;
    v1::UpdateConfig {
        batch_size: u.batch_size,
        watch_secs: u.watch_secs,
        max_per_shard_failures: u.max_per_shard_failures,
        max_total_failures: u.max_total_failures,
        rollback_on_failure: u.rollback_on_failure,
        wait_for_batch_completion: u.wait_for_batch_completion,
        pulse_interval_secs: u.pulse_interval_secs,
        sla_aware: u.sla_aware,
        update_strategy: u.update_strategy.as_ref().map(|s| match s {
            c::UpdateStrategy::Queue { batch_size } => W::Queue(v1::QueueUpdateStrategy { batch_size: *batch_size }),
            c::UpdateStrategy::Batch { batch_size, autopause_after_batch } => W::Batch(v1::BatchUpdateStrategy {
                batch_size: *batch_size,
                autopause_after_batch: *autopause_after_batch,
            }),
            c::UpdateStrategy::VariableBatch { batch_sizes, autopause_after_batch } => {
                W::VariableBatch(v1::VariableBatchUpdateStrategy {
                    batch_sizes: batch_sizes.clone(),
                    autopause_after_batch: *autopause_after_batch,
                })
            }
        }),
    }
}

pub fn update_config_from_wire(u: Option<&v1::UpdateConfig>) -> c::UpdateConfig {
    use v1::update_config::UpdateStrategy as W;
    let Some(u) = u else { return c::UpdateConfig::default() };
    c::UpdateConfig {
        batch_size: u.batch_size,
        watch_secs: u.watch_secs,
        max_per_shard_failures: u.max_per_shard_failures,
        max_total_failures: u.max_total_failures,
        rollback_on_failure: u.rollback_on_failure,
        wait_for_batch_completion: u.wait_for_batch_completion,
        pulse_interval_secs: u.pulse_interval_secs,
        sla_aware: u.sla_aware,
        update_strategy: u.update_strategy.as_ref().map(|s| match s {
            W::Queue(q) => c::UpdateStrategy::Queue { batch_size: q.batch_size },
            W::Batch(b) => {
                c::UpdateStrategy::Batch { batch_size: b.batch_size, autopause_after_batch: b.autopause_after_batch }
            }
            W::VariableBatch(v) => c::UpdateStrategy::VariableBatch {
                batch_sizes: v.batch_sizes.clone(),
                autopause_after_batch: v.autopause_after_batch,
            },
        }),
    }
}

pub fn health_check_to_wire(h: &c::HealthCheckConfig) -> v1::HealthCheckConfig {
    use v1::health_check_config::HealthChecker as W;
    v1::HealthCheckConfig {
        health_checker: Some(match &h.health_checker {
            c::HealthChecker::Http(http) => W::Http(v1::HttpHealthChecker {
                endpoint: http.endpoint.clone(),
                expected_response: http.expected_response.clone(),
                expected_response_code: http.expected_response_code,
            }),
            c::HealthChecker::Shell { shell_command } => {
                W::Shell(v1::ShellHealthChecker { shell_command: shell_command.clone() })
            }
        }),
        initial_interval_secs: h.initial_interval_secs,
        interval_secs: h.interval_secs,
        max_consecutive_failures: h.max_consecutive_failures,
        min_consecutive_successes: h.min_consecutive_successes,
        timeout_secs: h.timeout_secs,
    }
}

pub fn health_check_from_wire(h: Option<&v1::HealthCheckConfig>) -> c::HealthCheckConfig {
    use v1::health_check_config::HealthChecker as W;
    let Some(h) = h else { return c::HealthCheckConfig::default() };
    c::HealthCheckConfig {
        health_checker: match &h.health_checker {
            None => c::HealthChecker::default(),
            Some(W::Http(http)) => c::HealthChecker::Http(c::HttpHealthChecker {
                endpoint: http.endpoint.clone(),
                expected_response: http.expected_response.clone(),
                expected_response_code: http.expected_response_code,
            }),
            Some(W::Shell(shell)) => c::HealthChecker::Shell { shell_command: shell.shell_command.clone() },
        },
        initial_interval_secs: h.initial_interval_secs,
        interval_secs: h.interval_secs,
        max_consecutive_failures: h.max_consecutive_failures,
        min_consecutive_successes: h.min_consecutive_successes,
        timeout_secs: h.timeout_secs,
    }
}

pub fn lifecycle_to_wire(l: &c::LifecycleConfig) -> v1::LifecycleConfig {
    v1::LifecycleConfig {
        http: l.http.as_ref().map(|h| v1::HttpLifecycleConfig {
            port: h.port.clone(),
            graceful_shutdown_endpoint: h.graceful_shutdown_endpoint.clone(),
            shutdown_endpoint: h.shutdown_endpoint.clone(),
            graceful_shutdown_wait_secs: h.graceful_shutdown_wait_secs,
            shutdown_wait_secs: h.shutdown_wait_secs,
        }),
    }
}

pub fn lifecycle_from_wire(l: Option<&v1::LifecycleConfig>) -> c::LifecycleConfig {
    let Some(l) = l else { return c::LifecycleConfig::default() };
    c::LifecycleConfig {
        http: l.http.as_ref().map(|h| c::HttpLifecycleConfig {
            port: h.port.clone(),
            graceful_shutdown_endpoint: h.graceful_shutdown_endpoint.clone(),
            shutdown_endpoint: h.shutdown_endpoint.clone(),
            graceful_shutdown_wait_secs: h.graceful_shutdown_wait_secs,
            shutdown_wait_secs: h.shutdown_wait_secs,
        }),
    }
}

pub fn announcer_to_wire(a: &c::Announcer) -> v1::Announcer {
    use v1::port_target::Target;
    v1::Announcer {
        primary_port: a.primary_port.clone(),
        portmap: a
            .portmap
            .iter()
            .map(|(name, target)| {
                let target = match target {
                    c::PortTarget::Named(n) => Target::Named(n.clone()),
                    c::PortTarget::Static(p) => Target::StaticPort(u32::from(*p)),
                };
                (name.clone(), v1::PortTarget { target: Some(target) })
            })
            .collect(),
        zk_path: a.zk_path.clone(),
    }
}

pub fn announcer_from_wire(a: &v1::Announcer) -> Result<c::Announcer, WireError> {
    use v1::port_target::Target;
    let portmap = a
        .portmap
        .iter()
        .map(|(name, target)| {
            let target = match &target.target {
                Some(Target::Named(n)) => c::PortTarget::Named(n.clone()),
                Some(Target::StaticPort(p)) => c::PortTarget::Static(
                    u16::try_from(*p).map_err(|_| invalid("announcer portmap", format!("{p} is not a port")))?,
                ),
                None => return Err(invalid("announcer portmap", format!("entry '{name}' has no target"))),
            };
            Ok((name.clone(), target))
        })
        .collect::<Result<_, WireError>>()?;
    Ok(c::Announcer { primary_port: a.primary_port.clone(), portmap, zk_path: a.zk_path.clone() })
}

pub(crate) fn sla_to_wire(s: &c::SlaPolicy) -> v1::SlaPolicy {
    use v1::sla_policy::Policy;
    let policy = match s {
        c::SlaPolicy::Count { count, duration_secs } => {
            Policy::Count(v1::CountSlaPolicy { count: *count, duration_secs: *duration_secs })
        }
        c::SlaPolicy::Percentage { percentage, duration_secs } => {
            Policy::Percentage(v1::PercentageSlaPolicy { percentage: *percentage, duration_secs: *duration_secs })
        }
        c::SlaPolicy::Coordinator { coordinator_url, status_key } => Policy::Coordinator(v1::CoordinatorSlaPolicy {
            coordinator_url: coordinator_url.clone(),
            status_key: status_key.clone(),
        }),
    };
    v1::SlaPolicy { policy: Some(policy) }
}

pub(crate) fn sla_from_wire(s: &v1::SlaPolicy) -> Result<c::SlaPolicy, WireError> {
    use v1::sla_policy::Policy;
    Ok(match s.policy.as_ref().ok_or_else(|| missing("sla policy kind"))? {
        Policy::Count(p) => c::SlaPolicy::Count { count: p.count, duration_secs: p.duration_secs },
        Policy::Percentage(p) => c::SlaPolicy::Percentage { percentage: p.percentage, duration_secs: p.duration_secs },
        Policy::Coordinator(p) => {
            c::SlaPolicy::Coordinator { coordinator_url: p.coordinator_url.clone(), status_key: p.status_key.clone() }
        }
    })
}

pub(crate) fn container_to_wire(k: &c::Container) -> v1::Container {
    use v1::container::Container as W;
    let container = match k {
        c::Container::Docker { image, parameters } => W::Docker(v1::DockerContainer {
            image: image.clone(),
            parameters: parameters
                .iter()
                .map(|p| v1::DockerParameter { name: p.name.clone(), value: p.value.clone() })
                .collect(),
        }),
        c::Container::Mesos { image, volumes } => W::Mesos(v1::MesosContainer {
            image: image.as_ref().map(|i| match i {
                c::MesosImage::Appc { name, image_id } => {
                    v1::mesos_container::Image::Appc(v1::AppcImage { name: name.clone(), image_id: image_id.clone() })
                }
                c::MesosImage::Docker { name, tag } => {
                    v1::mesos_container::Image::Docker(v1::DockerImage { name: name.clone(), tag: tag.clone() })
                }
            }),
            volumes: volumes
                .iter()
                .map(|v| v1::Volume {
                    container_path: v.container_path.clone(),
                    host_path: v.host_path.clone(),
                    mode: match v.mode {
                        c::VolumeMode::Ro => v1::VolumeMode::Ro,
                        c::VolumeMode::Rw => v1::VolumeMode::Rw,
                    } as i32,
                })
                .collect(),
        }),
    };
    v1::Container { container: Some(container) }
}

pub(crate) fn container_from_wire(k: &v1::Container) -> Result<c::Container, WireError> {
    use v1::container::Container as W;
    Ok(match k.container.as_ref().ok_or_else(|| missing("container kind"))? {
        W::Docker(d) => c::Container::Docker {
            image: d.image.clone(),
            parameters: d
                .parameters
                .iter()
                .map(|p| c::DockerParameter { name: p.name.clone(), value: p.value.clone() })
                .collect(),
        },
        W::Mesos(m) => c::Container::Mesos {
            image: m.image.as_ref().map(|i| match i {
                v1::mesos_container::Image::Appc(a) => {
                    c::MesosImage::Appc { name: a.name.clone(), image_id: a.image_id.clone() }
                }
                v1::mesos_container::Image::Docker(d) => {
                    c::MesosImage::Docker { name: d.name.clone(), tag: d.tag.clone() }
                }
            }),
            volumes: m
                .volumes
                .iter()
                .map(|v| {
                    let mode = match v1::VolumeMode::try_from(v.mode) {
                        Ok(v1::VolumeMode::Ro) => c::VolumeMode::Ro,
                        Ok(v1::VolumeMode::Rw) => c::VolumeMode::Rw,
                        _ => return Err(invalid("volume mode", format!("expected RO or RW, got {}", v.mode))),
                    };
                    Ok(c::Volume { container_path: v.container_path.clone(), host_path: v.host_path.clone(), mode })
                })
                .collect::<Result<_, WireError>>()?,
        },
    })
}

pub(crate) fn cron_policy_to_wire(p: c::CronCollisionPolicy) -> v1::CronCollisionPolicy {
    match p {
        c::CronCollisionPolicy::KillExisting => v1::CronCollisionPolicy::KillExisting,
        c::CronCollisionPolicy::CancelNew => v1::CronCollisionPolicy::CancelNew,
        c::CronCollisionPolicy::RunOverlap => v1::CronCollisionPolicy::RunOverlap,
    }
}

pub(crate) fn cron_policy_from_wire(raw: i32) -> Result<c::CronCollisionPolicy, WireError> {
    Ok(match v1::CronCollisionPolicy::try_from(raw) {
        Ok(v1::CronCollisionPolicy::Unspecified | v1::CronCollisionPolicy::KillExisting) => {
            c::CronCollisionPolicy::KillExisting
        }
        Ok(v1::CronCollisionPolicy::CancelNew) => c::CronCollisionPolicy::CancelNew,
        Ok(v1::CronCollisionPolicy::RunOverlap) => c::CronCollisionPolicy::RunOverlap,
        Err(_) => return Err(invalid("cron collision policy", format!("unknown value {raw}"))),
    })
}

pub(crate) fn constraint_from_wire(k: &v1::Constraint) -> Result<model::Constraint, WireError> {
    model::Constraint::parse(&k.attribute, &k.rule).map_err(|e| invalid("constraint", e.to_string()))
}

pub(crate) fn constraint_to_wire(k: &model::Constraint) -> v1::Constraint {
    v1::Constraint { attribute: k.attribute.clone(), rule: k.rule_text() }
}

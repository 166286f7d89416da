//! Every wire decoder of `atoll-proto` stands up to hostile input: arbitrary bytes, bytes
//! shaped like protobuf, and valid encodings cut short, flipped and spliced, decoded with prost
//! as the decoder's message and converted into the model, never panic; a refusal is a
//! [`WireError`] with a non-empty reason that names a field. A spec the scheduler accepts is
//! also validated and given a config version, as the server does, without a panic. And model
//! values survive the wire: model -> wire -> bytes -> wire -> model is the identity for
//! generated jobs, events, agent resources, quotas and port maps.
//!
//! Bounded for CI: a few hundred cases per property, each input fed to every decoder.

use std::collections::{BTreeMap, HashMap};

use atoll_model as model;
use atoll_model::config as c;
use atoll_model::cron::CronRunState;
use atoll_model::event::{ClusterEvent, EventDetail, EventFilter, EventKind, JobChange};
use atoll_mutations::{mutate, mutation};
use atoll_proto::{WireError, v1};
use model::{ConfigVersion, JobSpec, TaskState, UpdateState};
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message;

// ---------------------------------------------------------------------------------------------
// The decoders, each behind the message it reads.

/// What one decoder made of one input.
#[derive(Debug)]
enum Outcome {
    /// prost could not decode the bytes as the decoder's message; nothing to convert.
    Undecodable,
    Accepted,
    Refused(WireError),
}

fn outcome<T>(result: Result<T, WireError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Accepted,
        Err(error) => Outcome::Refused(error),
    }
}

/// Decodes `bytes` as `M` and hands it to `convert`.
fn decoded<M: Message + Default>(bytes: &[u8], convert: impl FnOnce(&M) -> Outcome) -> Outcome {
    match M::decode(bytes) {
        Ok(message) => convert(&message),
        Err(_) => Outcome::Undecodable,
    }
}

/// A job spec as the server takes it in: converted, then validated and given its content
/// address (each problem a sentence).
fn job_spec(config: &v1::JobConfig) -> Outcome {
    match JobSpec::try_from(config) {
        Ok(spec) => {
            let problems = spec.validate();
            assert!(problems.iter().all(|p| !p.trim().is_empty()), "an empty problem in {problems:?}");
            let version = ConfigVersion::new(spec.config.clone());
            assert_eq!(version.id(), ConfigVersion::new(spec.config.clone()).id(), "content addresses are stable");
            Outcome::Accepted
        }
        Err(error) => Outcome::Refused(error),
    }
}

/// Everything an agent reads out of a launch: the task, its ports, health check, lifecycle,
/// announcer and whole config, each converted.
fn launch(launch: &v1::LaunchTask) -> Outcome {
    let parts = [
        outcome(atoll_proto::job_key(launch.job.as_ref())),
        launch.task.as_ref().map_or(Outcome::Accepted, |t| outcome(model::TaskSpec::try_from(t))),
        outcome(atoll_proto::ports_from_wire(&launch.ports)),
        launch.announce.as_ref().map_or(Outcome::Accepted, |a| outcome(atoll_proto::announcer_from_wire(a))),
        launch.config.as_ref().map_or(Outcome::Accepted, job_spec),
    ];
    let _ = atoll_proto::health_check_from_wire(launch.health_check_config.as_ref());
    let _ = atoll_proto::lifecycle_from_wire(launch.lifecycle.as_ref());
    parts.into_iter().find(|o| matches!(o, Outcome::Refused(_))).unwrap_or(Outcome::Accepted)
}

type Decoder = fn(&[u8]) -> Outcome;

/// Every decoder of the crate's public API, by the name of the message it reads. Those that
/// cannot refuse (`update_config_from_wire`, `health_check_from_wire`, `lifecycle_from_wire`,
/// `Resources::from`) are run for their panics alone.
const DECODERS: &[(&str, Decoder)] = &[
    ("JobConfig -> JobSpec", |b| decoded(b, job_spec)),
    ("TaskConfig -> TaskSpec", |b| decoded(b, |t: &v1::TaskConfig| outcome(model::TaskSpec::try_from(t)))),
    ("JobKey -> JobKey", |b| decoded(b, |k: &v1::JobKey| outcome(model::JobKey::try_from(k)))),
    ("job_key", |b| decoded(b, |e: &v1::Event| outcome(atoll_proto::job_key(e.job.as_ref())))),
    ("AgentResources", |b| decoded(b, |r: &v1::AgentResources| outcome(model::AgentResources::try_from(r)))),
    ("RegisterRequest.resources", |b| {
        decoded(b, |r: &v1::RegisterRequest| {
            r.resources.as_ref().map_or(Outcome::Accepted, |r| outcome(model::AgentResources::try_from(r)))
        })
    }),
    ("ResourceAggregate", |b| decoded(b, |r: &v1::ResourceAggregate| outcome(model::ResourceAggregate::try_from(r)))),
    ("Event -> ClusterEvent", |b| decoded(b, |e: &v1::Event| outcome(ClusterEvent::try_from(e)))),
    ("event_filter", |b| decoded(b, |r: &v1::SubscribeRequest| outcome(atoll_proto::event_filter(r)))),
    ("LaunchTask (ports_from_wire and the rest)", |b| decoded(b, launch)),
    ("update_state", |b| decoded(b, |u: &v1::UpdateStateChange| outcome(atoll_proto::update_state(u.state)))),
    ("task_state", |b| {
        decoded(b, |t: &v1::TaskStateChange| {
            let previous = outcome(atoll_proto::task_state(t.previous_state));
            if matches!(previous, Outcome::Refused(_)) { previous } else { outcome(atoll_proto::task_state(t.state)) }
        })
    }),
    ("maintenance_mode", |b| {
        decoded(b, |h: &v1::HostStatus| outcome(atoll_proto::maintenance_mode(h.mode.unwrap_or_default())))
    }),
    ("announcer_from_wire", |b| decoded(b, |a: &v1::Announcer| outcome(atoll_proto::announcer_from_wire(a)))),
    ("update_config_from_wire", |b| {
        decoded(b, |u: &v1::UpdateConfig| {
            let _ = atoll_proto::update_config_from_wire(Some(u));
            Outcome::Accepted
        })
    }),
    ("health_check_from_wire", |b| {
        decoded(b, |h: &v1::HealthCheckConfig| {
            let _ = atoll_proto::health_check_from_wire(Some(h));
            Outcome::Accepted
        })
    }),
    ("lifecycle_from_wire", |b| {
        decoded(b, |l: &v1::LifecycleConfig| {
            let _ = atoll_proto::lifecycle_from_wire(Some(l));
            Outcome::Accepted
        })
    }),
    ("Resources", |b| {
        decoded(b, |r: &v1::Resources| {
            let _ = model::Resources::from(r);
            Outcome::Accepted
        })
    }),
];

/// A refusal names its field (a few lowercase words) and says what is wrong with it.
fn check_refusal(decoder: &str, error: &WireError) -> Result<(), TestCaseError> {
    let field_is_a_name = !error.field.is_empty()
        && error.field.chars().all(|c| c.is_ascii_lowercase() || c == ' ')
        && !error.field.starts_with(' ')
        && !error.field.ends_with(' ');
    prop_assert!(field_is_a_name, "{decoder}: the refusal names no field: {error:?}");
    prop_assert!(!error.reason.trim().is_empty(), "{decoder}: the refusal gives no reason: {error:?}");
    let text = error.to_string();
    prop_assert!(text.contains(error.field), "{decoder}: '{text}' does not name {}", error.field);
    Ok(())
}

/// Feeds `bytes` to every decoder; counts those that decoded it.
fn every_decoder(bytes: &[u8]) -> Result<usize, TestCaseError> {
    let mut decoded = 0;
    for (name, decoder) in DECODERS {
        match decoder(bytes) {
            Outcome::Undecodable => {}
            Outcome::Accepted => decoded += 1,
            Outcome::Refused(error) => {
                decoded += 1;
                check_refusal(name, &error)?;
            }
        }
    }
    Ok(decoded)
}

// ---------------------------------------------------------------------------------------------
// Protobuf-shaped noise: well-formed fields of every wire type with random numbers and
// payloads, nested, so that decoding gets past the first byte and into the conversions.

#[derive(Clone, Debug)]
enum Field {
    Varint(u32, u64),
    Fixed64(u32, u64),
    Fixed32(u32, u32),
    Bytes(u32, Vec<u8>),
    Nested(u32, Vec<Field>),
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn encode_fields(fields: &[Field], out: &mut Vec<u8>) {
    for field in fields {
        let key = |number: u32, wire_type: u64| (u64::from(number) << 3) | wire_type;
        match field {
            Field::Varint(n, v) => {
                put_varint(out, key(*n, 0));
                put_varint(out, *v);
            }
            Field::Fixed64(n, v) => {
                put_varint(out, key(*n, 1));
                out.extend_from_slice(&v.to_le_bytes());
            }
            Field::Fixed32(n, v) => {
                put_varint(out, key(*n, 5));
                out.extend_from_slice(&v.to_le_bytes());
            }
            Field::Bytes(n, payload) => {
                put_varint(out, key(*n, 2));
                put_varint(out, payload.len() as u64);
                out.extend_from_slice(payload);
            }
            Field::Nested(n, inner) => {
                let mut payload = Vec::new();
                encode_fields(inner, &mut payload);
                put_varint(out, key(*n, 2));
                put_varint(out, payload.len() as u64);
                out.extend_from_slice(&payload);
            }
        }
    }
}

/// Words the decoders look for, so that some noise reads as names, states and rules.
const WORDS: &[&str] = &[
    "",
    " ",
    "devcluster",
    "www-data",
    "prod",
    "web",
    "http",
    "task",
    "job",
    "update",
    "cron",
    "CREATED",
    "KILLED",
    "RUNNING",
    "dedicated",
    "www-data/web",
    "limit:0",
    "limit:4294967296",
    "like:(",
    "like:web-.*",
    "!r1,r2",
    "value:",
    "unique",
    "group_by:x",
    "bad role",
    "é",
    "\u{0}",
];

fn varint_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..20,
        Just(u64::MAX),
        Just(u64::from(u32::MAX)),
        Just(65_536),
        Just(70_000),
        (i32::MIN..0).prop_map(|v| i64::from(v) as u64),
        any::<u64>(),
    ]
}

fn fixed64_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, -0.0, 0.5, 1e13, 1e300])
            .prop_map(f64::to_bits),
    ]
}

fn field_number() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 1u32..24, 1 => any::<u32>().prop_map(|n| n & 0x1fff_ffff)]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(|w| w.as_bytes().to_vec()),
        "[a-z0-9_./:!,-]{0,12}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..16),
    ]
}

fn fields() -> impl Strategy<Value = Vec<Field>> {
    let leaf = prop_oneof![
        (field_number(), varint_value()).prop_map(|(n, v)| Field::Varint(n, v)),
        (field_number(), fixed64_value()).prop_map(|(n, v)| Field::Fixed64(n, v)),
        (field_number(), any::<u32>()).prop_map(|(n, v)| Field::Fixed32(n, v)),
        (field_number(), payload()).prop_map(|(n, p)| Field::Bytes(n, p)),
    ];
    let field = leaf.prop_recursive(4, 48, 6, |inner| {
        (field_number(), prop::collection::vec(inner, 0..6)).prop_map(|(n, fs)| Field::Nested(n, fs))
    });
    prop::collection::vec(field, 0..10)
}

fn protobuf_noise() -> impl Strategy<Value = Vec<u8>> {
    fields().prop_map(|fields| {
        let mut out = Vec::new();
        encode_fields(&fields, &mut out);
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Mutations of valid encodings.

/// A job with every field set away from its default.
fn every_field() -> JobSpec {
    let mut web = model::ProcessSpec::new("web", "serve --port {{thermos.ports[http]}}");
    web.max_failures = 3;
    web.daemon = true;
    web.logger = c::Logger {
        destination: c::LogDestination::Both,
        mode: c::LogMode::Rotate,
        rotate: c::RotatePolicy { log_size: 1 << 20, backups: 2 },
    };
    let mut cleanup = model::ProcessSpec::new("cleanup", "rm -rf tmp");
    cleanup.is_final = true;
    let mut task =
        model::TaskSpec::new(vec![web, cleanup], model::Resources { cpu: 1.5, ram_mb: 512, disk_mb: 1024, gpu: 1 });
    task.order = vec![vec!["web".into()]];
    task.user = Some("nobody".into());
    let mut job = JobSpec::new(key("devcluster", "www-data", "prod", "web"), task);
    job.instances = 3;
    job.config.service = true;
    job.config.contact = Some("ops@example.com".into());
    job.config.tier = Some("preferred".into());
    job.cron_collision_policy = c::CronCollisionPolicy::CancelNew;
    job.update_config.pulse_interval_secs = Some(120);
    job.update_config.update_strategy =
        Some(c::UpdateStrategy::VariableBatch { batch_sizes: vec![1, 2], autopause_after_batch: true });
    job.config.constraints = vec![
        model::Constraint::parse("rack", "!r1,r2").expect("a constraint"),
        model::Constraint::parse("host", "like:web-.*").expect("a constraint"),
        model::Constraint::parse("dedicated", "www-data/web").expect("a constraint"),
    ];
    job.config.metadata = vec![c::Metadata { key: "team".into(), value: "web".into() }];
    job.config.health_check_config.health_checker = c::HealthChecker::Shell { shell_command: "true".into() };
    job.config.lifecycle = c::LifecycleConfig {
        http: Some(c::HttpLifecycleConfig {
            port: "health".into(),
            graceful_shutdown_endpoint: "/quit".into(),
            shutdown_endpoint: "/abort".into(),
            graceful_shutdown_wait_secs: 5,
            shutdown_wait_secs: 5,
        }),
    };
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
        volumes: vec![c::Volume { container_path: "/data".into(), host_path: "/srv".into(), mode: c::VolumeMode::Rw }],
    });
    job
}

fn key(cluster: &str, role: &str, environment: &str, name: &str) -> model::JobKey {
    model::JobKey::new(cluster, role, environment, name).expect("a valid key")
}

/// Valid encodings of every message a decoder reads, to mutate.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let job = every_field();
    let task = model::ScheduledTask {
        id: model::TaskId("www-data-prod-web-0-abc-1".into()),
        job: job.key.clone(),
        instance: 0,
        config: ConfigVersion::new(job.config.clone()),
        state: TaskState::Assigned,
        assignment: Some(model::Assignment {
            agent: model::AgentId("agent-1".into()),
            hostname: "host1".into(),
            ports: BTreeMap::from([("http".into(), 31_000), ("health".into(), 31_001)]),
        }),
        sandbox: None,
        exit_code: None,
        failure_count: 0,
        ancestor: None,
        not_before_ms: 0,
        events: Vec::new(),
    };
    let event = ClusterEvent {
        index: 7,
        at_ms: 1_700_000_000_000,
        job: job.key.clone(),
        detail: EventDetail::Task {
            task: task.id.clone(),
            instance: 0,
            previous: TaskState::Starting,
            state: TaskState::Running,
            message: "Healthy".into(),
            host: Some("host1".into()),
        },
    };
    let filter = EventFilter {
        jobs: "devcluster/www-data/prod".parse().expect("a prefix"),
        name: Some("web".into()),
        kinds: vec![EventKind::Task, EventKind::Cron],
    };
    let resources = model::AgentResources {
        cpus: 8.0,
        mem_mb: 16_384,
        disk_mb: 100_000,
        gpus: 1,
        ports: vec![model::PortRange { begin: 31_000, end: 32_000 }],
    };
    let quota = model::ResourceAggregate { cpu_millis: 2_500, ram_mb: 1024, disk_mb: 4096 };
    vec![
        ("JobConfig -> JobSpec", v1::JobConfig::from(&job).encode_to_vec()),
        ("TaskConfig -> TaskSpec", v1::TaskConfig::from(&job.config.task).encode_to_vec()),
        ("LaunchTask (ports_from_wire and the rest)", atoll_proto::launch_to_wire(&task).encode_to_vec()),
        ("Event -> ClusterEvent", v1::Event::from(&event).encode_to_vec()),
        ("event_filter", atoll_proto::subscribe_request(&filter, Some(3), true).encode_to_vec()),
        ("JobKey -> JobKey", v1::JobKey::from(&job.key).encode_to_vec()),
        ("AgentResources", v1::AgentResources::from(&resources).encode_to_vec()),
        ("ResourceAggregate", v1::ResourceAggregate::from(&quota).encode_to_vec()),
        ("update_config_from_wire", atoll_proto::update_config_to_wire(&job.update_config).encode_to_vec()),
        ("health_check_from_wire", atoll_proto::health_check_to_wire(&job.config.health_check_config).encode_to_vec()),
        ("lifecycle_from_wire", atoll_proto::lifecycle_to_wire(&job.config.lifecycle).encode_to_vec()),
        (
            "announcer_from_wire",
            atoll_proto::announcer_to_wire(job.config.announce.as_ref().expect("an announcer")).encode_to_vec(),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Generated model values for the round trips.

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9._-]{0,15}"
}

fn job_key() -> impl Strategy<Value = model::JobKey> {
    (name(), name(), prop::sample::select(vec!["prod", "devel", "test", "staging2"]), name())
        .prop_map(|(cluster, role, env, job)| key(&cluster, &role, env, &job))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{0,24}", any::<String>()]
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![0.0..1e6f64, Just(0.0), Just(0.1), Just(1.5)]
}

fn logger() -> impl Strategy<Value = c::Logger> {
    (
        prop::sample::select(vec![
            c::LogDestination::File,
            c::LogDestination::Console,
            c::LogDestination::Both,
            c::LogDestination::None,
        ]),
        prop::sample::select(vec![c::LogMode::Standard, c::LogMode::Rotate]),
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(|(destination, mode, log_size, backups)| c::Logger {
            destination,
            mode,
            rotate: c::RotatePolicy { log_size, backups },
        })
}

fn process() -> impl Strategy<Value = model::ProcessSpec> {
    (name(), text(), any::<u32>(), any::<(bool, bool, bool)>(), any::<u64>(), logger()).prop_map(
        |(name, cmdline, max_failures, (daemon, ephemeral, is_final), min_duration, logger)| {
            let mut p = model::ProcessSpec::new(&name, &cmdline);
            p.max_failures = max_failures;
            p.daemon = daemon;
            p.ephemeral = ephemeral;
            p.is_final = is_final;
            p.min_duration = min_duration;
            p.logger = logger;
            p
        },
    )
}

fn task_spec() -> impl Strategy<Value = model::TaskSpec> {
    (
        prop::collection::vec(process(), 0..4),
        (finite(), any::<u64>(), any::<u64>(), any::<u64>()),
        prop::collection::vec(prop::collection::vec(name(), 0..3), 0..3),
        (any::<u32>(), any::<u32>(), any::<u64>()),
        prop::option::of(name()),
        name(),
    )
        .prop_map(
            |(processes, (cpu, ram_mb, disk_mb, gpu), order, (max_failures, max_concurrency, wait), user, n)| {
                let mut t = model::TaskSpec::new(processes, model::Resources { cpu, ram_mb, disk_mb, gpu });
                t.name = n;
                t.order = order;
                t.max_failures = max_failures;
                t.max_concurrency = max_concurrency;
                t.finalization_wait = wait;
                t.user = user;
                t
            },
        )
}

fn constraint() -> impl Strategy<Value = model::Constraint> {
    let rules = vec![
        ("rack", "r1"),
        ("rack", "!r1,r2"),
        ("host", "limit:2"),
        ("host", "unique"),
        ("zone", "cluster:us-east"),
        ("zone", "group_by"),
        ("zone", "group_by:3"),
        ("host", "like:web-.*"),
        ("host", "unlike:db-[0-9]+"),
        ("host", "max_per:4"),
        ("os", "is:linux"),
        ("os", "value:limit:1"),
        ("os", "!value:unique"),
        ("dedicated", "www-data/web"),
        ("dedicated", "*/web"),
    ];
    prop::sample::select(rules).prop_map(|(a, r)| model::Constraint::parse(a, r).expect("a valid constraint"))
}

fn update_strategy() -> impl Strategy<Value = Option<c::UpdateStrategy>> {
    prop::option::of(prop_oneof![
        any::<u32>().prop_map(|batch_size| c::UpdateStrategy::Queue { batch_size }),
        any::<(u32, bool)>().prop_map(|(batch_size, autopause_after_batch)| c::UpdateStrategy::Batch {
            batch_size,
            autopause_after_batch
        }),
        (prop::collection::vec(any::<u32>(), 0..4), any::<bool>()).prop_map(|(batch_sizes, autopause_after_batch)| {
            c::UpdateStrategy::VariableBatch { batch_sizes, autopause_after_batch }
        }),
    ])
}

fn update_config() -> impl Strategy<Value = c::UpdateConfig> {
    (any::<[u32; 4]>(), any::<(bool, bool, bool)>(), prop::option::of(any::<u32>()), update_strategy()).prop_map(
        |([batch_size, watch_secs, max_per_shard_failures, max_total_failures], (rollback, wait, sla), pulse, s)| {
            c::UpdateConfig {
                batch_size,
                watch_secs,
                max_per_shard_failures,
                max_total_failures,
                rollback_on_failure: rollback,
                wait_for_batch_completion: wait,
                pulse_interval_secs: pulse,
                sla_aware: sla,
                update_strategy: s,
            }
        },
    )
}

fn health_check() -> impl Strategy<Value = c::HealthCheckConfig> {
    let checker = prop_oneof![
        (text(), text(), any::<u32>()).prop_map(|(endpoint, expected_response, expected_response_code)| {
            c::HealthChecker::Http(c::HttpHealthChecker { endpoint, expected_response, expected_response_code })
        }),
        text().prop_map(|shell_command| c::HealthChecker::Shell { shell_command }),
    ];
    (checker, finite(), finite(), any::<u32>(), any::<u32>(), finite()).prop_map(
        |(health_checker, initial, interval, failures, successes, timeout)| c::HealthCheckConfig {
            health_checker,
            initial_interval_secs: initial,
            interval_secs: interval,
            max_consecutive_failures: failures,
            min_consecutive_successes: successes,
            timeout_secs: timeout,
        },
    )
}

fn lifecycle() -> impl Strategy<Value = c::LifecycleConfig> {
    prop::option::of((name(), text(), text(), any::<u32>(), any::<u32>()).prop_map(
        |(port, graceful_shutdown_endpoint, shutdown_endpoint, graceful_shutdown_wait_secs, shutdown_wait_secs)| {
            c::HttpLifecycleConfig {
                port,
                graceful_shutdown_endpoint,
                shutdown_endpoint,
                graceful_shutdown_wait_secs,
                shutdown_wait_secs,
            }
        },
    ))
    .prop_map(|http| c::LifecycleConfig { http })
}

fn announcer() -> impl Strategy<Value = c::Announcer> {
    let target = prop_oneof![name().prop_map(c::PortTarget::Named), any::<u16>().prop_map(c::PortTarget::Static)];
    (name(), prop::collection::btree_map(name(), target, 0..4), prop::option::of(text()))
        .prop_map(|(primary_port, portmap, zk_path)| c::Announcer { primary_port, portmap, zk_path })
}

fn sla_policy() -> impl Strategy<Value = c::SlaPolicy> {
    prop_oneof![
        any::<(u32, u64)>().prop_map(|(count, duration_secs)| c::SlaPolicy::Count { count, duration_secs }),
        (0.0..=100.0f64, any::<u64>())
            .prop_map(|(percentage, duration_secs)| c::SlaPolicy::Percentage { percentage, duration_secs }),
        (text(), text())
            .prop_map(|(coordinator_url, status_key)| c::SlaPolicy::Coordinator { coordinator_url, status_key }),
    ]
}

fn container() -> impl Strategy<Value = c::Container> {
    let parameter = (name(), text()).prop_map(|(name, value)| c::DockerParameter { name, value });
    let image = prop_oneof![
        (name(), text()).prop_map(|(name, image_id)| c::MesosImage::Appc { name, image_id }),
        (name(), name()).prop_map(|(name, tag)| c::MesosImage::Docker { name, tag }),
    ];
    let volume = (text(), text(), prop::sample::select(vec![c::VolumeMode::Ro, c::VolumeMode::Rw]))
        .prop_map(|(container_path, host_path, mode)| c::Volume { container_path, host_path, mode });
    prop_oneof![
        (name(), prop::collection::vec(parameter, 0..3))
            .prop_map(|(image, parameters)| c::Container::Docker { image, parameters }),
        (prop::option::of(image), prop::collection::vec(volume, 0..3))
            .prop_map(|(image, volumes)| c::Container::Mesos { image, volumes }),
    ]
}

fn job_spec_value() -> impl Strategy<Value = JobSpec> {
    let job_fields = (
        job_key(),
        any::<u32>(),
        prop::option::of(text()),
        prop::sample::select(vec![
            c::CronCollisionPolicy::KillExisting,
            c::CronCollisionPolicy::CancelNew,
            c::CronCollisionPolicy::RunOverlap,
        ]),
        prop::option::of(name()),
        prop::option::of(any::<u64>()),
        update_config(),
    );
    let task_fields = (
        task_spec(),
        any::<(bool, bool)>(),
        prop::option::of(text()),
        prop::option::of(prop::sample::select(vec!["preferred", "revocable", "preemptible", "nonsense"])),
        any::<(i32, i32)>(),
        prop::collection::vec(constraint(), 0..4),
        prop::collection::vec((text(), text()).prop_map(|(key, value)| c::Metadata { key, value }), 0..3),
    );
    let policies = (
        health_check(),
        lifecycle(),
        prop::option::of(announcer()),
        prop::option::of(
            any::<(bool, u64)>().prop_map(|(reschedule, delay_secs)| c::PartitionPolicy { reschedule, delay_secs }),
        ),
        prop::option::of(sla_policy()),
        prop::option::of(container()),
    );
    (job_fields, task_fields, policies).prop_map(
        |(
            (key, instances, cron_schedule, cron_collision_policy, cron_timezone, deadline, update_config),
            (task, (service, production), contact, tier, (priority, max_task_failures), constraints, metadata),
            (health_check_config, lifecycle, announce, partition_policy, sla_policy, container),
        )| {
            let mut job = JobSpec::new(key, task);
            job.instances = instances;
            job.cron_schedule = cron_schedule;
            job.cron_collision_policy = cron_collision_policy;
            job.cron_timezone = cron_timezone;
            job.cron_starting_deadline_secs = deadline;
            job.update_config = update_config;
            let config = &mut job.config;
            config.service = service;
            config.production = production;
            config.contact = contact;
            config.tier = tier.map(str::to_owned);
            config.priority = priority;
            config.max_task_failures = max_task_failures;
            config.constraints = constraints;
            config.metadata = metadata;
            config.health_check_config = health_check_config;
            config.lifecycle = lifecycle;
            config.announce = announce;
            config.partition_policy = partition_policy;
            config.sla_policy = sla_policy;
            config.container = container;
            job
        },
    )
}

fn event_value() -> impl Strategy<Value = ClusterEvent> {
    let state = || prop::sample::select(TaskState::ALL.to_vec());
    let detail = prop_oneof![
        (name(), any::<u32>(), state(), state(), text(), prop::option::of(name())).prop_map(
            |(task, instance, previous, state, message, host)| EventDetail::Task {
                task: model::TaskId(task),
                instance,
                previous,
                state,
                message,
                host,
            }
        ),
        (prop::sample::select(JobChange::ALL.to_vec()), text())
            .prop_map(|(change, message)| EventDetail::Job { change, message }),
        (any::<u64>(), prop::sample::select(UpdateState::ALL.to_vec()), text())
            .prop_map(|(update, state, message)| EventDetail::Update { update, state, message }),
        (prop::sample::select(CronRunState::ALL.to_vec()), text())
            .prop_map(|(state, message)| EventDetail::Cron { state, message }),
    ];
    (any::<u64>(), any::<u64>(), job_key(), detail).prop_map(|(index, at_ms, job, detail)| ClusterEvent {
        index,
        at_ms,
        job,
        detail,
    })
}

/// `value` through its wire message and its bytes.
fn over_the_wire<W: Message + Default>(wire: W) -> W {
    W::decode(wire.encode_to_vec().as_slice()).expect("an encoding prost wrote decodes")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2048, ..ProptestConfig::default() })]

    /// Arbitrary bytes: every decoder either cannot decode them or converts without a panic,
    /// and every refusal names its field.
    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        every_decoder(&bytes)?;
    }

    /// Protobuf-shaped noise (well-formed fields, wrong numbers, wrong types, nested, words the
    /// decoders look for): the conversions run on whatever prost makes of it.
    #[test]
    fn protobuf_shaped_noise_never_panics_a_decoder(bytes in protobuf_noise()) {
        every_decoder(&bytes)?;
    }

    /// Valid encodings of every decoder's message, truncated, flipped, spliced, cut and
    /// doubled, go to every decoder.
    #[test]
    fn mutated_valid_messages_never_panic_a_decoder(
        seed in any::<Index>(),
        mutations in prop::collection::vec(mutation(&[]), 1..5),
    ) {
        let seeds = seeds();
        let (_, bytes) = &seeds[seed.index(seeds.len())];
        let mutated = mutate(bytes.clone(), &mutations);
        every_decoder(&mutated)?;
    }

    /// A valid job cut at any point: a prefix of an encoding is either undecodable or a
    /// message the conversions judge like any other.
    #[test]
    fn every_truncation_of_a_job_is_decoded_or_refused(cut in any::<Index>()) {
        let bytes = v1::JobConfig::from(&every_field()).encode_to_vec();
        let cut = cut.index(bytes.len());
        every_decoder(&bytes[..cut])?;
    }

    /// Jobs the model can hold come back from the wire as they were.
    #[test]
    fn jobs_survive_the_wire(spec in job_spec_value()) {
        let back = JobSpec::try_from(&over_the_wire(v1::JobConfig::from(&spec)));
        prop_assert_eq!(back, Ok(spec));
    }

    /// So do events, agent resources, quotas and port maps.
    #[test]
    fn events_resources_quotas_and_ports_survive_the_wire(
        event in event_value(),
        cpus in finite(),
        sizes in any::<(u64, u64, u64)>(),
        ranges in prop::collection::vec(any::<(u16, u16)>(), 0..4),
        cpu_millis in 0u64..=1_000_000_000_000_000,
        ports in prop::collection::btree_map(name(), any::<u16>(), 0..6),
    ) {
        prop_assert_eq!(ClusterEvent::try_from(&over_the_wire(v1::Event::from(&event))), Ok(event));
        let resources = model::AgentResources {
            cpus,
            mem_mb: sizes.0,
            disk_mb: sizes.1,
            gpus: sizes.2,
            ports: ranges.into_iter().map(|(begin, end)| model::PortRange { begin, end }).collect(),
        };
        let back = model::AgentResources::try_from(&over_the_wire(v1::AgentResources::from(&resources)));
        prop_assert_eq!(back, Ok(resources));
        let quota = model::ResourceAggregate { cpu_millis, ram_mb: sizes.0, disk_mb: sizes.1 };
        let back = model::ResourceAggregate::try_from(&over_the_wire(v1::ResourceAggregate::from(&quota)));
        prop_assert_eq!(back, Ok(quota));
        let wire: HashMap<String, u32> = atoll_proto::ports_to_wire(&ports);
        prop_assert_eq!(atoll_proto::ports_from_wire(&wire), Ok(ports));
    }
}

/// The seeds are what the mutations start from: each must be a message its own decoder
/// accepts, or the mutation property would only ever test refusals.
#[test]
fn every_seed_is_accepted_by_its_decoder() {
    for (name, bytes) in seeds() {
        let (_, decoder) = DECODERS.iter().find(|(n, _)| *n == name).expect("a seed names a decoder");
        let result = decoder(&bytes);
        assert!(matches!(result, Outcome::Accepted), "{name}: {result:?}");
    }
    assert_eq!(every_field().validate(), Vec::<String>::new(), "the seed job is valid");
}

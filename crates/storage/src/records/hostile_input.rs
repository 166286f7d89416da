//! The record decoders stand up to hostile bytes: whatever a tree holds — arbitrary bytes, a
//! real record of this or an earlier format with bytes flipped, cut or spliced, a JSON value
//! swapped for one of another type, or an envelope with a format that is no format — every
//! decoder the store's `load` uses answers without a panic: a record, or an error that is
//! either "newer" (a format above [`FORMAT`]) or "malformed" with a message. A record it
//! accepts is one the store can write back and read again unchanged, and a format-1 task comes
//! with the config it implies, under that config's content address.
//!
//! Bounded for CI: a few hundred cases per property.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::LazyLock;

use atoll_model::event::ClusterEvent;
use atoll_model::{
    AgentId, ConfigId, JobKey, JobSpec, MaintenanceMode, ProcessSpec, ResourceAggregate, Resources, TaskConfig,
    TaskSpec, TaskState,
};
use atoll_mutations::{json_value, mutate, mutation, replace_node};
use atoll_state::{
    ClusterState, CronJob, Durable, Effect, JobUpdate, Outcome, Registration, RestartPlan, StateConfig, StatusReport,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{FORMAT, TaskRecord, Unreadable, decode_plain, decode_task, encode};
use crate::{MemoryStore, Store};

/// What a mutation splices into records besides random bytes.
const RECORD_TOKENS: &[&str] = &["{", "}", "[", "\"", ",", ":", "null", "-1", "1e999", "\"format\":3,"];
/// Wrong values for records besides the common ones.
const RECORD_VALUES: &[&str] =
    &["\"not a key\"", "\"devcluster/www-data/devel/hello\"", "{\"format\": 3, \"record\": null}"];

// ---------------------------------------------------------------------------------------------
// The decoders, one per tree, as `SledStore::load` calls them.

/// What a decoder made of one value.
type Decoded = Result<(), Unreadable>;

/// A record that decodes is written back and read again unchanged.
fn plain<T: DeserializeOwned + Serialize + PartialEq + Debug>(bytes: &[u8]) -> Decoded {
    let record: T = decode_plain(bytes)?;
    let again: T = decode_plain(&encode(&record).expect("a decoded record encodes")).expect("and decodes again");
    assert_eq!(again, record, "a record read back differs from the one written");
    Ok(())
}

fn task(bytes: &[u8], jobs: &BTreeMap<JobKey, JobSpec>) -> Decoded {
    let (record, implied) = decode_task(bytes, jobs)?;
    if let Some(config) = &implied {
        assert_eq!(record.config, ConfigId::of(config), "a format-1 task names the config it implies");
    }
    let again = decode_task(&encode(&record).expect("a task record encodes"), jobs).expect("and decodes again");
    assert_eq!(again, (record, None), "a task record read back differs from the one written");
    Ok(())
}

type Decoder = fn(&[u8]) -> Decoded;

static NO_JOBS: LazyLock<BTreeMap<JobKey, JobSpec>> = LazyLock::new(BTreeMap::new);

/// The jobs of the seed state, for format-1 tasks whose job is there.
static SEED_JOBS: LazyLock<BTreeMap<JobKey, JobSpec>> =
    LazyLock::new(|| SEEDS.durable.jobs.iter().map(|job| (job.key.clone(), job.clone())).collect());

/// Every tree's decoder, by tree.
const DECODERS: &[(&str, Decoder)] = &[
    ("jobs", plain::<JobSpec>),
    ("configs", plain::<TaskConfig>),
    ("tasks", |bytes| task(bytes, &NO_JOBS)),
    ("tasks (job kept)", |bytes| task(bytes, &SEED_JOBS)),
    ("hosts", plain::<MaintenanceMode>),
    ("quotas", plain::<ResourceAggregate>),
    ("restarts", plain::<RestartPlan>),
    ("updates", plain::<JobUpdate>),
    ("cron", plain::<CronJob>),
    ("events", plain::<ClusterEvent>),
    ("frameworks", plain::<atoll_model::framework::FrameworkRecord>),
    ("acknowledged", plain::<u32>),
];

/// Feeds `bytes` to every decoder and checks how each refused; answers how many accepted.
fn every_decoder(bytes: &[u8]) -> Result<usize, TestCaseError> {
    let mut accepted = 0;
    for (tree, decode) in DECODERS {
        match decode(bytes) {
            Ok(()) => accepted += 1,
            Err(Unreadable::Newer(found)) => {
                prop_assert!(found > FORMAT, "{tree}: format {found} is refused as newer than {FORMAT}")
            }
            Err(Unreadable::Malformed(detail)) => {
                prop_assert!(!detail.trim().is_empty(), "{tree}: a malformed record without a reason")
            }
        }
    }
    Ok(accepted)
}

// ---------------------------------------------------------------------------------------------
// Seeds: real records of every tree, in format 1 (the golden schema-2 trees) and format 2 (a
// state with a job mid-restart and mid-update, a drained host, a quota and a cron run).

struct Seeds {
    durable: Durable,
    /// Each seed with the tree whose decoder reads it.
    records: Vec<(&'static str, Vec<u8>)>,
}

static SEEDS: LazyLock<Seeds> = LazyLock::new(seeds);

fn job(name: &str) -> JobSpec {
    let task = TaskSpec::new(
        vec![ProcessSpec::new(name, "sleep 100")],
        Resources { cpu: 0.5, ram_mb: 16, disk_mb: 16, gpu: 0 },
    );
    let mut job = JobSpec::new(format!("devcluster/www-data/devel/{name}").parse().expect("a job key"), task);
    job.instances = 2;
    job.config.service = true;
    job
}

fn seed_state() -> Durable {
    let store = MemoryStore::default();
    let mut state = ClusterState::new(StateConfig::new("devcluster"));
    let commit = |outcome: Outcome| {
        store.commit(&outcome.changes).expect("the memory store keeps everything");
        outcome.effects
    };
    let registration = |id: &str| Registration {
        incarnation: None,
        id: AgentId(id.into()),
        hostname: id.into(),
        resources: "cpus:4;mem:1024;disk:1024".parse().expect("agent resources"),
        attributes: Default::default(),
        tasks: Vec::new(),
    };
    commit(state.register_agent(registration("a"), 0).expect("registered"));
    commit(state.register_agent(registration("b"), 0).expect("registered"));
    commit(state.create_job(job("hello"), 0).expect("created").1);
    for effect in commit(state.placement_round(0)) {
        if let Effect::Launch { agent, task } = effect {
            let running =
                StatusReport { state: TaskState::Running, message: String::new(), exit_code: None, sandbox: None };
            commit(state.update_status(&agent, &task.id, running, 1));
        }
    }
    commit(state.restart(&job("hello").key, None, 1, 2).expect("restarting").1);
    let mut web = job("web");
    commit(state.create_job(web.clone(), 2).expect("created").1);
    web.config.task.processes[0].cmdline = "sleep 200".into();
    commit(state.start_update(web, None, Some("a new release".into()), 3).expect("an update").1);
    commit(state.set_maintenance(&["b".to_owned()], MaintenanceMode::Draining, 3).1);
    commit(state.set_quota("www-data", ResourceAggregate { cpu_millis: 1500, ram_mb: 64, disk_mb: 64 }));
    let mut nightly = job("nightly");
    nightly.config.service = false;
    nightly.cron_schedule = Some("15 2 * * *".into());
    nightly.cron_timezone = Some("Europe/Paris".into());
    commit(state.schedule_cron(nightly.clone(), 4).expect("scheduled").1);
    commit(state.start_cron(&nightly.key, 5).expect("started").1);
    // A framework with a task on agent a, one update of it acknowledged.
    let subscription = atoll_state::Subscription {
        framework_id: None,
        name: "fanout".into(),
        role: "www-data".into(),
        failover_timeout_ms: None,
        principal: "alice".into(),
        suppressed: false,
    };
    let ((framework, _), outcome) = state.subscribe_framework(subscription, "fanout-1", "s", 6).expect("subscribed");
    commit(outcome);
    let offers: Vec<String> = state
        .allocation_round(7)
        .effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Framework { event: atoll_state::FrameworkEvent::Offers(made), .. } => Some(made),
            _ => None,
        })
        .flatten()
        .filter(|o| o.agent.0 == "a")
        .map(|o| o.id)
        .collect();
    let launch = atoll_state::Launch {
        task_id: "shard-0".into(),
        resources: Resources { cpu: 0.5, ram_mb: 16, disk_mb: 16, gpu: 0 },
        command: "sleep 5".into(),
        ports: Default::default(),
        environment: Default::default(),
        executor_command: String::new(),
        data: Vec::new(),
    };
    let (ids, outcome) = state.accept_offers(&framework, "s", &offers, vec![launch], 0.0, 8).expect("accepted");
    commit(outcome);
    commit(state.acknowledge_update(&framework, "s", "shard-0", &format!("{}#1", ids[0])).expect("acknowledged").1);
    store.load().expect("the memory store loads")
}

fn seeds() -> Seeds {
    let durable = seed_state();
    let mut records: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut put = |tree: &'static str, bytes: Result<Vec<u8>, serde_json::Error>| {
        records.push((tree, bytes.expect("a record encodes")));
    };
    for job in &durable.jobs {
        put("jobs", encode(job));
    }
    for config in &durable.configs {
        put("configs", encode(config.config()));
    }
    for task in &durable.tasks {
        put("tasks", encode(&TaskRecord::of(task)));
    }
    for (_, mode) in &durable.host_modes {
        put("hosts", encode(mode));
    }
    for (_, quota) in &durable.quotas {
        put("quotas", encode(quota));
    }
    for plan in &durable.restarts {
        put("restarts", encode(plan));
    }
    for update in &durable.updates {
        put("updates", encode(update));
    }
    for cron in &durable.cron {
        put("cron", encode(cron));
    }
    for event in &durable.events {
        put("events", encode(event));
    }
    for framework in &durable.frameworks {
        put("frameworks", encode(framework));
    }
    for (_, count) in &durable.acknowledged {
        put("acknowledged", encode(count));
    }
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/schema2");
    for tree in ["jobs", "tasks", "hosts", "quotas", "restarts"] {
        let path = golden.join(format!("{tree}.json"));
        let entries: Vec<Value> =
            serde_json::from_slice(&std::fs::read(&path).expect("a golden tree")).expect("golden JSON");
        for entry in entries {
            put(tree, serde_json::to_vec(&entry["value"]));
        }
    }
    Seeds { durable, records }
}

// ---------------------------------------------------------------------------------------------
// Mutations.

/// Formats an envelope may claim: every kind of JSON number and not-a-number.
fn format_value() -> impl Strategy<Value = Value> {
    prop::sample::select(vec!["0", "1", "2", "3", "4294967295", "4294967296", "-1", "2.0", "\"2\"", "null", "[2]"])
        .prop_map(|text| serde_json::from_str(text).expect("a JSON value"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 1024, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_a_record_decoder(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        every_decoder(&bytes)?;
    }

    #[test]
    fn mutated_records_never_panic_a_record_decoder(
        seed in any::<Index>(),
        mutations in prop::collection::vec(mutation(RECORD_TOKENS), 1..5),
    ) {
        let (_, bytes) = seed.get(&SEEDS.records);
        every_decoder(&mutate(bytes.clone(), &mutations))?;
    }

    #[test]
    fn records_with_a_value_of_the_wrong_type_never_panic_a_record_decoder(
        seed in any::<Index>(),
        path in prop::collection::vec(any::<Index>(), 0..7),
        replacement in json_value(RECORD_VALUES),
        remove in any::<bool>(),
    ) {
        let (_, bytes) = seed.get(&SEEDS.records);
        let mut value: Value = serde_json::from_slice(bytes).expect("a seed is JSON");
        replace_node(&mut value, &path, replacement, remove);
        every_decoder(&serde_json::to_vec(&value).expect("JSON prints"))?;
    }

    /// Any format an envelope claims, around any real record: read in that format, refused
    /// as newer, or malformed; never a format at or below this build's called newer.
    #[test]
    fn an_envelope_of_any_format_is_read_or_refused_for_what_it_is(seed in any::<Index>(), format in format_value()) {
        let (_, bytes) = seed.get(&SEEDS.records);
        let value: Value = serde_json::from_slice(bytes).expect("a seed is JSON");
        let record = match value {
            Value::Object(mut map) if map.len() == 2 && map.contains_key("format") => {
                map.remove("record").expect("an envelope has its record")
            }
            bare => bare,
        };
        let envelope = serde_json::json!({ "format": format, "record": record });
        every_decoder(&serde_json::to_vec(&envelope).expect("JSON prints"))?;
    }
}

/// Every seed is a real record its own tree's decoder reads, so the mutations start from the
/// real thing; and every tree has seeds.
#[test]
fn every_seed_is_read_by_its_trees_decoder() {
    for (tree, _) in DECODERS.iter().filter(|(tree, _)| !tree.contains('(')) {
        assert!(SEEDS.records.iter().any(|(t, _)| t == tree), "no seed record for the {tree} tree");
    }
    for (tree, bytes) in &SEEDS.records {
        let (_, decode) = DECODERS.iter().find(|(t, _)| t == tree).expect("a decoder for the tree");
        if let Err(error) = decode(bytes) {
            panic!("a {tree} seed does not decode: {error:?}: {}", String::from_utf8_lossy(bytes));
        }
    }
}

/// What the envelope property found: an envelope claiming format 0 (which no Atoll wrote) was
/// refused as "newer than this Atoll reads" for tasks, telling the operator to upgrade, and read
/// as format 1 for every other tree. It is malformed, and says why.
#[test]
fn an_envelope_of_format_0_is_malformed_not_newer() {
    let (_, task) = SEEDS.records.iter().find(|(tree, _)| *tree == "tasks").expect("a task seed");
    let record: Value = serde_json::from_slice::<Value>(task).expect("JSON")["record"].clone();
    let zero = serde_json::to_vec(&serde_json::json!({ "format": 0, "record": record })).expect("JSON prints");
    for (tree, decode) in DECODERS {
        match decode(&zero) {
            Err(Unreadable::Malformed(detail)) => assert!(detail.contains("format 0"), "{tree}: {detail}"),
            other => panic!("{tree}: format 0 is {other:?}"),
        }
    }
}

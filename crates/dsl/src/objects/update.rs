//! `UpdateConfig(#{ ... })`, how a rolling update proceeds, and its `update_strategy`:
//! `QueueUpdateStrategy`, `BatchUpdateStrategy` or `VariableBatchUpdateStrategy`.

use std::sync::Arc;

use atoll_model::config::{UpdateConfig, UpdateStrategy};
use rhai::Engine;

use super::fields::{FieldReader, ObjectSchema, default, required};
use super::kinds::{Flag, ListOf, object_described, whole};
use super::{Call, register_constructor};
use crate::session::Session;

pub(super) const UPDATE_CONFIG: ObjectSchema = ObjectSchema {
    name: "UpdateConfig",
    summary: "How a rolling update (`atoll update start`) proceeds.",
    fields: &[
        default("batch_size", "1"),
        default("watch_secs", "45"),
        default("max_per_shard_failures", "0"),
        default("max_total_failures", "0"),
        default("rollback_on_failure", "true"),
        default("wait_for_batch_completion", "false"),
        default("pulse_interval_secs", "none"),
        default("sla_aware", "false"),
        default("update_strategy", "none"),
    ],
};
pub(super) const QUEUE: ObjectSchema = ObjectSchema {
    name: "QueueUpdateStrategy",
    summary: "An update strategy that keeps `batch_size` instances updating at once.",
    fields: &[default("batch_size", "1")],
};
pub(super) const BATCH: ObjectSchema = ObjectSchema {
    name: "BatchUpdateStrategy",
    summary: "An update strategy that updates groups of `batch_size`, each finished before the next starts.",
    fields: &[default("batch_size", "1"), default("autopause_after_batch", "false")],
};
pub(super) const VARIABLE_BATCH: ObjectSchema = ObjectSchema {
    name: "VariableBatchUpdateStrategy",
    summary: "An update strategy that updates groups of the given sizes; the last size repeats.",
    fields: &[required("batch_sizes"), default("autopause_after_batch", "false")],
};

/// How messages name the value of `update_strategy`.
const STRATEGY: &str = "a QueueUpdateStrategy, BatchUpdateStrategy or VariableBatchUpdateStrategy";

// Aurora's defaults for the strategies.
const DEFAULT_BATCH_SIZE: u32 = 1;
const DEFAULT_AUTOPAUSE: bool = false;

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, &UPDATE_CONFIG, update_config);
    register_constructor(engine, session, &QUEUE, queue);
    register_constructor(engine, session, &BATCH, batch);
    register_constructor(engine, session, &VARIABLE_BATCH, variable_batch);
}

fn update_config(call: &Call<'_>, mut fields: FieldReader<'_>) -> UpdateConfig {
    let defaults = UpdateConfig::default();
    let config = UpdateConfig {
        batch_size: fields.or("batch_size", whole(), defaults.batch_size),
        watch_secs: fields.or("watch_secs", whole(), defaults.watch_secs),
        max_per_shard_failures: fields.or("max_per_shard_failures", whole(), defaults.max_per_shard_failures),
        max_total_failures: fields.or("max_total_failures", whole(), defaults.max_total_failures),
        rollback_on_failure: fields.or("rollback_on_failure", Flag, defaults.rollback_on_failure),
        wait_for_batch_completion: fields.or("wait_for_batch_completion", Flag, defaults.wait_for_batch_completion),
        pulse_interval_secs: fields.optional("pulse_interval_secs", whole()),
        sla_aware: fields.or("sla_aware", Flag, defaults.sla_aware),
        update_strategy: fields.optional("update_strategy", object_described(STRATEGY)),
    };
    call.report_fields(fields.finish());
    config
}

/// Keeps `batch_size` instances updating at once.
fn queue(call: &Call<'_>, mut fields: FieldReader<'_>) -> UpdateStrategy {
    let strategy = UpdateStrategy::Queue { batch_size: fields.or("batch_size", whole(), DEFAULT_BATCH_SIZE) };
    call.report_fields(fields.finish());
    strategy
}

/// Updates groups of `batch_size`, each finished before the next starts.
fn batch(call: &Call<'_>, mut fields: FieldReader<'_>) -> UpdateStrategy {
    let strategy = UpdateStrategy::Batch {
        batch_size: fields.or("batch_size", whole(), DEFAULT_BATCH_SIZE),
        autopause_after_batch: fields.or("autopause_after_batch", Flag, DEFAULT_AUTOPAUSE),
    };
    call.report_fields(fields.finish());
    strategy
}

/// Updates groups of the given sizes; the last size repeats.
fn variable_batch(call: &Call<'_>, mut fields: FieldReader<'_>) -> UpdateStrategy {
    let strategy = UpdateStrategy::VariableBatch {
        batch_sizes: fields.required("batch_sizes", ListOf(whole())).unwrap_or_else(|| vec![DEFAULT_BATCH_SIZE]),
        autopause_after_batch: fields.or("autopause_after_batch", Flag, DEFAULT_AUTOPAUSE),
    };
    call.report_fields(fields.finish());
    strategy
}

#[cfg(test)]
mod tests {
    use crate::test_support::{diagnostics_of, job_with};
    use atoll_model::config::{UpdateConfig, UpdateStrategy};

    fn update_config_of(expression: &str) -> UpdateConfig {
        job_with(&format!("instances: 10, update_config: {expression}")).update_config
    }

    #[test]
    fn unset_fields_take_auroras_defaults() {
        let defaults = UpdateConfig {
            batch_size: 1,
            watch_secs: 45,
            max_per_shard_failures: 0,
            max_total_failures: 0,
            rollback_on_failure: true,
            wait_for_batch_completion: false,
            pulse_interval_secs: None,
            sla_aware: false,
            update_strategy: None,
        };
        assert_eq!(update_config_of("UpdateConfig(#{})"), defaults);
        assert_eq!(job_with("instances: 2").update_config, defaults);
    }

    #[test]
    fn every_field_can_be_set() {
        let config = update_config_of(
            "UpdateConfig(#{ batch_size: 2, watch_secs: 10, max_per_shard_failures: 3, max_total_failures: 4, \
             rollback_on_failure: false, wait_for_batch_completion: true, pulse_interval_secs: 60, \
             update_strategy: QueueUpdateStrategy(#{ batch_size: 5 }) })",
        );
        let expected = UpdateConfig {
            batch_size: 2,
            watch_secs: 10,
            max_per_shard_failures: 3,
            max_total_failures: 4,
            rollback_on_failure: false,
            wait_for_batch_completion: true,
            pulse_interval_secs: Some(60),
            sla_aware: false,
            update_strategy: Some(UpdateStrategy::Queue { batch_size: 5 }),
        };
        assert_eq!(config, expected);
        let sla_aware = job_with(
            "instances: 30, update_config: UpdateConfig(#{ sla_aware: true }), \
             sla_policy: CountSlaPolicy(#{ count: 25, duration_secs: 60 })",
        );
        assert!(sla_aware.update_config.sla_aware);
    }

    #[test]
    fn each_strategy_has_auroras_defaults_and_takes_its_fields() {
        let strategy = |expression: &str| {
            update_config_of(&format!("UpdateConfig(#{{ update_strategy: {expression} }})")).update_strategy
        };
        assert_eq!(strategy("QueueUpdateStrategy(#{})"), Some(UpdateStrategy::Queue { batch_size: 1 }));
        assert_eq!(
            strategy("BatchUpdateStrategy(#{})"),
            Some(UpdateStrategy::Batch { batch_size: 1, autopause_after_batch: false })
        );
        assert_eq!(
            strategy("BatchUpdateStrategy(#{ batch_size: 3, autopause_after_batch: true })"),
            Some(UpdateStrategy::Batch { batch_size: 3, autopause_after_batch: true })
        );
        assert_eq!(
            strategy("VariableBatchUpdateStrategy(#{ batch_sizes: [1, 2, 5], autopause_after_batch: true })"),
            Some(UpdateStrategy::VariableBatch { batch_sizes: vec![1, 2, 5], autopause_after_batch: true })
        );
    }

    #[test]
    fn a_variable_batch_needs_its_sizes_and_a_strategy_must_be_one() {
        let diagnostics = diagnostics_of(&crate::test_support::job_file_with(
            "update_config: UpdateConfig(#{ update_strategy: VariableBatchUpdateStrategy(#{}) })",
        ));
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0].ends_with("VariableBatchUpdateStrategy is missing required field 'batch_sizes'"));
        let diagnostics = diagnostics_of(&crate::test_support::job_file_with(
            "update_config: UpdateConfig(#{ update_strategy: \"queue\", batch_sizes: [1] })",
        ));
        assert_eq!(
            diagnostics.iter().map(|d| d.split_once(": ").map_or("", |(_, m)| m)).collect::<Vec<_>>(),
            vec![
                "UpdateConfig field 'update_strategy' must be a QueueUpdateStrategy, BatchUpdateStrategy or \
                 VariableBatchUpdateStrategy, not a string",
                "UpdateConfig has no field 'batch_sizes'; did you mean 'batch_size'?",
            ]
        );
    }

    #[test]
    fn update_validation_is_reported_at_the_job() {
        let diagnostics = diagnostics_of(&crate::test_support::job_file_with(
            "instances: 2, update_config: UpdateConfig(#{ max_total_failures: 2, pulse_interval_secs: 5 })",
        ));
        assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
        assert!(diagnostics[0].contains("max_total_failures in update_config must be lesser than the job size"));
        assert!(diagnostics[1].ends_with("update_config pulse_interval_secs must be at least 60, not 5"));
    }
}

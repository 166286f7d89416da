//! A job's descriptive and maintenance objects: `Metadata(#{ key, value })`, the SLA policies
//! `CountSlaPolicy`, `PercentageSlaPolicy` and `CoordinatorSlaPolicy`, and `PartitionPolicy`.

use std::sync::Arc;

use atoll_model::config::{Metadata, PartitionPolicy, SlaPolicy};
use rhai::Engine;

use super::fields::{FieldReader, ObjectSchema, default, required};
use super::kinds::{Flag, Number, Text, whole};
use super::{Call, register_constructor};
use crate::session::Session;

pub(super) const METADATA: ObjectSchema = ObjectSchema {
    name: "Metadata",
    summary: "A key and a value shown with the job.",
    fields: &[required("key"), required("value")],
};
pub(super) const COUNT_SLA_POLICY: ObjectSchema = ObjectSchema {
    name: "CountSlaPolicy",
    summary: "An SLA of at least `count` instances running for `duration_secs`.",
    fields: &[required("count"), required("duration_secs")],
};
pub(super) const PERCENTAGE_SLA_POLICY: ObjectSchema = ObjectSchema {
    name: "PercentageSlaPolicy",
    summary: "An SLA of at least `percentage` of the instances running for `duration_secs`.",
    fields: &[required("percentage"), required("duration_secs")],
};
pub(super) const COORDINATOR_SLA_POLICY: ObjectSchema = ObjectSchema {
    name: "CoordinatorSlaPolicy",
    summary: "An SLA decided by asking `coordinator_url`, which answers `{\"drain\": true}`.",
    fields: &[required("coordinator_url"), default("status_key", "\"drain\"")],
};
pub(super) const PARTITION_POLICY: ObjectSchema = ObjectSchema {
    name: "PartitionPolicy",
    summary: "Whether, and after how long, an instance on a partitioned host is rescheduled.",
    fields: &[default("reschedule", "true"), default("delay_secs", "0")],
};

/// Aurora's default `CoordinatorSlaPolicy.status_key`.
const DEFAULT_STATUS_KEY: &str = "drain";

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, &METADATA, metadata);
    register_constructor(engine, session, &COUNT_SLA_POLICY, count_sla_policy);
    register_constructor(engine, session, &PERCENTAGE_SLA_POLICY, percentage_sla_policy);
    register_constructor(engine, session, &COORDINATOR_SLA_POLICY, coordinator_sla_policy);
    register_constructor(engine, session, &PARTITION_POLICY, partition_policy);
}

fn metadata(call: &Call<'_>, mut fields: FieldReader<'_>) -> Metadata {
    let metadata = Metadata {
        key: fields.required("key", Text).unwrap_or_else(|| call.session().stand_in("key")),
        value: fields.required("value", Text).unwrap_or_default(),
    };
    call.report_fields(fields.finish());
    metadata
}

// Missing required numbers stand in as valid ones, so validation adds nothing to the problem.

fn count_sla_policy(call: &Call<'_>, mut fields: FieldReader<'_>) -> SlaPolicy {
    let policy = SlaPolicy::Count {
        count: fields.required("count", whole()).unwrap_or(1),
        duration_secs: fields.required("duration_secs", whole()).unwrap_or_default(),
    };
    call.report_fields(fields.finish());
    policy
}

fn percentage_sla_policy(call: &Call<'_>, mut fields: FieldReader<'_>) -> SlaPolicy {
    let policy = SlaPolicy::Percentage {
        percentage: fields.required("percentage", Number).unwrap_or(100.0),
        duration_secs: fields.required("duration_secs", whole()).unwrap_or_default(),
    };
    call.report_fields(fields.finish());
    policy
}

fn coordinator_sla_policy(call: &Call<'_>, mut fields: FieldReader<'_>) -> SlaPolicy {
    let policy = SlaPolicy::Coordinator {
        coordinator_url: fields.required("coordinator_url", Text).unwrap_or_else(|| call.session().stand_in("url")),
        status_key: fields.or("status_key", Text, DEFAULT_STATUS_KEY.to_owned()),
    };
    call.report_fields(fields.finish());
    policy
}

fn partition_policy(call: &Call<'_>, mut fields: FieldReader<'_>) -> PartitionPolicy {
    let defaults = PartitionPolicy::default();
    let policy = PartitionPolicy {
        reschedule: fields.or("reschedule", Flag, defaults.reschedule),
        delay_secs: fields.or("delay_secs", whole(), defaults.delay_secs),
    };
    call.report_fields(fields.finish());
    policy
}

#[cfg(test)]
mod tests {
    use atoll_model::config::{Metadata, PartitionPolicy, SlaPolicy};

    use crate::test_support::{diagnostics_of, job_file_with, job_with, messages};

    #[test]
    fn metadata_is_carried_in_order() {
        let job = job_with(
            r#"metadata: [Metadata(#{ key: "team", value: "web" }), Metadata(#{ key: "owner", value: "{{role}}" })]"#,
        );
        assert_eq!(
            job.config.metadata,
            vec![
                Metadata { key: "team".into(), value: "web".into() },
                Metadata { key: "owner".into(), value: "r".into() }
            ]
        );
        assert!(job_with("").config.metadata.is_empty());
    }

    #[test]
    fn metadata_needs_a_key_and_a_value() {
        let source = job_file_with(r#"metadata: [Metadata(#{ key: "team" }), Metadata(#{ value: "x" }), "k=v"]"#);
        assert_eq!(
            messages(&diagnostics_of(&source)),
            vec![
                "Job field 'metadata' must be an array of Metadata, not an array whose element 2 is a string",
                "Metadata is missing required field 'value'",
                "Metadata is missing required field 'key'",
            ]
        );
    }

    #[test]
    fn every_sla_policy_takes_its_fields() {
        let policy = |expression: &str| job_with(&format!("instances: 30, sla_policy: {expression}")).config.sla_policy;
        assert_eq!(
            policy("CountSlaPolicy(#{ count: 25, duration_secs: 1800 })"),
            Some(SlaPolicy::Count { count: 25, duration_secs: 1800 })
        );
        assert_eq!(
            policy("PercentageSlaPolicy(#{ percentage: 95, duration_secs: 600 })"),
            Some(SlaPolicy::Percentage { percentage: 95.0, duration_secs: 600 })
        );
        assert_eq!(
            policy(r#"CoordinatorSlaPolicy(#{ coordinator_url: "http://coordinator" })"#),
            Some(SlaPolicy::Coordinator { coordinator_url: "http://coordinator".into(), status_key: "drain".into() })
        );
        assert_eq!(
            policy(r#"CoordinatorSlaPolicy(#{ coordinator_url: "http://c", status_key: "ok" })"#),
            Some(SlaPolicy::Coordinator { coordinator_url: "http://c".into(), status_key: "ok".into() })
        );
        assert_eq!(job_with("").config.sla_policy, None);
    }

    #[test]
    fn sla_policies_need_their_required_fields_and_are_validated() {
        let source = job_file_with("sla_policy: CountSlaPolicy(#{ duration_secs: 60 })");
        assert_eq!(messages(&diagnostics_of(&source)), vec!["CountSlaPolicy is missing required field 'count'"]);
        let source = job_file_with("sla_policy: PercentageSlaPolicy(#{ percentage: 120, duration_secs: 60 })");
        assert_eq!(
            messages(&diagnostics_of(&source)),
            vec!["PercentageSlaPolicy percentage must be in (0, 100], not 120"]
        );
        let source = job_file_with("sla_policy: Metadata(#{ key: \"a\", value: \"b\" })");
        assert_eq!(
            messages(&diagnostics_of(&source)),
            vec![
                "Job field 'sla_policy' must be a CountSlaPolicy, PercentageSlaPolicy or CoordinatorSlaPolicy, \
                 not a Metadata"
            ]
        );
    }

    #[test]
    fn a_partition_policy_has_auroras_defaults() {
        assert_eq!(
            job_with("partition_policy: PartitionPolicy(#{})").config.partition_policy,
            Some(PartitionPolicy { reschedule: true, delay_secs: 0 })
        );
        assert_eq!(
            job_with("partition_policy: PartitionPolicy(#{ reschedule: false, delay_secs: 300 })")
                .config
                .partition_policy,
            Some(PartitionPolicy { reschedule: false, delay_secs: 300 })
        );
        assert_eq!(job_with("").config.partition_policy, None);
    }
}

//! `Job(#{ ... })` and `Service(#{ ... })` (a Job with `service: true`): a task, its instance
//! count, its key and every job-level setting. A built job has its templates resolved, its
//! constraints parsed, and is checked with [`JobSpec::validate`]; every problem is reported
//! separately, at its field where it has one (a constraint's at its attribute), else at the
//! constructor's call site, and is recorded as this job's own.

use std::sync::Arc;

use atoll_model::config::CronCollisionPolicy;
use atoll_model::{Constraint, JobKey, JobSpec, ProcessSpec, Resources, TaskConfig, TaskSpec};
use rhai::Engine;

use super::fields::{Field, FieldReader, ObjectSchema, default, replacing, required};
use super::kinds::{Described, Flag, ListOf, MapOf, Text, object, object_described, whole};
use super::{Call, ObjectError, register_constructor};
use crate::session::{JobId, Session, Site};
use crate::templates::{self, Resolver};

const JOB_FIELDS: [Field; 25] = [
    required("cluster"),
    required("role"),
    required("environment"),
    default("name", "the task's name"),
    default("contact", "none"),
    default("instances", "1"),
    required("task"),
    default("announce", "none"),
    default("tier", "none"),
    default("priority", "0"),
    default("production", "false"),
    default("max_task_failures", "1"),
    default("cron_schedule", "none"),
    default("cron_collision_policy", "\"KILL_EXISTING\""),
    default("cron_timezone", "the scheduler's (UTC unless it says otherwise)"),
    default("cron_starting_deadline_secs", "the scheduler's (900)"),
    default("update_config", "UpdateConfig(#{})"),
    default("constraints", "#{}"),
    default("metadata", "[]"),
    default("health_check_config", "HealthCheckConfig(#{})"),
    default("lifecycle", "LifecycleConfig(#{ http: HttpLifecycleConfig(#{}) })"),
    default("partition_policy", "none"),
    default("sla_policy", "none"),
    default("container", "none"),
    default("service", "false"),
];
pub(super) const JOB: ObjectSchema = ObjectSchema {
    name: "Job",
    summary: "`instances` copies of a task under one key, CLUSTER/ROLE/ENVIRONMENT/NAME.",
    fields: &JOB_FIELDS,
};
pub(super) const SERVICE: ObjectSchema = ObjectSchema {
    name: "Service",
    summary: "A Job with `service: true`: its instances restart whenever they end.",
    fields: &replacing(JOB_FIELDS, default("service", "true")),
};

/// How messages name the value of `constraints`.
const CONSTRAINTS: &str = "an object map of host attribute to rule, e.g. #{ host: \"limit:1\", rack: \"r1,r2\" }";
/// How messages name the value of `sla_policy`.
const SLA_POLICY: &str = "a CountSlaPolicy, PercentageSlaPolicy or CoordinatorSlaPolicy";
/// How messages name the value of `container`.
const CONTAINER: &str = "a Docker or Mesos container";
/// The environment a job whose environment is missing or wrong stands in with, so that
/// validation adds nothing to that problem.
const STAND_IN_ENVIRONMENT: &str = "devel";

/// A job as a script holds it: the spec, where it was made (to place problems found later,
/// such as a duplicate key), and which `Job` or `Service` call made it (to tell its problems
/// from other jobs').
#[derive(Clone, Debug)]
pub(crate) struct JobValue {
    pub(crate) spec: JobSpec,
    pub(crate) site: Site,
    pub(crate) id: JobId,
}

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, &JOB, |call, fields| job(call, fields, false));
    register_constructor(engine, session, &SERVICE, |call, fields| job(call, fields, true));
}

fn job(call: &Call<'_>, mut fields: FieldReader<'_>, service_by_default: bool) -> JobValue {
    let id = call.makes_job();
    let stand_in = |what| call.session().stand_in(what);
    let cluster = fields.required("cluster", Text).unwrap_or_else(|| stand_in("cluster"));
    let role = fields.required("role", Text).unwrap_or_else(|| stand_in("role"));
    let environment = fields.required("environment", Text).unwrap_or_else(|| STAND_IN_ENVIRONMENT.to_owned());
    let name = fields.optional("name", Text);
    let task: TaskSpec = fields.required("task", object()).unwrap_or_else(|| stand_in_task(call));
    // Aurora's default name is '{{task.name}}'.
    let name = name.unwrap_or_else(|| task.name.clone());
    let defaults = JobSpec::new(JobKey { cluster, role, environment, name }, task);
    let cron_collision_policy = match fields.optional("cron_collision_policy", Text) {
        Some(word) => CronCollisionPolicy::parse(&word).unwrap_or_else(|| {
            fields.problem_at(&["cron_collision_policy"], ObjectError::CronPolicy(word));
            defaults.cron_collision_policy
        }),
        None => defaults.cron_collision_policy,
    };
    let constraints = fields.or("constraints", Described(MapOf(Text), CONSTRAINTS), Vec::new());
    let instances = fields.or("instances", whole(), defaults.instances);
    let cron_schedule = fields.optional("cron_schedule", Text);
    let cron_timezone = fields.optional("cron_timezone", Text);
    let cron_starting_deadline_secs = fields.optional("cron_starting_deadline_secs", whole());
    let update_config = fields.or("update_config", object(), defaults.update_config.clone());
    let config = TaskConfig {
        service: fields.or("service", Flag, service_by_default),
        contact: fields.optional("contact", Text),
        tier: fields.optional("tier", Text),
        priority: fields.or("priority", whole(), defaults.config.priority),
        production: fields.or("production", Flag, defaults.config.production),
        max_task_failures: fields.or("max_task_failures", whole(), defaults.config.max_task_failures),
        metadata: fields.or("metadata", ListOf(object()), Vec::new()),
        health_check_config: fields.or("health_check_config", object(), defaults.config.health_check_config.clone()),
        lifecycle: fields.or("lifecycle", object(), defaults.config.lifecycle.clone()),
        announce: fields.optional("announce", object()),
        partition_policy: fields.optional("partition_policy", object()),
        sla_policy: fields.optional("sla_policy", object_described(SLA_POLICY)),
        container: fields.optional("container", object_described(CONTAINER)),
        ..defaults.config
    };
    let mut job = JobSpec {
        key: defaults.key,
        instances,
        cron_schedule,
        cron_collision_policy,
        cron_timezone,
        cron_starting_deadline_secs,
        update_config,
        config,
    };

    let session = call.session();
    let mut resolver = Resolver::new(templates::own_bindings(&job), session.bindings(), session.unbound_allowed());
    templates::each_string(&mut job, &mut |text| resolver.resolve_in_place(text));
    for (attribute, rule) in constraints {
        match Constraint::parse(&resolver.resolve(&attribute), &resolver.resolve(&rule)) {
            Ok(constraint) => job.config.constraints.push(constraint),
            Err(error) => fields.problem_at(&["constraints", attribute.as_str()], ObjectError::from(error)),
        }
    }
    let zone = job.cron_timezone.as_deref().unwrap_or(atoll_cron::DEFAULT_ZONE);
    let zone = atoll_cron::parse_zone(zone).map(|z| z.name()).unwrap_or_else(|error| {
        fields.problem_at(&["cron_timezone"], ObjectError::from(error));
        atoll_cron::DEFAULT_ZONE
    });
    if let Some(Err(error)) = job.cron_schedule.as_ref().map(|schedule| atoll_cron::Schedule::parse(schedule, zone)) {
        fields.problem_at(&["cron_schedule"], ObjectError::from(error));
    }
    call.report_fields(fields.finish());
    let mut problems = resolver.problems();
    let key = &job.key;
    if let Err(error) = JobKey::new(&key.cluster, &key.role, &key.environment, &key.name) {
        problems.push(error.to_string());
    }
    problems.extend(job.validate());
    call.report(problems);
    JobValue { spec: job, site: call.site().clone(), id }
}

/// A valid task for a job whose task is missing or wrong, so that validation adds nothing to
/// that problem.
fn stand_in_task(call: &Call<'_>) -> TaskSpec {
    let process = ProcessSpec::new(&call.session().stand_in("process"), "true");
    TaskSpec::new(vec![process], Resources { cpu: 1.0, ram_mb: 1, disk_mb: 1, gpu: 0 })
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;

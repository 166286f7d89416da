//! Template references, `{{NAME}}`, in a job's strings, resolved when the job is built.
//!
//! - The job's own populated fields resolve (`{{role}}`, `{{name}}`, `{{task.name}}`,
//!   `{{instances}}`, `{{update_config.batch_size}}`, …; see [`own_bindings`]), and Aurora's
//!   `{{mesos.role}}` and `{{mesos.cluster}}` mean `{{role}}` and `{{cluster}}`.
//! - Then `--bind KEY=VALUE` bindings: the job's own fields are the closer binding and win, as
//!   in Aurora, so a bind supplies only names the job does not define.
//! - The run-time references (`{{thermos.ports[NAME]}}`, `{{thermos.task_id}}`,
//!   `{{thermos.user}}`, `{{mesos.instance}}`, `{{mesos.hostname}}`) are kept for the agent,
//!   written without inner spaces so the model finds their port names.
//! - Anything else is unbound, and an error, unless the evaluation allows unbound references
//!   (to list a file's jobs before their bindings are known), which are then left as written.
//!
//! Values may themselves contain references; a reference to itself, directly or through others,
//! is an error, and so is an expansion longer than the sandbox's string limit.

use std::collections::BTreeMap;

use atoll_model::JobSpec;
use atoll_model::config::{Container, HealthChecker, MesosImage, PortTarget, SlaPolicy};

use crate::sandbox::MAX_STRING_BYTES;

/// Aurora's names for the job's own fields.
const ALIASES: [(&str, &str); 2] = [("mesos.role", "role"), ("mesos.cluster", "cluster")];
/// The run-time references, besides `thermos.ports[NAME]`.
const RUN_TIME: [&str; 4] = ["thermos.task_id", "thermos.user", "mesos.instance", "mesos.hostname"];

/// Resolves the references in a job's strings, remembering what it could not resolve.
pub(crate) struct Resolver<'b> {
    own: BTreeMap<String, String>,
    binds: &'b BTreeMap<String, String>,
    /// Whether a name nothing binds is left as written rather than a problem.
    unbound_allowed: bool,
    /// Names already resolved, with their values.
    resolved: BTreeMap<String, String>,
    /// Names being resolved, innermost last, to catch a name that refers to itself.
    expanding: Vec<String>,
    unbound: Vec<String>,
    circular: Vec<String>,
    too_long: bool,
}

impl<'b> Resolver<'b> {
    /// A resolver for a job whose own fields are `own` (see [`own_bindings`]), with `binds`;
    /// with `unbound_allowed`, a name neither binds is no problem.
    pub(crate) fn new(
        own: BTreeMap<String, String>,
        binds: &'b BTreeMap<String, String>,
        unbound_allowed: bool,
    ) -> Self {
        Resolver {
            own,
            binds,
            unbound_allowed,
            resolved: BTreeMap::new(),
            expanding: Vec::new(),
            unbound: Vec::new(),
            circular: Vec::new(),
            too_long: false,
        }
    }

    /// `text` with every reference this resolver can resolve resolved; the others are left as
    /// written and remembered.
    pub(crate) fn resolve(&mut self, text: &str) -> String {
        let resolved = rewrite(text, |name| self.value_of(name));
        if resolved.len() > MAX_STRING_BYTES {
            self.too_long = true;
            return text.to_owned();
        }
        resolved
    }

    /// Resolves `text` in place.
    pub(crate) fn resolve_in_place(&mut self, text: &mut String) {
        if text.contains("{{") {
            *text = self.resolve(text);
        }
    }

    /// What could not be resolved, in Aurora's words where Aurora had them.
    pub(crate) fn problems(self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.unbound.is_empty() {
            problems.push(format!("Config contains unbound variables: {}", self.unbound.join(" ")));
        }
        if !self.circular.is_empty() {
            problems.push(format!("Config contains bindings that refer to themselves: {}", self.circular.join(" ")));
        }
        if self.too_long {
            problems.push(format!("Config bindings expand to a string longer than {MAX_STRING_BYTES} bytes"));
        }
        problems
    }

    /// What replaces `{{name}}`: `None` keeps it as written.
    fn value_of(&mut self, name: &str) -> Option<String> {
        if is_run_time(name) {
            return Some(format!("{{{{{name}}}}}"));
        }
        let name = ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, field)| field);
        if let Some(value) = self.resolved.get(name) {
            return Some(value.clone());
        }
        let Some(raw) = self.own.get(name).or_else(|| self.binds.get(name)).cloned() else {
            if !self.unbound_allowed {
                push_new(&mut self.unbound, format!("{{{{{name}}}}}"));
            }
            return None;
        };
        if self.expanding.iter().any(|expanding| expanding == name) {
            push_new(&mut self.circular, format!("{{{{{name}}}}}"));
            return None;
        }
        self.expanding.push(name.to_owned());
        let value = self.resolve(&raw);
        self.expanding.pop();
        self.resolved.insert(name.to_owned(), value.clone());
        Some(value)
    }
}

/// `text` with each `{{name}}` (`{{ name }}` too) replaced by `value`; other references stay.
pub(crate) fn substitute(text: &str, name: &str, value: &str) -> String {
    rewrite(text, |found| (found == name).then(|| value.to_owned()))
}

/// `text` with each reference `{{NAME}}` replaced as `replace(NAME)` says (`None`: left as
/// written). What is not a reference — `{{` without `}}`, or braces around something that is
/// not a name — is left alone.
fn rewrite(text: &str, mut replace: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let reference = after.find("}}").map(|end| (after[..end].trim(), end));
        match reference {
            Some((name, end)) if is_name(name) => {
                match replace(name) {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A reference's name: a dotted path, possibly indexed, as in `thermos.ports[http]`.
fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-[]".contains(c))
}

fn is_run_time(name: &str) -> bool {
    RUN_TIME.contains(&name)
        || name
            .strip_prefix("thermos.ports[")
            .and_then(|port| port.strip_suffix(']'))
            .is_some_and(|port| !port.is_empty() && !port.contains(['[', ']', '.']))
}

fn push_new(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The job's own populated fields, by their template paths. Sizes are in bytes, as a job file
/// writes them.
pub(crate) fn own_bindings(job: &JobSpec) -> BTreeMap<String, String> {
    let task = &job.config.task;
    let update = &job.update_config;
    let health = &job.config.health_check_config;
    let mut own: BTreeMap<String, String> = [
        ("cluster", job.key.cluster.clone()),
        ("role", job.key.role.clone()),
        ("environment", job.key.environment.clone()),
        ("name", job.key.name.clone()),
        ("instances", job.instances.to_string()),
        ("priority", job.config.priority.to_string()),
        ("production", job.config.production.to_string()),
        ("service", job.config.service.to_string()),
        ("max_task_failures", job.config.max_task_failures.to_string()),
        ("cron_collision_policy", job.cron_collision_policy.name().to_owned()),
        ("task.name", task.name.clone()),
        ("task.max_failures", task.max_failures.to_string()),
        ("task.max_concurrency", task.max_concurrency.to_string()),
        ("task.finalization_wait", task.finalization_wait.to_string()),
        ("task.resources.cpu", task.resources.cpu.to_string()),
        ("task.resources.ram", (task.resources.ram_mb << 20).to_string()),
        ("task.resources.disk", (task.resources.disk_mb << 20).to_string()),
        ("task.resources.gpu", task.resources.gpu.to_string()),
        ("update_config.batch_size", update.batch_size.to_string()),
        ("update_config.watch_secs", update.watch_secs.to_string()),
        ("update_config.max_per_shard_failures", update.max_per_shard_failures.to_string()),
        ("update_config.max_total_failures", update.max_total_failures.to_string()),
        ("update_config.rollback_on_failure", update.rollback_on_failure.to_string()),
        ("update_config.wait_for_batch_completion", update.wait_for_batch_completion.to_string()),
        ("update_config.sla_aware", update.sla_aware.to_string()),
        ("health_check_config.initial_interval_secs", health.initial_interval_secs.to_string()),
        ("health_check_config.interval_secs", health.interval_secs.to_string()),
        ("health_check_config.max_consecutive_failures", health.max_consecutive_failures.to_string()),
        ("health_check_config.min_consecutive_successes", health.min_consecutive_successes.to_string()),
        ("health_check_config.timeout_secs", health.timeout_secs.to_string()),
    ]
    .into_iter()
    .map(|(path, value)| (path.to_owned(), value))
    .collect();
    let optional = [
        ("contact", job.config.contact.clone()),
        ("tier", job.config.tier.clone()),
        ("cron_schedule", job.cron_schedule.clone()),
        ("cron_timezone", job.cron_timezone.clone()),
        ("task.user", task.user.clone()),
        ("update_config.pulse_interval_secs", update.pulse_interval_secs.map(|secs| secs.to_string())),
        ("announce.primary_port", job.config.announce.as_ref().map(|announce| announce.primary_port.clone())),
        ("announce.zk_path", job.config.announce.as_ref().and_then(|announce| announce.zk_path.clone())),
    ];
    own.extend(optional.into_iter().filter_map(|(path, value)| Some((path.to_owned(), value?))));
    own
}

/// Calls `visit` on every string of `job` a template may appear in: all but its parsed
/// constraints (whose text is resolved before parsing) and enumerated words.
pub(crate) fn each_string(job: &mut JobSpec, visit: &mut dyn FnMut(&mut String)) {
    let key = &mut job.key;
    for text in [&mut key.cluster, &mut key.role, &mut key.environment, &mut key.name] {
        visit(text);
    }
    let task = &mut job.config.task;
    visit(&mut task.name);
    task.user.iter_mut().for_each(&mut *visit);
    task.order.iter_mut().flatten().for_each(&mut *visit);
    for process in &mut task.processes {
        visit(&mut process.name);
        visit(&mut process.cmdline);
    }
    let texts = [&mut job.config.contact, &mut job.config.tier, &mut job.cron_schedule, &mut job.cron_timezone];
    for text in texts.into_iter().flatten() {
        visit(text);
    }
    for entry in &mut job.config.metadata {
        visit(&mut entry.key);
        visit(&mut entry.value);
    }
    match &mut job.config.health_check_config.health_checker {
        HealthChecker::Http(http) => {
            visit(&mut http.endpoint);
            visit(&mut http.expected_response);
        }
        HealthChecker::Shell { shell_command } => visit(shell_command),
    }
    if let Some(http) = &mut job.config.lifecycle.http {
        visit(&mut http.port);
        visit(&mut http.graceful_shutdown_endpoint);
        visit(&mut http.shutdown_endpoint);
    }
    if let Some(announce) = &mut job.config.announce {
        visit(&mut announce.primary_port);
        announce.zk_path.iter_mut().for_each(&mut *visit);
        let portmap = std::mem::take(&mut announce.portmap);
        announce.portmap = portmap
            .into_iter()
            .map(|(mut endpoint, mut target)| {
                visit(&mut endpoint);
                if let PortTarget::Named(name) = &mut target {
                    visit(name);
                }
                (endpoint, target)
            })
            .collect();
    }
    if let Some(SlaPolicy::Coordinator { coordinator_url, status_key }) = &mut job.config.sla_policy {
        visit(coordinator_url);
        visit(status_key);
    }
    match &mut job.config.container {
        Some(Container::Docker { image, parameters }) => {
            visit(image);
            for parameter in parameters {
                visit(&mut parameter.name);
                visit(&mut parameter.value);
            }
        }
        Some(Container::Mesos { image, volumes }) => {
            match image {
                Some(MesosImage::Appc { name, image_id }) => [name, image_id].into_iter().for_each(&mut *visit),
                Some(MesosImage::Docker { name, tag }) => [name, tag].into_iter().for_each(&mut *visit),
                None => {}
            }
            for volume in volumes {
                visit(&mut volume.container_path);
                visit(&mut volume.host_path);
            }
        }
        None => {}
    }
}

#[cfg(test)]
#[path = "templates_tests.rs"]
mod tests;

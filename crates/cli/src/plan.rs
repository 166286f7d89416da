//! `atoll job diff` and `atoll job plan`: what updating a job to its job file would change,
//! field by field for each config that runs now, and (plan) where each new task would go, what
//! would be preempted, and why what cannot be placed cannot. Both only read.

use std::collections::BTreeMap;

use atoll_model::{ChangeKind, JobSpec};
use atoll_proto::{enum_name, v1};
use serde_json::{Value, json};

use crate::diff::{FieldChange, config_changes};
use crate::render;

fn kind_of(raw: i32) -> Option<ChangeKind> {
    match v1::InstanceChangeKind::try_from(raw).ok()? {
        v1::InstanceChangeKind::Add => Some(ChangeKind::Add),
        v1::InstanceChangeKind::Remove => Some(ChangeKind::Remove),
        v1::InstanceChangeKind::Update => Some(ChangeKind::Update),
        v1::InstanceChangeKind::Unchanged => Some(ChangeKind::Unchanged),
        v1::InstanceChangeKind::Unspecified => None,
    }
}

/// Instance ids as ranges, `0-2,5`.
pub fn ranges(ids: &[u32]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start { start.to_string() } else { format!("{start}-{}", sorted[i]) });
        i += 1;
    }
    parts.join(",")
}

fn instances_word(ids: &[u32]) -> String {
    format!("{} {}", if ids.len() == 1 { "Instance" } else { "Instances" }, ranges(ids))
}

/// What updating to `proposed` changes, by config group: the instances of each running config
/// that would change with their field changes, and the instances added, removed or unchanged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub updated: Vec<(String, Vec<u32>, Vec<FieldChange>)>,
    pub added: Vec<u32>,
    pub removed: Vec<u32>,
    pub unchanged: Vec<u32>,
}

impl Changes {
    /// Sorts `instances` (`(instance, kind, current config)`) by kind, diffing each running
    /// config in `groups` against `proposed`.
    pub fn of(proposed: &JobSpec, instances: &[(u32, i32, String)], groups: &[v1::ConfigGroup]) -> Changes {
        let mut changes = Changes::default();
        let mut updated: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for (instance, kind, current) in instances {
            match kind_of(*kind) {
                Some(ChangeKind::Add) => changes.added.push(*instance),
                Some(ChangeKind::Remove) => changes.removed.push(*instance),
                Some(ChangeKind::Update) => updated.entry(current.as_str()).or_default().push(*instance),
                Some(ChangeKind::Unchanged) | None => changes.unchanged.push(*instance),
            }
        }
        for (config, ids) in updated {
            let running = groups
                .iter()
                .find(|g| g.config_id == config)
                .and_then(|g| g.config.as_ref())
                .and_then(|c| JobSpec::try_from(c).ok());
            let fields = running.map(|r| config_changes(&r.config, &proposed.config)).unwrap_or_default();
            changes.updated.push((config.to_owned(), ids, fields));
        }
        changes
    }

    /// Whether updating would change nothing.
    pub fn is_empty(&self) -> bool {
        self.updated.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }

    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (config, ids, fields) in &self.updated {
            lines.push(format!("{} run config {}; the job file changes:", instances_word(ids), short(config)));
            lines.extend(fields.iter().map(|f| format!("  {}", f.line())));
        }
        if !self.added.is_empty() {
            lines.push(format!("{} would be added.", instances_word(&self.added)));
        }
        if !self.removed.is_empty() {
            lines.push(format!("{} would be removed.", instances_word(&self.removed)));
        }
        if !self.unchanged.is_empty() {
            lines.push(format!("{} already run the job file's config.", instances_word(&self.unchanged)));
        }
        lines
    }

    pub fn to_json(&self) -> Value {
        let updated: Vec<Value> = self
            .updated
            .iter()
            .map(|(config, ids, fields)| {
                json!({ "config": config, "instances": ids, "changes": fields.iter().map(FieldChange::to_json).collect::<Vec<_>>() })
            })
            .collect();
        json!({ "update": updated, "add": self.added, "remove": self.removed, "unchanged": self.unchanged })
    }
}

fn short(config: &str) -> String {
    config.chars().take(atoll_model::version::SHORT_ID_LEN).collect()
}

/// `job diff` for people.
pub fn diff_text(proposed: &JobSpec, file: &str, response: &v1::DiffJobResponse) -> String {
    let changes = diff_changes(proposed, response);
    let mut lines = vec![format!("{} against {file} (config {}):", proposed.key, short(&response.proposed_config))];
    lines.extend(changes.lines());
    if changes.is_empty() {
        lines.push("Job is unchanged by proposed update.".to_owned());
    }
    lines.join("\n")
}

/// `job diff --json`.
pub fn diff_json(proposed: &JobSpec, response: &v1::DiffJobResponse) -> Value {
    let mut value = diff_changes(proposed, response).to_json();
    value["job"] = json!(proposed.key.to_string());
    value["proposed_config"] = json!(response.proposed_config);
    value
}

fn diff_changes(proposed: &JobSpec, response: &v1::DiffJobResponse) -> Changes {
    let instances: Vec<(u32, i32, String)> =
        response.instances.iter().map(|i| (i.instance, i.kind, i.current_config.clone())).collect();
    Changes::of(proposed, &instances, &response.groups)
}

fn plan_changes(proposed: &JobSpec, plan: &v1::PlanJobUpdateResponse) -> Changes {
    let instances: Vec<(u32, i32, String)> =
        plan.instances.iter().map(|i| (i.instance, i.kind, i.current_config.clone())).collect();
    Changes::of(proposed, &instances, &plan.groups)
}

fn action_word(kind: i32) -> &'static str {
    match kind_of(kind) {
        Some(ChangeKind::Add) => "create",
        Some(ChangeKind::Remove) => "remove",
        Some(ChangeKind::Update) => "replace",
        Some(ChangeKind::Unchanged) | None => "none",
    }
}

fn pending_text(pending: &v1::PendingReason) -> String {
    let vetoes: Vec<String> = pending
        .vetoes
        .iter()
        .map(|v| {
            let more = if v.hosts as usize > v.examples.len() { ", …" } else { "" };
            format!("{} ({} host(s): {}{more})", v.reason, v.hosts, v.examples.join(", "))
        })
        .collect();
    if vetoes.is_empty() { pending.summary.clone() } else { vetoes.join("; ") }
}

/// `job plan` for people.
pub fn plan_text(proposed: &JobSpec, file: &str, plan: &v1::PlanJobUpdateResponse) -> String {
    let mut lines = vec![format!("Plan for {} from {file} (config {}):", proposed.key, short(&plan.proposed_config))];
    if plan.unchanged {
        lines.push("Job is unchanged by proposed update.".to_owned());
        return lines.join("\n");
    }
    lines.extend(plan_changes(proposed, plan).lines());
    lines.push(String::new());
    let rows: Vec<Vec<String>> = plan
        .instances
        .iter()
        .filter(|i| kind_of(i.kind) != Some(ChangeKind::Unchanged))
        .map(|i| {
            let to = match (&i.pending, i.reached) {
                (Some(_), _) => "cannot be placed".to_owned(),
                (None, false) => "(not reached)".to_owned(),
                (None, true) => i.to_host.clone(),
            };
            vec![i.instance.to_string(), action_word(i.kind).to_owned(), i.from_host.clone(), to]
        })
        .collect();
    lines.push(render::table(&["INSTANCE", "ACTION", "FROM", "TO"], &rows));
    for task in &plan.preempted {
        lines.push(format!("Preempts {} on {} (after the preemption delay)", task.task_id, task.host));
    }
    let stuck: Vec<&v1::PlannedInstance> = plan.instances.iter().filter(|i| i.pending.is_some()).collect();
    let outcome = enum_name(
        v1::JobUpdateState::try_from(plan.outcome).ok().map(|s| s.as_str_name()),
        "JOB_UPDATE_STATE_",
        plan.outcome,
    );
    lines.push(String::new());
    if stuck.is_empty() {
        lines.push(format!(
            "Every new task is placed: `atoll update start {} {file}` would end {outcome} if nothing else changes.",
            proposed.key
        ));
    } else {
        for instance in stuck {
            let why = instance.pending.as_ref().map(pending_text).unwrap_or_default();
            lines.push(format!("Instance {} cannot be placed: {why}", instance.instance));
        }
        lines.push(
            "The update would stop there, and fail that instance once the stuck timeout passes (then roll back, as its update_config says)."
                .to_owned(),
        );
    }
    lines.join("\n")
}

/// `job plan --json`.
pub fn plan_json(proposed: &JobSpec, plan: &v1::PlanJobUpdateResponse) -> Value {
    let instances: Vec<Value> = plan
        .instances
        .iter()
        .map(|i| {
            json!({
                "instance": i.instance,
                "action": action_word(i.kind),
                "current_config": render::non_empty(&i.current_config),
                "from_host": render::non_empty(&i.from_host),
                "to_host": render::non_empty(&i.to_host),
                "reached": i.reached,
                "pending": i.pending.as_ref().map(|p| json!({
                    "summary": p.summary,
                    "vetoes": p.vetoes.iter().map(|v| json!({ "reason": v.reason, "hosts": v.hosts, "examples": v.examples })).collect::<Vec<_>>(),
                })),
            })
        })
        .collect();
    let outcome = v1::JobUpdateState::try_from(plan.outcome).ok().filter(|_| !plan.unchanged);
    json!({
        "job": proposed.key.to_string(),
        "proposed_config": plan.proposed_config,
        "unchanged": plan.unchanged,
        "outcome": outcome.map(|s| enum_name(Some(s.as_str_name()), "JOB_UPDATE_STATE_", plan.outcome)),
        "changes": plan_changes(proposed, plan).to_json(),
        "instances": instances,
        "preempted": plan.preempted.iter().map(|p| json!({ "task_id": p.task_id, "host": p.host })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use atoll_model::{ProcessSpec, Resources, TaskSpec};

    use super::*;

    fn spec(cmdline: &str) -> JobSpec {
        let task = TaskSpec::new(
            vec![ProcessSpec::new("web", cmdline)],
            Resources { cpu: 0.25, ram_mb: 16, disk_mb: 16, gpu: 0 },
        );
        let mut spec = JobSpec::new("devcluster/www-data/prod/web".parse().unwrap(), task);
        spec.config.service = true;
        spec
    }

    #[test]
    fn instance_ids_read_as_ranges() {
        assert_eq!(ranges(&[5, 0, 1, 2, 7, 8]), "0-2,5,7-8");
        assert_eq!(ranges(&[3]), "3");
        assert_eq!(ranges(&[]), "");
    }

    #[test]
    fn a_diff_names_each_group_and_field() {
        let running = spec("serve v1");
        let group = v1::ConfigGroup {
            config_id: "aaaaaaaa1111".into(),
            config: Some((&running).into()),
            instances: vec![0, 1],
        };
        let response = v1::DiffJobResponse {
            proposed_config: "bbbbbbbb2222".into(),
            instances: vec![
                v1::InstanceChange {
                    instance: 0,
                    kind: v1::InstanceChangeKind::Update as i32,
                    current_config: "aaaaaaaa1111".into(),
                },
                v1::InstanceChange {
                    instance: 1,
                    kind: v1::InstanceChangeKind::Update as i32,
                    current_config: "aaaaaaaa1111".into(),
                },
                v1::InstanceChange {
                    instance: 2,
                    kind: v1::InstanceChangeKind::Add as i32,
                    current_config: String::new(),
                },
            ],
            groups: vec![group],
        };
        let text = diff_text(&spec("serve v2"), "web.rhai", &response);
        assert_eq!(
            text,
            "devcluster/www-data/prod/web against web.rhai (config bbbbbbbb):\n\
             Instances 0-1 run config aaaaaaaa; the job file changes:\n  \
             ~ task.processes[web].cmdline: \"serve v1\" → \"serve v2\"\n\
             Instance 2 would be added."
        );
        let json = diff_json(&spec("serve v2"), &response);
        assert_eq!(json["update"][0]["changes"][0]["field"], "task.processes[web].cmdline");
        assert_eq!(json["add"], json!([2]));
    }
}

//! Field-by-field differences between two task configs, for `job diff` and `job plan`.
//!
//! Both sides are compared as their JSON (the shape `job inspect --json` shows), so every field
//! of the config is covered without a list to keep up, in the order the config declares them.
//! Paths name fields as the job language does (`task.resources.cpu`); processes, which have
//! names, are matched by name (`task.processes[web].cmdline`), other lists by position. Pure: no
//! I/O.

use atoll_model::TaskConfig;
use serde_json::{Value, json};

/// One field that differs.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub path: String,
    /// None: the field is new.
    pub from: Option<Value>,
    /// None: the field is gone.
    pub to: Option<Value>,
}

impl FieldChange {
    /// `~ path: old → new`, `+ path: new` or `- path: old`, values as JSON.
    pub fn line(&self) -> String {
        match (&self.from, &self.to) {
            (Some(from), Some(to)) => format!("~ {}: {} → {}", self.path, from, to),
            (None, Some(to)) => format!("+ {}: {}", self.path, to),
            (Some(from), None) => format!("- {}: {}", self.path, from),
            (None, None) => format!("  {}", self.path),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "field": self.path, "from": self.from, "to": self.to })
    }
}

/// Every field that differs from `from` to `to`, in field order.
pub fn config_changes(from: &TaskConfig, to: &TaskConfig) -> Vec<FieldChange> {
    let (from, to) =
        (serde_json::to_value(from).unwrap_or(Value::Null), serde_json::to_value(to).unwrap_or(Value::Null));
    let mut changes = Vec::new();
    compare("", &from, &to, &mut changes);
    changes
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

fn compare(path: &str, from: &Value, to: &Value, changes: &mut Vec<FieldChange>) {
    if from == to {
        return;
    }
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for (field, value) in a {
                match b.get(field) {
                    Some(other) => compare(&join(path, field), value, other, changes),
                    None => removed(&join(path, field), value, changes),
                }
            }
            for (field, value) in b.iter().filter(|(field, _)| !a.contains_key(*field)) {
                added(&join(path, field), value, changes);
            }
        }
        (Value::Array(a), Value::Array(b)) if named(a) && named(b) => {
            let name = |v: &Value| v["name"].as_str().unwrap_or_default().to_owned();
            for item in a {
                let item_path = format!("{path}[{}]", name(item));
                match b.iter().find(|other| name(other) == name(item)) {
                    Some(other) => compare(&item_path, item, other, changes),
                    None => removed(&item_path, item, changes),
                }
            }
            for item in b.iter().filter(|item| !a.iter().any(|old| name(old) == name(item))) {
                added(&format!("{path}[{}]", name(item)), item, changes);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, item) in a.iter().enumerate() {
                match b.get(i) {
                    Some(other) => compare(&format!("{path}[{i}]"), item, other, changes),
                    None => removed(&format!("{path}[{i}]"), item, changes),
                }
            }
            for (i, item) in b.iter().enumerate().skip(a.len()) {
                added(&format!("{path}[{i}]"), item, changes);
            }
        }
        (Value::Null, _) => added(path, to, changes),
        (_, Value::Null) => removed(path, from, changes),
        _ => changes.push(FieldChange { path: path.to_owned(), from: Some(from.clone()), to: Some(to.clone()) }),
    }
}

fn added(path: &str, value: &Value, changes: &mut Vec<FieldChange>) {
    changes.push(FieldChange { path: path.to_owned(), from: None, to: Some(value.clone()) });
}

fn removed(path: &str, value: &Value, changes: &mut Vec<FieldChange>) {
    changes.push(FieldChange { path: path.to_owned(), from: Some(value.clone()), to: None });
}

/// A list whose items are objects with unique names (processes).
fn named(items: &[Value]) -> bool {
    let names: Vec<&str> = items.iter().filter_map(|v| v.get("name").and_then(Value::as_str)).collect();
    !items.is_empty() && names.len() == items.len() && {
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        unique.len() == names.len()
    }
}

#[cfg(test)]
mod tests {
    use atoll_model::config::{Announcer, Metadata};
    use atoll_model::{ProcessSpec, Resources, TaskSpec};

    use super::*;

    fn config() -> TaskConfig {
        let task = TaskSpec::new(
            vec![ProcessSpec::new("setup", "true"), ProcessSpec::new("web", "serve v1")],
            Resources { cpu: 0.25, ram_mb: 64, disk_mb: 64, gpu: 0 },
        );
        TaskConfig::new(task)
    }

    fn lines(from: &TaskConfig, to: &TaskConfig) -> Vec<String> {
        config_changes(from, to).iter().map(FieldChange::line).collect()
    }

    #[test]
    fn equal_configs_have_no_changes() {
        assert!(config_changes(&config(), &config()).is_empty());
    }

    #[test]
    fn changed_fields_are_named_as_the_language_names_them() {
        let mut new = config();
        new.task.resources.cpu = 0.5;
        new.task.processes[1].cmdline = "serve v2".into();
        new.priority = 3;
        assert_eq!(
            lines(&config(), &new),
            vec![
                r#"~ task.processes[web].cmdline: "serve v1" → "serve v2""#,
                "~ task.resources.cpu: 0.25 → 0.5",
                "~ priority: 0 → 3",
            ]
        );
    }

    #[test]
    fn processes_are_matched_by_name_and_other_lists_by_position() {
        let mut new = config();
        new.task.processes.remove(0);
        new.task.processes.push(ProcessSpec::new("sidecar", "tail -f log"));
        new.metadata.push(Metadata { key: "team".into(), value: "web".into() });
        let changes = lines(&config(), &new);
        assert!(changes.contains(&r#"+ metadata[0]: {"key":"team","value":"web"}"#.to_owned()), "{changes:?}");
        assert!(changes.iter().any(|c| c.starts_with("- task.processes[setup]: ")), "{changes:?}");
        assert!(changes.iter().any(|c| c.starts_with("+ task.processes[sidecar]: ")), "{changes:?}");
        assert!(!changes.iter().any(|c| c.contains("processes[web]")), "web is unchanged: {changes:?}");
    }

    #[test]
    fn a_field_set_or_cleared_shows_as_added_or_removed() {
        let mut new = config();
        new.announce = Some(Announcer::default());
        let changes = config_changes(&config(), &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "announce");
        assert!(changes[0].from.is_none() && changes[0].to.is_some());
        let back = config_changes(&new, &config());
        assert!(back[0].line().starts_with("- announce: "), "{}", back[0].line());
        assert_eq!(back[0].to_json()["field"], "announce");
    }
}

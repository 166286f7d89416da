//! Run-time template bindings: `{{thermos.ports[NAME]}}`, `{{thermos.task_id}}`,
//! `{{thermos.user}}`, `{{mesos.instance}}` and `{{mesos.hostname}}`, kept in the spec and
//! resolved by the agent at launch, once the task has a host and ports.

use std::collections::BTreeMap;

/// What an agent knows about a task at launch, to fill the run-time bindings with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunContext<'a> {
    pub task_id: &'a str,
    pub user: &'a str,
    pub instance: u32,
    pub hostname: &'a str,
    pub ports: &'a BTreeMap<String, u16>,
}

const PORTS_OPEN: &str = "{{thermos.ports[";

/// The port names that `text` references through `{{thermos.ports[NAME]}}`.
pub fn port_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(PORTS_OPEN) {
        let after = &rest[start + PORTS_OPEN.len()..];
        match after.find("]}}") {
            Some(end) => {
                names.push(after[..end].to_owned());
                rest = &after[end..];
            }
            None => break,
        }
    }
    names
}

/// Replaces every run-time binding in `text`; bindings it does not know are left as written.
pub fn render(text: &str, ctx: &RunContext<'_>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match resolve(name, ctx) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn resolve(name: &str, ctx: &RunContext<'_>) -> Option<String> {
    match name {
        "thermos.task_id" => Some(ctx.task_id.to_owned()),
        "thermos.user" => Some(ctx.user.to_owned()),
        "mesos.instance" => Some(ctx.instance.to_string()),
        "mesos.hostname" => Some(ctx.hostname.to_owned()),
        _ => {
            let port = name.strip_prefix("thermos.ports[")?.strip_suffix(']')?;
            ctx.ports.get(port).map(u16::to_string)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_port_names() {
        assert_eq!(port_names("a {{thermos.ports[http]}} b {{thermos.ports[admin]}}"), vec!["http", "admin"]);
        assert!(port_names("no ports {{thermos.ports[").is_empty());
    }

    #[test]
    fn renders_run_time_bindings_and_leaves_others() {
        let ports = BTreeMap::from([("http".to_owned(), 31000u16)]);
        let ctx = RunContext { task_id: "t-1", user: "www-data", instance: 2, hostname: "h1", ports: &ports };
        assert_eq!(
            render(
                "serve --port={{thermos.ports[http]}} --id={{ thermos.task_id }} {{mesos.instance}}@{{mesos.hostname}} {{other}}",
                &ctx
            ),
            "serve --port=31000 --id=t-1 2@h1 {{other}}"
        );
        assert_eq!(render("unterminated {{x", &ctx), "unterminated {{x");
    }
}

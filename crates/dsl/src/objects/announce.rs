//! `Announcer(#{ primary_port, portmap, zk_path })`: publish each instance as a ServerSet member.
//!
//! As in Aurora, the default portmap is `#{ aurora: "{{primary_port}}" }`, a given portmap
//! replaces it whole, and `{{primary_port}}` in a portmap value is the primary port's name.

use std::collections::BTreeMap;
use std::sync::Arc;

use atoll_model::config::{Announcer, PortTarget};
use rhai::{Dynamic, Engine};

use super::fields::{FieldReader, ObjectSchema, default};
use super::kinds::{Described, Kind, MapOf, Text};
use super::{Call, register_constructor};
use crate::session::Session;
use crate::templates;
use crate::values::describe;

pub(super) const ANNOUNCER: ObjectSchema = ObjectSchema {
    name: "Announcer",
    summary: "Publishes each instance as a ServerSet member.",
    fields: &[
        default("primary_port", "\"http\""),
        default("portmap", "#{ aurora: \"{{primary_port}}\" }"),
        default("zk_path", "none"),
    ],
};

/// The name `{{primary_port}}` refers to inside an announcer.
const PRIMARY_PORT: &str = "primary_port";
/// How messages name the value of `portmap`.
const PORTMAP: &str = "an object map of endpoint names to port names or static port numbers (1 to 65535)";
/// The endpoint Aurora's default portmap defines.
const DEFAULT_ENDPOINT: &str = "aurora";

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_constructor(engine, session, &ANNOUNCER, announcer);
}

fn announcer(call: &Call<'_>, mut fields: FieldReader<'_>) -> Announcer {
    let defaults = Announcer::default();
    let primary_port = fields.or("primary_port", Text, defaults.primary_port);
    let portmap = match fields.optional("portmap", Described(MapOf(Port), PORTMAP)) {
        Some(entries) => entries
            .into_iter()
            .map(|(endpoint, target)| match target {
                PortTarget::Named(name) => {
                    (endpoint, PortTarget::Named(templates::substitute(&name, PRIMARY_PORT, &primary_port)))
                }
                target => (endpoint, target),
            })
            .collect(),
        None => BTreeMap::from([(DEFAULT_ENDPOINT.to_owned(), PortTarget::Named(primary_port.clone()))]),
    };
    let announcer = Announcer { primary_port, portmap, zk_path: fields.optional("zk_path", Text) };
    call.report_fields(fields.finish());
    announcer
}

/// A portmap value: another port's name, or a static port number.
struct Port;

impl Kind for Port {
    type Value = PortTarget;

    fn expected(&self, _: &Engine) -> String {
        "a port name or a static port number from 1 to 65535".to_owned()
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<PortTarget, String> {
        if let Ok(number) = value.as_int() {
            return match u16::try_from(number) {
                Ok(port) if port > 0 => Ok(PortTarget::Static(port)),
                _ => Err(number.to_string()),
            };
        }
        match Text.read(engine, value.clone()) {
            Ok(name) => Ok(PortTarget::Named(name)),
            Err(_) => Err(describe(engine, &value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use atoll_model::config::{Announcer, PortTarget};

    use crate::test_support::{diagnostics_of, job_file_with, job_with, messages};

    fn announcer_of(expression: &str) -> Announcer {
        job_with(&format!("announce: {expression}")).config.announce.expect("an announcer")
    }

    #[test]
    fn unset_fields_take_auroras_defaults() {
        let announcer = announcer_of("Announcer(#{})");
        assert_eq!(announcer.primary_port, "http");
        assert_eq!(announcer.portmap, BTreeMap::from([("aurora".to_owned(), PortTarget::Named("http".into()))]));
        assert_eq!(announcer.zk_path, None);
        assert_eq!(job_with("").config.announce, None);
    }

    #[test]
    fn the_default_portmap_follows_the_primary_port() {
        let announcer = announcer_of(r#"Announcer(#{ primary_port: "thrift" })"#);
        assert_eq!(announcer.portmap, BTreeMap::from([("aurora".to_owned(), PortTarget::Named("thrift".into()))]));
    }

    #[test]
    fn a_given_portmap_replaces_the_default_and_may_name_the_primary_port() {
        let announcer = announcer_of(
            r#"Announcer(#{ primary_port: "thrift", portmap: #{ main: "{{primary_port}}", admin: "health" },
                           zk_path: "/aurora/{{role}}/web" })"#,
        );
        let expected = BTreeMap::from([
            ("admin".to_owned(), PortTarget::Named("health".into())),
            ("main".to_owned(), PortTarget::Named("thrift".into())),
        ]);
        assert_eq!(announcer.portmap, expected);
        assert_eq!(announcer.zk_path.as_deref(), Some("/aurora/r/web"));
    }

    #[test]
    fn static_ports_need_a_dedicated_job() {
        let announcer = r#"announce: Announcer(#{ portmap: #{ aurora: "http", legacy: 8080 } }), constraints: #{ dedicated: "r/web" }"#;
        let job = job_with(announcer);
        let portmap = &job.config.announce.as_ref().expect("an announcer").portmap;
        assert_eq!(portmap.get("legacy"), Some(&PortTarget::Static(8080)));
        assert_eq!(job.requested_ports().into_iter().collect::<Vec<_>>(), vec!["http"]);
        let undedicated = job_file_with(r#"announce: Announcer(#{ portmap: #{ legacy: 8080 } })"#);
        assert_eq!(
            messages(&diagnostics_of(&undedicated)),
            vec!["Job must be dedicated in order to specify static ports!"]
        );
    }

    #[test]
    fn portmap_values_must_be_names_or_port_numbers() {
        let source = job_file_with(r#"announce: Announcer(#{ portmap: #{ a: 70000 }, zk_path: 1 })"#);
        assert_eq!(
            messages(&diagnostics_of(&source)),
            vec![
                "Announcer field 'portmap' must be an object map of endpoint names to port names or static port \
                 numbers (1 to 65535), not an object map whose entry 'a' is 70000",
                "Announcer field 'zk_path' must be a string, not an integer",
            ]
        );
    }
}

//! The editor definitions: the copies checked in under `dsl/definitions/` are what the engine
//! generates now, and every form they declare is one the engine takes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rhai::{Engine, EvalAltResult};

use super::*;
use crate::sandbox;
use crate::session::Session;

/// The command that refreshes the checked-in definitions.
const REFRESH: &str = "ATOLL_UPDATE_DEFINITIONS=1 cargo test -p atoll-dsl definitions";

fn engine() -> Engine {
    let session = Arc::new(Session::new("test.rhai", "", BTreeMap::new(), false));
    sandbox::engine(&session, None)
}

/// Whether `engine` has a function for `call`: anything but "function not found".
fn takes(engine: &Engine, call: &str) -> bool {
    !matches!(engine.eval::<rhai::Dynamic>(call).map_err(|error| *error), Err(EvalAltResult::ErrorFunctionNotFound(..)))
}

#[test]
fn the_checked_in_definitions_are_fresh() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dsl/definitions");
    let update = std::env::var_os("ATOLL_UPDATE_DEFINITIONS").is_some();
    for (name, generated) in files() {
        let path = folder.join(name);
        if update {
            std::fs::create_dir_all(&folder).expect("create dsl/definitions");
            std::fs::write(&path, &generated).expect("write the definitions");
            continue;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(checked_in == generated, "dsl/definitions/{name} is stale; refresh it with: {REFRESH}");
    }
}

#[test]
fn every_declared_form_is_one_the_engine_takes_and_no_other() {
    let engine = engine();
    for schema in SCHEMAS {
        assert!(takes(&engine, &empty_call(schema)), "{}(#{{}})", schema.name);
        assert_eq!(takes(&engine, &format!("{}()", schema.name)), schema.takes_nothing(), "{}()", schema.name);
        assert!(!takes(&engine, &format!("{}(#{{}}, 2)", schema.name)), "{}(#{{}}, 2)", schema.name);
    }
    for function in FUNCTIONS {
        for arity in function.arities.clone() {
            assert!(takes(&engine, &call_with(function, arity)), "{} with {arity} arguments", function.name);
        }
        assert!(!takes(&engine, &call_with(function, *function.arities.start() - 1)), "{}", function.name);
        assert!(!takes(&engine, &call_with(function, *function.arities.end() + 1)), "{}", function.name);
    }
}

#[test]
fn every_declaration_names_its_type_and_every_object_lists_its_fields() {
    let (_, definitions) = &files()[0];
    assert!(!definitions.contains("-> ?;"), "a function whose result type is unknown:\n{definitions}");
    assert!(definitions.contains("fn Process(fields: Map) -> Process;"), "{definitions}");
    assert!(definitions.contains("fn Announcer() -> Announcer;"), "{definitions}");
    assert!(definitions.contains("fn order(process1: ?, process2: ?) -> Constraint;"), "{definitions}");
    assert!(definitions.contains("/// - `cmdline` (required)\n/// - `max_failures` (default: 1)"), "{definitions}");
    let (_, fields) = &files()[1];
    assert!(
        fields.contains("{ \"name\": \"destination\", \"presence\": \"default\", \"default\": \"\\\"file\\\"\" }"),
        "{fields}"
    );
    assert_eq!(json("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
}

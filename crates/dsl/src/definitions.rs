//! Editor support, generated from the engine job files run in: a Rhai definition file
//! (`atoll.d.rhai`, the `.d.rhai` format Rhai's language server reads) declaring every function
//! and constant the job language adds to Rhai, each constructor with a doc comment listing its
//! fields and their defaults; and `fields.json`, the same fields for tools that complete the
//! keys of an object map, which a definition file cannot express.
//!
//! Rhai's own generator (`Engine::definitions`) needs its `metadata` feature, which also makes
//! every `///` comment that does not precede a function a syntax error, in job files too; so
//! the definitions are written here, from the schemas each constructor is registered with, with
//! each function's result type asked of a real engine (`type_of`). `dsl/definitions/` holds the
//! copies checked in; a test regenerates them and fails when they are stale.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use rhai::Engine;

use crate::objects::{FUNCTIONS, FunctionSchema, ObjectSchema, Presence, SCHEMAS};
use crate::sandbox;
use crate::session::Session;
use crate::units::UNITS;

/// The file of Rhai definitions.
pub(crate) const DEFINITIONS_FILE: &str = "atoll.d.rhai";
/// The file listing every object's fields.
pub(crate) const FIELDS_FILE: &str = "fields.json";

/// Each generated file's name and text.
pub(crate) fn files() -> Vec<(&'static str, String)> {
    let types = ResultTypes::asked();
    vec![(DEFINITIONS_FILE, rhai_definitions(&types)), (FIELDS_FILE, fields_json(&types))]
}

/// The type each constructor and function returns, by name, as an engine gives it.
struct ResultTypes(BTreeMap<&'static str, String>);

impl ResultTypes {
    /// Asks a fresh engine: every constructor and function returns a value of its type whatever
    /// its arguments, recording (here, ignoring) what is wrong with them.
    fn asked() -> ResultTypes {
        let session = Arc::new(Session::new("definitions.rhai", "", BTreeMap::new(), false));
        let engine = sandbox::engine(&session, None);
        let calls = SCHEMAS
            .iter()
            .map(|schema| (schema.name, empty_call(schema)))
            .chain(FUNCTIONS.iter().map(|function| (function.name, call_with(function, *function.arities.start()))));
        ResultTypes(calls.map(|(name, call)| (name, type_of(&engine, &call))).collect())
    }

    fn of(&self, name: &str) -> &str {
        self.0.get(name).map_or("?", String::as_str)
    }
}

/// The type of what `call` returns, or `?`.
fn type_of(engine: &Engine, call: &str) -> String {
    engine.eval::<String>(&format!("type_of({call})")).unwrap_or_else(|_| "?".to_owned())
}

/// A call of `schema`'s constructor with an empty map.
fn empty_call(schema: &ObjectSchema) -> String {
    format!("{}(#{{}})", schema.name)
}

/// A call of `function` with `arity` arguments, each nothing.
fn call_with(function: &FunctionSchema, arity: usize) -> String {
    format!("{}({})", function.name, vec!["()"; arity].join(", "))
}

fn rhai_definitions(types: &ResultTypes) -> String {
    let mut out = String::from(
        "module static;\n\n\
         // The functions and constants Atoll's job language adds to Rhai, for editors.\n\
         // Generated from the engine; refresh with: ATOLL_UPDATE_DEFINITIONS=1 cargo test -p atoll-dsl definitions\n",
    );
    for (name, bytes) in UNITS {
        let _ = write!(out, "\n/// {bytes} bytes, for sizes such as `512 * {name}`.\nconst {name}: int;\n");
    }
    for schema in SCHEMAS {
        let returned = types.of(schema.name);
        let _ = write!(out, "\n{}\nfn {}(fields: Map) -> {returned};\n", schema.doc_comment(), schema.name);
        if schema.takes_nothing() {
            let name = schema.name;
            let _ = write!(
                out,
                "\n/// `{name}()` is `{name}(#{{}})`: every field at its default.\nfn {name}() -> {returned};\n"
            );
        }
    }
    for function in FUNCTIONS {
        let returned = types.of(function.name);
        let _ = write!(out, "\n/// {}\n///\n/// `{}`", function.summary, function.form);
        for arity in function.arities.clone() {
            let _ = write!(out, "\nfn {}({}) -> {returned};\n", function.name, function.parameters(arity).join(", "));
        }
    }
    out
}

fn fields_json(types: &ResultTypes) -> String {
    let mut out = String::from("{\n  \"objects\": [\n");
    for (index, schema) in SCHEMAS.iter().enumerate() {
        let fields: Vec<String> = schema
            .fields
            .iter()
            .map(|field| {
                let presence = match field.presence {
                    Presence::Required => "\"presence\": \"required\"".to_owned(),
                    Presence::OneOf => "\"presence\": \"one_of\"".to_owned(),
                    Presence::Default(default) => format!("\"presence\": \"default\", \"default\": {}", json(default)),
                    Presence::NotAllowed => "\"presence\": \"not_allowed\"".to_owned(),
                };
                format!("        {{ \"name\": {}, {presence} }}", json(field.name))
            })
            .collect();
        let _ = writeln!(
            out,
            "    {{\n      \"name\": {},\n      \"summary\": {},\n      \"form\": {},\n      \"returns\": {},\n      \
             \"takes_nothing\": {},\n      \"fields\": [\n{}\n      ]\n    }}{}",
            json(schema.name),
            json(schema.summary),
            json(&schema.form()),
            json(types.of(schema.name)),
            schema.takes_nothing(),
            fields.join(",\n"),
            if index + 1 < SCHEMAS.len() { "," } else { "" },
        );
    }
    out.push_str("  ],\n  \"functions\": [\n");
    for (index, function) in FUNCTIONS.iter().enumerate() {
        let _ = writeln!(
            out,
            "    {{ \"name\": {}, \"summary\": {}, \"form\": {}, \"returns\": {}, \"arguments\": {{ \"min\": {}, \"max\": {} }} }}{}",
            json(function.name),
            json(function.summary),
            json(function.form),
            json(types.of(function.name)),
            function.arities.start(),
            function.arities.end(),
            if index + 1 < FUNCTIONS.len() { "," } else { "" },
        );
    }
    out.push_str("  ],\n  \"constants\": [\n");
    let constants: Vec<String> =
        UNITS.iter().map(|(name, bytes)| format!("    {{ \"name\": {}, \"value\": {bytes} }}", json(name))).collect();
    out.push_str(&constants.join(",\n"));
    out.push_str("\n  ]\n}\n");
    out
}

/// `text` as a JSON string.
fn json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[path = "definitions_tests.rs"]
mod tests;

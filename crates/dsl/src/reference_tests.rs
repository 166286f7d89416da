//! Keeps `docs/job-language.md` and the code from drifting apart: every object is documented with
//! exactly its fields, each with the default its schema gives, and an example, every documented
//! object exists, the limits quoted are the sandbox's, the examples of the modules Atoll ships
//! evaluate, and `examples/all_features.rhai` uses every object and helper.

use crate::objects::{FUNCTIONS, Presence, SCHEMAS};
use crate::sandbox;

const REFERENCE: &str = include_str!("../../../docs/job-language.md");
const ALL_FEATURES: &str = include_str!("../../../examples/all_features.rhai");
const COMMON: &str = include_str!("../../../examples/lib/common.rhai");

/// One row of an object's table: the field and its default column.
type Row = (&'static str, &'static str);

/// Each `### Name` section of the reference: its name, the rows of its table, and its text.
fn sections() -> Vec<(&'static str, Vec<Row>, &'static str)> {
    let objects = REFERENCE.split_once("\n## Objects\n").map_or("", |(_, objects)| objects);
    objects
        .split("\n### ")
        .skip(1)
        .map(|section| {
            let name = section.lines().next().unwrap_or_default().trim();
            let rows = section
                .lines()
                .filter_map(|line| line.strip_prefix("| `"))
                .filter_map(|line| {
                    let (field, rest) = line.split_once('`')?;
                    let default = rest.trim_end().strip_suffix('|')?.rsplit('|').next()?.trim();
                    Some((field, default))
                })
                .collect();
            (name, rows, section)
        })
        .collect()
}

#[test]
fn every_object_is_documented_with_exactly_its_fields_in_order_and_their_defaults() {
    let sections = sections();
    for schema in SCHEMAS {
        let Some((_, rows, _)) = sections.iter().find(|(name, _, _)| *name == schema.name) else {
            panic!("docs/job-language.md has no section for {}", schema.name);
        };
        let fields: Vec<&str> = rows.iter().map(|(field, _)| *field).collect();
        let known: Vec<&str> = schema.field_names().collect();
        assert_eq!(fields, known, "docs/job-language.md's fields of {}", schema.name);
        for (field, (_, documented)) in schema.fields.iter().zip(rows) {
            let documented = documented.replace('`', "");
            let agrees = match field.presence {
                Presence::Required => documented == "*required*",
                Presence::OneOf => documented.ends_with("is *required*"),
                Presence::Default(default) => documented.starts_with(default),
                Presence::NotAllowed => documented.is_empty(),
            };
            assert!(
                agrees,
                "docs/job-language.md's default of {}.{} is '{documented}', the schema's {:?}",
                schema.name, field.name, field.presence
            );
        }
    }
}

#[test]
fn every_documented_object_exists_and_has_an_example() {
    for (name, _, text) in sections() {
        let known = SCHEMAS.iter().any(|schema| schema.name == name) || FUNCTIONS.iter().any(|f| f.name == name);
        assert!(known, "docs/job-language.md documents {name}, which the language does not have");
        assert!(text.contains("```rhai\n"), "docs/job-language.md's {name} has no example");
        let example = text.split("```rhai\n").nth(1).unwrap_or_default();
        assert!(example.contains(&format!("{name}(")), "docs/job-language.md's example of {name} does not use it");
    }
    for function in FUNCTIONS {
        assert!(
            sections().iter().any(|(name, _, _)| *name == function.name),
            "docs/job-language.md has no section for {}",
            function.name
        );
    }
}

#[test]
fn the_limits_quoted_are_the_sandboxs() {
    let with_commas = |number: u64| {
        let digits = number.to_string();
        let mut out = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                out.push(',');
            }
            out.push(digit);
        }
        out
    };
    for quoted in [
        format!("{} operations", with_commas(sandbox::MAX_OPERATIONS)),
        format!("for {} s", sandbox::DEADLINE.as_secs()),
        format!("calls {} deep", sandbox::MAX_CALL_LEVELS),
        format!("arrays of {} elements", with_commas(sandbox::MAX_ARRAY_ELEMENTS as u64)),
        format!("maps of {} entries", with_commas(sandbox::MAX_MAP_ENTRIES as u64)),
        format!("{} deep, and import {} modules", crate::growth::MAX_NESTING, sandbox::MAX_MODULES),
        "strings of 1 MiB".to_owned(),
    ] {
        assert!(REFERENCE.contains(&quoted), "docs/job-language.md should say \"{quoted}\"");
    }
    assert_eq!(sandbox::MAX_STRING_BYTES, 1 << 20);
}

#[test]
fn the_all_features_example_uses_every_object_and_helper() {
    let names = SCHEMAS.iter().map(|schema| schema.name).chain(FUNCTIONS.iter().map(|function| function.name));
    for name in names {
        let call = format!("{name}(");
        assert!(
            ALL_FEATURES.contains(&call) || COMMON.contains(&call),
            "examples/all_features.rhai does not use {name}"
        );
    }
}

#[test]
fn the_examples_of_the_modules_atoll_ships_evaluate() {
    let section = REFERENCE
        .split_once("\n## Modules Atoll ships\n")
        .and_then(|(_, rest)| rest.split_once("\n## Objects\n"))
        .map_or("", |(section, _)| section);
    let examples: Vec<&str> = section
        .split("```rhai\n")
        .skip(1)
        .filter_map(|block| block.split_once("\n```").map(|(code, _)| code))
        .collect();
    assert_eq!(examples.len(), crate::bundled::MODULES.len(), "one example per module: {examples:#?}");
    for example in examples {
        if let Err(diagnostics) = crate::evaluate(example, "example.rhai") {
            let printed: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            panic!("docs/job-language.md's example has problems:\n{example}\n{}", printed.join("\n"));
        }
    }
}

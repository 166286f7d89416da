//! How a script value is named in messages: "a string", "an integer", "a Process".

use rhai::{Dynamic, Engine};

/// Names the type of `value` for a message, with an article: "a string", "an array",
/// "a Process". Custom types use the names the engine registered them under.
pub(crate) fn describe(engine: &Engine, value: &Dynamic) -> String {
    if value.is_unit() {
        return "nothing (`()`)".to_owned();
    }
    let noun = if value.is_int() {
        "integer"
    } else if value.is_float() {
        "float"
    } else if value.is_string() {
        "string"
    } else if value.is_bool() {
        "bool"
    } else if value.is_char() {
        "character"
    } else if value.is_array() {
        "array"
    } else if value.is_map() {
        "object map"
    } else if value.is_fnptr() {
        "function pointer"
    } else {
        engine.map_type_name(value.type_name())
    };
    with_article(noun)
}

/// `noun` preceded by "a" or "an".
pub(crate) fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(|first: char| "aeiouAEIOU".contains(first)) { "an" } else { "a" };
    format!("{article} {noun}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox;
    use atoll_model::ProcessSpec;

    #[test]
    fn names_builtin_and_registered_types_with_articles() {
        let engine = sandbox::bare_engine();
        let named = |value: Dynamic| describe(&engine, &value);
        assert_eq!(named(Dynamic::from("x")), "a string");
        assert_eq!(named(Dynamic::from(1_i64)), "an integer");
        assert_eq!(named(Dynamic::from(1.5_f64)), "a float");
        assert_eq!(named(Dynamic::from(rhai::Array::new())), "an array");
        assert_eq!(named(Dynamic::from(rhai::Map::new())), "an object map");
        assert_eq!(named(Dynamic::UNIT), "nothing (`()`)");
        assert_eq!(named(Dynamic::from(ProcessSpec::new("a", "b"))), "a Process");
    }
}

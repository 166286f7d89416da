//! The table-driven reader behind every constructor: checks an object map against the
//! object's list of fields (reporting every unknown name, with a suggestion), then hands out
//! each field as a value of its [`Kind`], a default, or nothing — recording, never throwing,
//! what is wrong, so one constructor call reports all of its problems and evaluation goes on.
//!
//! Adding a field to an object is one entry in its [`ObjectSchema`] and one read in its
//! constructor.

use rhai::{Dynamic, Engine, Map};

use super::ObjectError;
use super::kinds::Kind;
use crate::values::describe;

/// An object's name, as the script calls it, and the names of all its fields.
#[derive(Debug)]
pub(crate) struct ObjectSchema {
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [&'static str],
}

/// The fields of one object map, taken out one by one by the constructor.
pub(crate) struct FieldReader<'e> {
    engine: &'e Engine,
    object: &'static str,
    fields: &'static [&'static str],
    map: Map,
    /// False when the argument was not an object map: its fields are then not reported missing,
    /// which would only repeat that problem.
    is_map: bool,
    problems: Vec<ObjectError>,
}

impl<'e> FieldReader<'e> {
    /// Reads `argument`, which should be an object map whose keys are all fields of `schema`.
    pub(crate) fn new(engine: &'e Engine, schema: &ObjectSchema, argument: Dynamic) -> Self {
        let mut problems = Vec::new();
        let (map, is_map) = match argument.flatten().try_cast_result::<Map>() {
            Ok(map) => (map, true),
            Err(argument) => {
                problems.push(ObjectError::NotAMap { object: schema.name, found: describe(engine, &argument) });
                (Map::new(), false)
            }
        };
        for unknown in map.keys().filter(|key| !schema.fields.contains(&key.as_str())) {
            problems.push(ObjectError::UnknownField {
                object: schema.name,
                field: unknown.to_string(),
                suggestion: closest(unknown, schema.fields),
                known: schema.fields,
            });
        }
        FieldReader { engine, object: schema.name, fields: schema.fields, map, is_map, problems }
    }

    /// Was `field` given at all?
    pub(crate) fn is_given(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    /// A field that must be given; `None` (with the problem recorded) if it is missing or wrong.
    pub(crate) fn required<K: Kind>(&mut self, field: &'static str, kind: K) -> Option<K::Value> {
        if !self.is_given(field) && self.is_map {
            self.problems.push(ObjectError::MissingField { object: self.object, field });
        }
        self.optional(field, kind)
    }

    /// A field that may be left out; `None` if it is, or (with the problem recorded) if it is wrong.
    pub(crate) fn optional<K: Kind>(&mut self, field: &'static str, kind: K) -> Option<K::Value> {
        debug_assert!(self.fields.contains(&field), "{} reads '{field}', which its schema lacks", self.object);
        let value = self.map.remove(field)?.flatten();
        match kind.read(self.engine, value) {
            Ok(value) => Some(value),
            Err(found) => {
                let expected = kind.expected(self.engine);
                self.problems.push(ObjectError::WrongType { object: self.object, field, expected, found });
                None
            }
        }
    }

    /// A field with a default, used when it is left out or wrong.
    pub(crate) fn or<K: Kind>(&mut self, field: &'static str, kind: K, default: K::Value) -> K::Value {
        self.optional(field, kind).unwrap_or(default)
    }

    /// Records a problem the constructor found itself.
    pub(crate) fn problem(&mut self, problem: ObjectError) {
        self.problems.push(problem);
    }

    /// Every problem found, as messages.
    pub(crate) fn finish(self) -> Vec<String> {
        self.problems.iter().map(ToString::to_string).collect()
    }
}

/// The known name nearest to `unknown`, if one is close enough to be a likely typo.
fn closest(unknown: &str, known: &[&'static str]) -> Option<&'static str> {
    let threshold = (unknown.chars().count() / 3).max(1);
    known
        .iter()
        .map(|name| (edit_distance(unknown, name), *name))
        .filter(|(distance, _)| *distance <= threshold)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::kinds::{Text, whole};
    use crate::sandbox;

    const FIELDS: &[&str] = &["name", "cmdline", "max_failures", "min_duration"];
    const SCHEMA: ObjectSchema = ObjectSchema { name: "Thing", fields: FIELDS };

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("cmdlin", "cmdline"), 1);
        assert_eq!(edit_distance("nmae", "name"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggests_the_nearest_field_only_when_it_is_close() {
        assert_eq!(closest("cmdlin", FIELDS), Some("cmdline"));
        assert_eq!(closest("max_failure", FIELDS), Some("max_failures"));
        assert_eq!(closest("min_durations", FIELDS), Some("min_duration"));
        assert_eq!(closest("colour", FIELDS), None);
    }

    #[test]
    fn every_problem_of_one_map_is_recorded_and_reading_goes_on() {
        let engine = sandbox::bare_engine();
        let mut map = Map::new();
        map.insert("nam".into(), Dynamic::from("x"));
        map.insert("colour".into(), Dynamic::from("red"));
        map.insert("max_failures".into(), Dynamic::from("3"));
        map.insert("min_duration".into(), Dynamic::from(7_i64));
        let mut fields = FieldReader::new(&engine, &SCHEMA, Dynamic::from(map));
        assert_eq!(fields.required("name", Text), None);
        assert_eq!(fields.or("max_failures", whole::<u32>(), 1), 1);
        assert_eq!(fields.or("min_duration", whole::<u64>(), 5), 7);
        assert_eq!(fields.optional("cmdline", Text), None);
        assert_eq!(
            fields.finish(),
            vec![
                "Thing has no field 'colour'; its fields are name, cmdline, max_failures, min_duration",
                "Thing has no field 'nam'; did you mean 'name'?",
                "Thing is missing required field 'name'",
                "Thing field 'max_failures' must be a whole number from 0 to 4294967295, not a string",
            ]
        );
    }

    #[test]
    fn a_non_map_is_one_problem_not_one_per_missing_field() {
        let engine = sandbox::bare_engine();
        let mut fields = FieldReader::new(&engine, &SCHEMA, Dynamic::from("hello"));
        assert_eq!(fields.required("name", Text), None);
        assert_eq!(fields.finish(), vec!["Thing takes one object map, e.g. Thing(#{ ... }), not a string"]);
    }
}

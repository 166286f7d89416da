//! The table-driven reader behind every constructor: checks an object map against the
//! object's list of fields (rejecting unknown names with a suggestion), then hands out each
//! field as a typed value, a default, or a "missing" error.
//!
//! Adding a field to an object is one entry in its [`ObjectSchema`] and one read in its
//! constructor.

use std::any::type_name;

use rhai::{Array, Dynamic, Engine, Map};

use super::{DslObject, ObjectError};
use crate::values::{describe, with_article};

/// An object's name, as the script calls it, and the names of all its fields.
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
}

/// An integer type a field can hold, with the range a script value must fall in.
pub(crate) trait WholeNumber: TryFrom<i64> + Copy {
    const MIN: i64;
    const MAX: i64;
}

impl WholeNumber for u32 {
    const MIN: i64 = 0;
    const MAX: i64 = u32::MAX as i64;
}

impl WholeNumber for u64 {
    const MIN: i64 = 0;
    const MAX: i64 = i64::MAX;
}

impl WholeNumber for i32 {
    const MIN: i64 = i32::MIN as i64;
    const MAX: i64 = i32::MAX as i64;
}

impl<'e> FieldReader<'e> {
    /// Checks that `argument` is an object map whose keys are all fields of `schema`.
    pub(crate) fn new(engine: &'e Engine, schema: &ObjectSchema, argument: Dynamic) -> Result<Self, ObjectError> {
        let map = argument
            .flatten()
            .try_cast_result::<Map>()
            .map_err(|argument| ObjectError::NotAMap { object: schema.name, found: describe(engine, &argument) })?;
        if let Some(unknown) = map.keys().find(|key| !schema.fields.contains(&key.as_str())) {
            return Err(ObjectError::UnknownField {
                object: schema.name,
                field: unknown.to_string(),
                suggestion: closest(unknown, schema.fields),
                known: schema.fields,
            });
        }
        Ok(FieldReader { engine, object: schema.name, fields: schema.fields, map })
    }

    /// Was `field` given at all?
    pub(crate) fn is_given(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    /// A required string field.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, ObjectError> {
        let value = self.optional_string(field)?;
        value.ok_or_else(|| self.missing(field))
    }

    /// An optional string field.
    pub(crate) fn optional_string(&mut self, field: &'static str) -> Result<Option<String>, ObjectError> {
        let Some(value) = self.take(field) else {
            return Ok(None);
        };
        match value.as_immutable_string_ref() {
            Ok(string) => Ok(Some(string.to_string())),
            Err(_) => Err(self.wrong_type(field, "a string", &value)),
        }
    }

    /// A bool field with a default.
    pub(crate) fn bool_or(&mut self, field: &'static str, default: bool) -> Result<bool, ObjectError> {
        match self.take(field) {
            None => Ok(default),
            Some(value) => value.as_bool().map_err(|_| self.wrong_type(field, "a bool", &value)),
        }
    }

    /// An integer field with a default, which must fit `T`.
    pub(crate) fn whole_number_or<T: WholeNumber>(
        &mut self,
        field: &'static str,
        default: T,
    ) -> Result<T, ObjectError> {
        let Some(value) = self.take(field) else {
            return Ok(default);
        };
        let expected = if T::MAX == i64::MAX {
            format!("a whole number of at least {}", T::MIN)
        } else {
            format!("a whole number from {} to {}", T::MIN, T::MAX)
        };
        let number = value.as_int().map_err(|_| self.wrong_type(field, &expected, &value))?;
        T::try_from(number).map_err(|_| self.out_of_range(field, &expected, number))
    }

    /// A required number field, integer or float.
    pub(crate) fn number(&mut self, field: &'static str) -> Result<f64, ObjectError> {
        let value = self.take(field).ok_or_else(|| self.missing(field))?;
        match (value.as_int(), value.as_float()) {
            (Ok(integer), _) => Ok(integer as f64),
            (_, Ok(float)) => Ok(float),
            _ => Err(self.wrong_type(field, "a number", &value)),
        }
    }

    /// A required size in bytes: a non-negative integer, or a float rounded up.
    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<u64, ObjectError> {
        const EXPECTED: &str = "a number of bytes, e.g. 512 * MB";
        let value = self.take(field).ok_or_else(|| self.missing(field))?;
        if let Ok(integer) = value.as_int() {
            return u64::try_from(integer).map_err(|_| self.out_of_range(field, EXPECTED, integer));
        }
        match value.as_float() {
            Ok(float) if float >= 0.0 && float.is_finite() => Ok(float.ceil() as u64),
            Ok(float) => Err(self.out_of_range(field, EXPECTED, float)),
            Err(_) => Err(self.wrong_type(field, EXPECTED, &value)),
        }
    }

    /// A required field holding a DSL object, such as a Task.
    pub(crate) fn object<T: DslObject>(&mut self, field: &'static str) -> Result<T, ObjectError> {
        let value = self.take(field).ok_or_else(|| self.missing(field))?;
        value.try_cast_result::<T>().map_err(|value| self.wrong_type(field, &self.type_named::<T>(), &value))
    }

    /// An optional field holding an array of DSL objects, such as Processes.
    pub(crate) fn optional_list<T: DslObject>(&mut self, field: &'static str) -> Result<Option<Vec<T>>, ObjectError> {
        let Some(value) = self.take(field) else {
            return Ok(None);
        };
        let expected = format!("an array of {}", self.engine.map_type_name(type_name::<T>()));
        let elements = value.try_cast_result::<Array>().map_err(|value| self.wrong_type(field, &expected, &value))?;
        let list = elements.into_iter().enumerate().map(|(index, element)| {
            element.flatten().try_cast_result::<T>().map_err(|element| {
                let found = format!("an array whose element {index} is {}", describe(self.engine, &element));
                self.wrong_type_named(field, &expected, found)
            })
        });
        list.collect::<Result<_, _>>().map(Some)
    }

    /// A required field holding an array of DSL objects.
    pub(crate) fn list<T: DslObject>(&mut self, field: &'static str) -> Result<Vec<T>, ObjectError> {
        let list = self.optional_list(field)?;
        list.ok_or_else(|| self.missing(field))
    }

    fn take(&mut self, field: &'static str) -> Option<Dynamic> {
        debug_assert!(self.fields.contains(&field), "{} reads '{field}', which its schema lacks", self.object);
        self.map.remove(field).map(Dynamic::flatten)
    }

    fn type_named<T: DslObject>(&self) -> String {
        with_article(self.engine.map_type_name(type_name::<T>()))
    }

    fn missing(&self, field: &'static str) -> ObjectError {
        ObjectError::MissingField { object: self.object, field }
    }

    fn wrong_type(&self, field: &'static str, expected: &str, value: &Dynamic) -> ObjectError {
        self.wrong_type_named(field, expected, describe(self.engine, value))
    }

    fn out_of_range(&self, field: &'static str, expected: &str, value: impl ToString) -> ObjectError {
        self.wrong_type_named(field, expected, value.to_string())
    }

    fn wrong_type_named(&self, field: &'static str, expected: &str, found: String) -> ObjectError {
        ObjectError::WrongType { object: self.object, field, expected: expected.to_owned(), found }
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

    const FIELDS: &[&str] = &["name", "cmdline", "max_failures", "min_duration"];

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
}

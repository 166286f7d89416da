//! The kinds of value a field can hold — text, flags, numbers, byte sizes, DSL objects, lists,
//! maps, one of a fixed set of words — each knowing how to read a script value and how to
//! describe itself in a message.
//!
//! A kind reads a value or says what it found instead ("an integer", "-1"), so that the
//! [`FieldReader`](super::fields::FieldReader) can name the field and the expectation.

use std::any::type_name;
use std::marker::PhantomData;

use rhai::{Array, Dynamic, Engine, Map};

use super::DslObject;
use crate::values::{describe, with_article};

/// A kind of field value.
pub(crate) trait Kind {
    type Value;

    /// What a value of this kind is, for messages, with its article: "a string".
    fn expected(&self, engine: &Engine) -> String;

    /// The value, or a description of what was found instead.
    fn read(&self, engine: &Engine, value: Dynamic) -> Result<Self::Value, String>;
}

/// A string.
pub(crate) struct Text;

impl Kind for Text {
    type Value = String;

    fn expected(&self, _: &Engine) -> String {
        "a string".to_owned()
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<String, String> {
        match value.as_immutable_string_ref() {
            Ok(text) => Ok(text.to_string()),
            Err(_) => Err(describe(engine, &value)),
        }
    }
}

/// A bool.
pub(crate) struct Flag;

impl Kind for Flag {
    type Value = bool;

    fn expected(&self, _: &Engine) -> String {
        "a bool".to_owned()
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<bool, String> {
        value.as_bool().map_err(|_| describe(engine, &value))
    }
}

/// An integer type a field can hold, with the range a script value must fall in.
pub(crate) trait WholeNumber: TryFrom<i64> + Copy {
    const MIN: i64;
    const MAX: i64;
}

impl WholeNumber for u16 {
    const MIN: i64 = 0;
    const MAX: i64 = u16::MAX as i64;
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

/// An integer that fits `T`.
pub(crate) struct Whole<T>(PhantomData<T>);

/// An integer that fits `T`.
pub(crate) const fn whole<T>() -> Whole<T> {
    Whole(PhantomData)
}

impl<T: WholeNumber> Kind for Whole<T> {
    type Value = T;

    fn expected(&self, _: &Engine) -> String {
        if T::MAX == i64::MAX {
            format!("a whole number of at least {}", T::MIN)
        } else {
            format!("a whole number from {} to {}", T::MIN, T::MAX)
        }
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<T, String> {
        let number = value.as_int().map_err(|_| describe(engine, &value))?;
        T::try_from(number).map_err(|_| number.to_string())
    }
}

/// A finite number, integer or float.
pub(crate) struct Number;

impl Kind for Number {
    type Value = f64;

    fn expected(&self, _: &Engine) -> String {
        "a number".to_owned()
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<f64, String> {
        let number = match (value.as_int(), value.as_float()) {
            (Ok(integer), _) => integer as f64,
            (_, Ok(float)) => float,
            _ => return Err(describe(engine, &value)),
        };
        if number.is_finite() { Ok(number) } else { Err(number.to_string()) }
    }
}

/// A size in bytes: a non-negative integer, or a float rounded up.
pub(crate) struct Bytes;

impl Kind for Bytes {
    type Value = u64;

    fn expected(&self, _: &Engine) -> String {
        "a number of bytes, e.g. 512 * MB".to_owned()
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<u64, String> {
        if let Ok(integer) = value.as_int() {
            return u64::try_from(integer).map_err(|_| integer.to_string());
        }
        match value.as_float() {
            Ok(float) if float >= 0.0 && float.is_finite() => Ok(float.ceil() as u64),
            Ok(float) => Err(float.to_string()),
            Err(_) => Err(describe(engine, &value)),
        }
    }
}

/// A DSL object, such as a Process; `described` replaces its type name in messages when
/// several constructors make it ("a Docker or Mesos container").
pub(crate) struct Object<T> {
    described: Option<&'static str>,
    object: PhantomData<T>,
}

/// A DSL object, named in messages by its registered type name.
pub(crate) const fn object<T>() -> Object<T> {
    Object { described: None, object: PhantomData }
}

/// A DSL object several constructors make, named in messages as `described`.
pub(crate) const fn object_described<T>(described: &'static str) -> Object<T> {
    Object { described: Some(described), object: PhantomData }
}

impl<T: DslObject> Kind for Object<T> {
    type Value = T;

    fn expected(&self, engine: &Engine) -> String {
        match self.described {
            Some(described) => described.to_owned(),
            None => with_article(engine.map_type_name(type_name::<T>())),
        }
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<T, String> {
        value.try_cast_result::<T>().map_err(|value| describe(engine, &value))
    }
}

/// An array whose elements are all of one kind.
pub(crate) struct ListOf<K>(pub(crate) K);

impl<K: Kind> Kind for ListOf<K> {
    type Value = Vec<K::Value>;

    fn expected(&self, engine: &Engine) -> String {
        format!("an array of {}", without_article(&self.0.expected(engine)))
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<Vec<K::Value>, String> {
        let elements = value.try_cast_result::<Array>().map_err(|value| describe(engine, &value))?;
        elements
            .into_iter()
            .enumerate()
            .map(|(index, element)| {
                self.0
                    .read(engine, element.flatten())
                    .map_err(|found| format!("an array whose element {index} is {found}"))
            })
            .collect()
    }
}

/// An object map whose values are all of one kind, read as (key, value) pairs in key order.
pub(crate) struct MapOf<K>(pub(crate) K);

impl<K: Kind> Kind for MapOf<K> {
    type Value = Vec<(String, K::Value)>;

    fn expected(&self, engine: &Engine) -> String {
        format!("an object map of {}", without_article(&self.0.expected(engine)))
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<Self::Value, String> {
        let entries = value.try_cast_result::<Map>().map_err(|value| describe(engine, &value))?;
        entries
            .into_iter()
            .map(|(key, entry)| match self.0.read(engine, entry.flatten()) {
                Ok(entry) => Ok((key.to_string(), entry)),
                Err(found) => Err(format!("an object map whose entry '{key}' is {found}")),
            })
            .collect()
    }
}

/// One of a fixed set of words, such as a Logger's destination.
pub(crate) struct OneOf(pub(crate) &'static [&'static str]);

impl Kind for OneOf {
    type Value = &'static str;

    fn expected(&self, _: &Engine) -> String {
        let quoted: Vec<String> = self.0.iter().map(|word| format!("\"{word}\"")).collect();
        format!("one of {}", quoted.join(", "))
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<&'static str, String> {
        let text = Text.read(engine, value)?;
        self.0.iter().copied().find(|word| *word == text).ok_or_else(|| format!("\"{text}\""))
    }
}

/// Another kind, described differently in messages.
pub(crate) struct Described<K>(pub(crate) K, pub(crate) &'static str);

impl<K: Kind> Kind for Described<K> {
    type Value = K::Value;

    fn expected(&self, _: &Engine) -> String {
        self.1.to_owned()
    }

    fn read(&self, engine: &Engine, value: Dynamic) -> Result<K::Value, String> {
        self.0.read(engine, value)
    }
}

/// "a string" → "string", for "an array of string".
fn without_article(expected: &str) -> &str {
    expected.strip_prefix("an ").or_else(|| expected.strip_prefix("a ")).unwrap_or(expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox;

    fn read<K: Kind>(kind: K, value: impl Into<Dynamic>) -> Result<K::Value, String> {
        let engine = sandbox::bare_engine();
        kind.read(&engine, value.into())
    }

    #[test]
    fn numbers_check_their_range_and_say_what_they_found() {
        assert_eq!(read(whole::<u32>(), 3_i64), Ok(3));
        assert_eq!(read(whole::<u32>(), -1_i64), Err("-1".to_owned()));
        assert_eq!(read(whole::<u16>(), 70_000_i64), Err("70000".to_owned()));
        assert_eq!(read(whole::<i32>(), "x"), Err("a string".to_owned()));
        assert_eq!(read(Number, 2_i64), Ok(2.0));
        assert_eq!(read(Number, f64::INFINITY), Err("inf".to_owned()));
        assert_eq!(read(Bytes, 1.5_f64), Ok(2));
        assert_eq!(read(Bytes, -1_i64), Err("-1".to_owned()));
    }

    #[test]
    fn lists_and_maps_name_the_offending_element() {
        let list: Array = vec![Dynamic::from("a"), Dynamic::from(1_i64)];
        assert_eq!(read(ListOf(Text), list), Err("an array whose element 1 is an integer".to_owned()));
        let mut map = Map::new();
        map.insert("rack".into(), Dynamic::from(true));
        assert_eq!(read(MapOf(Text), map), Err("an object map whose entry 'rack' is a bool".to_owned()));
    }

    #[test]
    fn words_must_be_one_of_the_allowed_ones() {
        const MODES: OneOf = OneOf(&["standard", "rotate"]);
        assert_eq!(read(MODES, "rotate"), Ok("rotate"));
        assert_eq!(read(MODES, "daily"), Err("\"daily\"".to_owned()));
        assert_eq!(MODES.expected(&sandbox::bare_engine()), "one of \"standard\", \"rotate\"");
    }

    #[test]
    fn described_kinds_and_lists_word_their_expectation() {
        let engine = sandbox::bare_engine();
        assert_eq!(ListOf(whole::<u32>()).expected(&engine), "an array of whole number from 0 to 4294967295");
        assert_eq!(Described(Text, "a port name").expected(&engine), "a port name");
        assert_eq!(MapOf(Text).expected(&engine), "an object map of string");
    }
}

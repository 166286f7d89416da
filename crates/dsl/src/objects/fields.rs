//! The table-driven reader behind every constructor: checks an object map against the
//! object's list of fields (reporting every unknown name, with a suggestion), then hands out
//! each field as a value of its [`Kind`], a default, or nothing — recording, never throwing,
//! what is wrong, each problem with the field it is about, so one constructor call reports all
//! of its problems at their fields and evaluation goes on.
//!
//! Adding a field to an object is one entry in its [`ObjectSchema`] and one read in its
//! constructor.

use rhai::{Dynamic, Engine, Map};

use super::ObjectError;
use super::kinds::Kind;
use crate::values::describe;

/// An object's name, as the script calls it, what it is, and its fields.
#[derive(Debug)]
pub(crate) struct ObjectSchema {
    pub(crate) name: &'static str,
    /// What the object is, in a sentence, for editors.
    pub(crate) summary: &'static str,
    pub(crate) fields: &'static [Field],
}

/// One field of an object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) presence: Presence,
}

/// Whether a field must be given, and what it is when it is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    /// The object cannot be made without it.
    Required,
    /// Exactly one of the fields marked so must be given.
    OneOf,
    /// It may be left out, and then is this: a value as a job file writes it (`1`, `"file"`,
    /// `Logger(#{})`), or words for what it means (`none`, `the role`).
    Default(&'static str),
    /// The object knows it (a sibling object has it) but refuses it, with a message saying why.
    NotAllowed,
}

/// A field that must be given.
pub(crate) const fn required(name: &'static str) -> Field {
    Field { name, presence: Presence::Required }
}

/// A field of which exactly one of its kind must be given.
pub(crate) const fn one_of(name: &'static str) -> Field {
    Field { name, presence: Presence::OneOf }
}

/// A field that may be left out, and then is `default`.
pub(crate) const fn default(name: &'static str, default: &'static str) -> Field {
    Field { name, presence: Presence::Default(default) }
}

/// A field the object knows but refuses.
pub(crate) const fn not_allowed(name: &'static str) -> Field {
    Field { name, presence: Presence::NotAllowed }
}

/// `fields` with the one named as `field` is replaced by `field`: a sibling object's fields.
pub(crate) const fn replacing<const N: usize>(mut fields: [Field; N], field: Field) -> [Field; N] {
    let mut index = 0;
    while index < N {
        if same_name(fields[index].name, field.name) {
            fields[index] = field;
        }
        index += 1;
    }
    fields
}

const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut index = 0;
    while index < a.len() {
        if a[index] != b[index] {
            return false;
        }
        index += 1;
    }
    true
}

impl ObjectSchema {
    /// The names of the fields, in order.
    pub(crate) fn field_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|field| field.name)
    }

    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    fn names_with(&self, presence: Presence) -> Vec<&'static str> {
        self.fields.iter().filter(|field| field.presence == presence).map(|field| field.name).collect()
    }

    /// Whether every field may be left out, so that `Name()` means `Name(#{})`.
    pub(crate) fn takes_nothing(&self) -> bool {
        self.fields.iter().all(|field| matches!(field.presence, Presence::Default(_) | Presence::NotAllowed))
    }

    /// How the object is written, with its required fields: `Process(#{ name: ..., cmdline:
    /// ... })`, `Logger(#{ ... }) or Logger()`.
    pub(crate) fn form(&self) -> String {
        let name = self.name;
        let one_of = self.names_with(Presence::OneOf);
        if !one_of.is_empty() {
            let forms: Vec<String> = one_of.iter().map(|field| format!("{name}(#{{ {field}: ... }})")).collect();
            return forms.join(" or ");
        }
        let required = self.names_with(Presence::Required);
        if required.is_empty() {
            return format!("{name}(#{{ ... }}) or {name}()");
        }
        let fields: Vec<String> = required.iter().map(|field| format!("{field}: ...")).collect();
        format!("{name}(#{{ {} }})", fields.join(", "))
    }

    /// What is wrong with a call that does not give one object map, having given `found`.
    pub(crate) fn wrong_shape(&self, found: String) -> ObjectError {
        let takes = if self.takes_nothing() { "one map of fields, or nothing" } else { "one map of fields" };
        ObjectError::WrongShape { object: self.name, takes, form: self.form(), found }
    }

    /// The object described for editors: what it is, how it is written, and its fields with
    /// their defaults, as one doc comment.
    pub(crate) fn doc_comment(&self) -> String {
        let mut lines = vec![format!("/// {}", self.summary), "///".to_owned(), format!("/// `{}`", self.form())];
        lines.push("///".to_owned());
        lines.push("/// Fields:".to_owned());
        let one_of = self.names_with(Presence::OneOf).join(", ");
        for field in self.fields {
            let presence = match field.presence {
                Presence::Required => "required".to_owned(),
                Presence::OneOf => format!("give exactly one of {one_of}"),
                Presence::Default(default) => format!("default: {default}"),
                Presence::NotAllowed => "not allowed".to_owned(),
            };
            lines.push(format!("/// - `{}` ({presence})", field.name));
        }
        lines.join("\n")
    }
}

/// A problem with a constructor's argument: about one of its fields (the path of keys to it,
/// as the job file writes them: `["constraints", "host"]`), or about the call as a whole.
#[derive(Debug, PartialEq)]
pub(crate) struct FieldProblem {
    pub(crate) path: Vec<String>,
    pub(crate) message: String,
}

impl FieldProblem {
    /// A problem about the call as a whole.
    pub(crate) fn of_call(problem: impl ToString) -> FieldProblem {
        FieldProblem { path: Vec::new(), message: problem.to_string() }
    }

    /// A problem about the field at `path`.
    pub(crate) fn at(path: &[&str], problem: impl ToString) -> FieldProblem {
        FieldProblem { path: path.iter().map(|key| (*key).to_owned()).collect(), message: problem.to_string() }
    }
}

/// The fields of one object map, taken out one by one by the constructor.
pub(crate) struct FieldReader<'e> {
    engine: &'e Engine,
    schema: &'static ObjectSchema,
    map: Map,
    /// False when the argument was not an object map: its fields are then not reported missing,
    /// which would only repeat that problem.
    is_map: bool,
    problems: Vec<FieldProblem>,
}

impl<'e> FieldReader<'e> {
    /// Reads `argument`, which should be an object map whose keys are all fields of `schema`;
    /// `None` when the call gave no argument, which only objects that take nothing accept.
    pub(crate) fn new(engine: &'e Engine, schema: &'static ObjectSchema, argument: Option<Dynamic>) -> Self {
        let mut problems = Vec::new();
        let (map, is_map) = match argument.map(|argument| argument.flatten().try_cast_result::<Map>()) {
            Some(Ok(map)) => (map, true),
            Some(Err(argument)) => {
                problems.push(FieldProblem::of_call(schema.wrong_shape(describe(engine, &argument))));
                (Map::new(), false)
            }
            None if schema.takes_nothing() => (Map::new(), true),
            None => {
                problems.push(FieldProblem::of_call(schema.wrong_shape("nothing".to_owned())));
                (Map::new(), false)
            }
        };
        for unknown in map.keys().filter(|key| schema.field(key).is_none()) {
            let known: Vec<&'static str> = schema.field_names().collect();
            let problem = ObjectError::UnknownField {
                object: schema.name,
                field: unknown.to_string(),
                suggestion: atoll_model::suggest::nearest(unknown, known.iter().copied()),
                known: known.join(", "),
            };
            problems.push(FieldProblem::at(&[unknown.as_str()], problem));
        }
        FieldReader { engine, schema, map, is_map, problems }
    }

    /// Was `field` given at all?
    pub(crate) fn is_given(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    /// A field that must be given; `None` (with the problem recorded) if it is missing or wrong.
    pub(crate) fn required<K: Kind>(&mut self, field: &'static str, kind: K) -> Option<K::Value> {
        debug_assert!(
            self.schema.field(field).is_some_and(|known| known.presence == Presence::Required),
            "{} reads '{field}' as required, which its schema does not say",
            self.schema.name
        );
        if !self.is_given(field) && self.is_map {
            self.problems.push(FieldProblem::of_call(ObjectError::MissingField { object: self.schema.name, field }));
        }
        self.read(field, kind)
    }

    /// A field that may be left out; `None` if it is, or (with the problem recorded) if it is wrong.
    pub(crate) fn optional<K: Kind>(&mut self, field: &'static str, kind: K) -> Option<K::Value> {
        debug_assert!(
            self.schema.field(field).is_some_and(|known| known.presence != Presence::Required),
            "{} reads '{field}' as optional, which its schema does not say",
            self.schema.name
        );
        self.read(field, kind)
    }

    fn read<K: Kind>(&mut self, field: &'static str, kind: K) -> Option<K::Value> {
        let value = self.map.remove(field)?.flatten();
        match kind.read(self.engine, value) {
            Ok(value) => Some(value),
            Err(found) => {
                let expected = kind.expected(self.engine);
                let problem = ObjectError::WrongType { object: self.schema.name, field, expected, found };
                self.problems.push(FieldProblem::at(&[field], problem));
                None
            }
        }
    }

    /// A field with a default, used when it is left out or wrong.
    pub(crate) fn or<K: Kind>(&mut self, field: &'static str, kind: K, default: K::Value) -> K::Value {
        self.optional(field, kind).unwrap_or(default)
    }

    /// Records a problem the constructor found itself with the call as a whole.
    pub(crate) fn problem(&mut self, problem: ObjectError) {
        self.problems.push(FieldProblem::of_call(problem));
    }

    /// Records a problem the constructor found itself with the field at `path`.
    pub(crate) fn problem_at(&mut self, path: &[&str], problem: ObjectError) {
        self.problems.push(FieldProblem::at(path, problem));
    }

    /// Every problem found.
    pub(crate) fn finish(self) -> Vec<FieldProblem> {
        self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::kinds::{Text, whole};
    use crate::sandbox;

    const SCHEMA: ObjectSchema = ObjectSchema {
        name: "Thing",
        summary: "A thing.",
        fields: &[
            required("name"),
            default("cmdline", "none"),
            default("max_failures", "1"),
            default("min_duration", "5"),
        ],
    };
    const DEFAULTS: ObjectSchema =
        ObjectSchema { name: "Knob", summary: "A knob.", fields: &[default("turns", "1"), default("colour", "none")] };
    const EITHER: ObjectSchema = ObjectSchema { name: "Either", summary: "One.", fields: &[one_of("a"), one_of("b")] };

    fn messages(problems: &[FieldProblem]) -> Vec<(String, &str)> {
        problems.iter().map(|problem| (problem.path.join("."), problem.message.as_str())).collect()
    }

    #[test]
    fn every_problem_of_one_map_is_recorded_at_its_field_and_reading_goes_on() {
        let engine = sandbox::bare_engine();
        let mut map = Map::new();
        map.insert("nam".into(), Dynamic::from("x"));
        map.insert("colour".into(), Dynamic::from("red"));
        map.insert("max_failures".into(), Dynamic::from("3"));
        map.insert("min_duration".into(), Dynamic::from(7_i64));
        let mut fields = FieldReader::new(&engine, &SCHEMA, Some(Dynamic::from(map)));
        assert_eq!(fields.required("name", Text), None);
        assert_eq!(fields.or("max_failures", whole::<u32>(), 1), 1);
        assert_eq!(fields.or("min_duration", whole::<u64>(), 5), 7);
        assert_eq!(fields.optional("cmdline", Text), None);
        assert_eq!(
            messages(&fields.finish()),
            vec![
                (
                    "colour".to_owned(),
                    "Thing has no field 'colour'; its fields are name, cmdline, max_failures, min_duration"
                ),
                ("nam".to_owned(), "Thing has no field 'nam'; did you mean 'name'?"),
                (String::new(), "Thing is missing required field 'name'"),
                (
                    "max_failures".to_owned(),
                    "Thing field 'max_failures' must be a whole number from 0 to 4294967295, not a string"
                ),
            ]
        );
    }

    #[test]
    fn a_non_map_is_one_problem_that_shows_the_form() {
        let engine = sandbox::bare_engine();
        let mut fields = FieldReader::new(&engine, &SCHEMA, Some(Dynamic::from("hello")));
        assert_eq!(fields.required("name", Text), None);
        assert_eq!(
            messages(&fields.finish()),
            vec![(String::new(), "Thing takes one map of fields: Thing(#{ name: ... }), not a string")]
        );
        let mut fields = FieldReader::new(&engine, &SCHEMA, None);
        assert_eq!(fields.required("name", Text), None);
        assert_eq!(
            messages(&fields.finish()),
            vec![(String::new(), "Thing takes one map of fields: Thing(#{ name: ... }), not nothing")]
        );
    }

    #[test]
    fn nothing_is_an_empty_map_when_every_field_has_a_default() {
        let engine = sandbox::bare_engine();
        let mut fields = FieldReader::new(&engine, &DEFAULTS, None);
        assert_eq!(fields.or("turns", whole::<u32>(), 1), 1);
        assert_eq!(fields.finish(), Vec::new());
        assert!(DEFAULTS.takes_nothing() && !SCHEMA.takes_nothing() && !EITHER.takes_nothing());
        assert_eq!(DEFAULTS.form(), "Knob(#{ ... }) or Knob()");
        assert_eq!(EITHER.form(), "Either(#{ a: ... }) or Either(#{ b: ... })");
        assert_eq!(
            DEFAULTS.wrong_shape("2 arguments".to_owned()).to_string(),
            "Knob takes one map of fields, or nothing: Knob(#{ ... }) or Knob(), not 2 arguments"
        );
    }

    #[test]
    fn the_doc_comment_lists_every_field_with_its_default() {
        assert_eq!(
            SCHEMA.doc_comment(),
            "/// A thing.\n///\n/// `Thing(#{ name: ... })`\n///\n/// Fields:\n/// - `name` (required)\n\
             /// - `cmdline` (default: none)\n/// - `max_failures` (default: 1)\n/// - `min_duration` (default: 5)"
        );
        assert!(EITHER.doc_comment().ends_with("/// - `b` (give exactly one of a, b)"));
    }
}

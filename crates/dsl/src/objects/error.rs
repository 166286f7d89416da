//! Why a constructor rejected its argument. Each error becomes a Rhai runtime error, which the
//! engine places at the constructor's call site.

use rhai::EvalAltResult;

/// A constructor's argument that does not describe a valid object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ObjectError {
    #[error("{object} takes one object map, e.g. {object}(#{{ ... }}), not {found}")]
    NotAMap { object: &'static str, found: String },
    #[error("{object} has no field '{field}'; {}", unknown_field_hint(*.suggestion, .known))]
    UnknownField {
        object: &'static str,
        field: String,
        suggestion: Option<&'static str>,
        known: &'static [&'static str],
    },
    #[error("{object} field '{field}' must be {expected}, not {found}")]
    WrongType { object: &'static str, field: &'static str, expected: String, found: String },
    #[error("{object} is missing required field '{field}'")]
    MissingField { object: &'static str, field: &'static str },
    #[error(
        "SequentialTask orders all of its processes itself, so it cannot take 'constraints'; \
         use Task(#{{ constraints: [order(...)], ... }}) instead"
    )]
    SequentialTaskWithConstraints,
    #[error("order() takes processes or process names, but argument {argument} is {found}")]
    OrderArgument { argument: usize, found: String },
}

fn unknown_field_hint(suggestion: Option<&str>, known: &[&str]) -> String {
    match suggestion {
        Some(field) => format!("did you mean '{field}'?"),
        None => format!("its fields are {}", known.join(", ")),
    }
}

impl From<ObjectError> for Box<EvalAltResult> {
    fn from(error: ObjectError) -> Self {
        error.to_string().into()
    }
}

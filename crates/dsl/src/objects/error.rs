//! What is wrong with a constructor's arguments. Constructors record these rather than throw
//! them, so evaluation goes on and later problems are found too; each becomes a diagnostic at
//! the field it is about (its key in the map literal the call was given), or at the
//! constructor's call site.

/// One problem with a constructor's arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ObjectError {
    #[error("{object} takes {takes}: {form}, not {found}")]
    WrongShape { object: &'static str, takes: &'static str, form: String, found: String },
    #[error("{object} has no field '{field}'; {}", unknown_field_hint(*.suggestion, .known))]
    UnknownField { object: &'static str, field: String, suggestion: Option<&'static str>, known: String },
    #[error("{object} field '{field}' must be {expected}, not {found}")]
    WrongType { object: &'static str, field: &'static str, expected: String, found: String },
    #[error("Must specify ram and disk resources, got ram:{ram} MB disk:{disk} MB")]
    NoSize { ram: String, disk: String },
    #[error("{object} is missing required field '{field}'")]
    MissingField { object: &'static str, field: &'static str },
    #[error("{object} takes exactly one of {}, not {given}", .fields.join(" or "))]
    ExactlyOne { object: &'static str, fields: &'static [&'static str], given: &'static str },
    #[error(
        "SequentialTask orders all of its processes itself, so it cannot take 'constraints'; \
         use Task(#{{ constraints: [order(...)], ... }}) instead"
    )]
    SequentialTaskWithConstraints,
    #[error("{function}() takes {expected}, but argument {argument} is {found}")]
    Argument { function: &'static str, expected: &'static str, argument: usize, found: String },
    #[error("{function}() needs at least one Task")]
    NoTasks { function: &'static str },
    #[error("Invalid cron policy: {0}; use \"KILL_EXISTING\" or \"CANCEL_NEW\"")]
    CronPolicy(String),
    #[error("{0}")]
    Constraint(#[from] atoll_model::ConstraintError),
    #[error("{0}")]
    Schedule(#[from] atoll_cron::ScheduleError),
}

fn unknown_field_hint(suggestion: Option<&str>, known: &str) -> String {
    match suggestion {
        Some(field) => format!("did you mean '{field}'?"),
        None => format!("its fields are {known}"),
    }
}

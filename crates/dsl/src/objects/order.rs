//! `order(a, b, ...)`: processes, or process names, that run one after another (Aurora's
//! `Constraint(order=[...])`), for a Task's `constraints`.

use std::sync::Arc;

use atoll_model::ProcessSpec;
use rhai::{Dynamic, Engine};

use super::{Call, FunctionSchema, ObjectError, Parameters, register_function};
use crate::session::Session;
use crate::values::describe;

/// Processes, by name, that run one after another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OrderConstraint {
    pub(crate) names: Vec<String>,
}

/// `order` takes up to 16 processes (Rhai has no variadic functions, so it is registered once
/// per count); longer chains can be split, as `order(a, .., p)` and `order(p, q, ..)`.
pub(super) const ORDER: FunctionSchema = FunctionSchema {
    name: "order",
    summary: "Processes (or their names) that run one after another, for a Task's `constraints`.",
    takes: "1 to 16 processes or process names",
    form: "order(p1, p2, ...)",
    arities: 1..=16,
    parameters: Parameters::Numbered("process"),
};

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_function(engine, session, &ORDER, order);
}

/// An argument that is neither a process nor a name is reported and left out.
fn order(call: &Call<'_>, arguments: Vec<Dynamic>) -> OrderConstraint {
    let mut names = Vec::with_capacity(arguments.len());
    let mut problems = Vec::new();
    for (index, argument) in arguments.into_iter().enumerate() {
        if let Some(process) = argument.read_lock::<ProcessSpec>() {
            names.push(process.name.clone());
        } else if let Ok(name) = argument.as_immutable_string_ref() {
            names.push(name.to_string());
        } else {
            let found = describe(call.engine(), &argument);
            problems.push(
                ObjectError::Argument {
                    function: "order",
                    expected: "processes or process names",
                    argument: index + 1,
                    found,
                }
                .to_string(),
            );
        }
    }
    call.report(problems);
    OrderConstraint { names }
}

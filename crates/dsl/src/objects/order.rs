//! `order(a, b, ...)`: processes, or process names, that run one after another (Aurora's
//! `Constraint(order=[...])`), for a Task's `constraints`.

use std::sync::Arc;

use atoll_model::ProcessSpec;
use rhai::{Dynamic, Engine};

use super::{Call, ObjectError, register_function};
use crate::session::Session;
use crate::values::describe;

/// Processes, by name, that run one after another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OrderConstraint {
    pub(crate) names: Vec<String>,
}

/// Rhai has no variadic functions, so `order` is registered once per arity up to this one;
/// longer chains can be split, as `order(a, .., p)` and `order(p, q, ..)`.
const MAX_ORDERED_PROCESSES: usize = 16;

pub(super) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_function(engine, session, "order", 1..=MAX_ORDERED_PROCESSES, order);
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

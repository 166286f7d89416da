//! `order(a, b, ...)`: processes, or process names, that run one after another (Aurora's
//! `Constraint(order=[...])`), for a Task's `constraints`.

use std::any::TypeId;

use atoll_model::ProcessSpec;
use rhai::{Dynamic, Engine};

use super::ObjectError;
use crate::values::describe;

/// Processes, by name, that run one after another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OrderConstraint {
    pub(crate) names: Vec<String>,
}

/// Rhai has no variadic functions, so `order` is registered once per arity up to this one;
/// longer chains can be split, as `order(a, .., p)` and `order(p, q, ..)`.
const MAX_ORDERED_PROCESSES: usize = 16;

pub(super) fn register(engine: &mut Engine) {
    for arity in 1..=MAX_ORDERED_PROCESSES {
        engine.register_raw_fn("order", vec![TypeId::of::<Dynamic>(); arity], |context, arguments| {
            order(context.engine(), arguments).map_err(Into::into)
        });
    }
}

fn order(engine: &Engine, arguments: &[&mut Dynamic]) -> Result<OrderConstraint, ObjectError> {
    let names = arguments
        .iter()
        .enumerate()
        .map(|(index, argument)| {
            let argument = (**argument).clone().flatten();
            if let Some(process) = argument.read_lock::<ProcessSpec>() {
                return Ok(process.name.clone());
            }
            match argument.as_immutable_string_ref() {
                Ok(name) => Ok(name.to_string()),
                Err(_) => Err(ObjectError::OrderArgument { argument: index + 1, found: describe(engine, &argument) }),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(OrderConstraint { names })
}

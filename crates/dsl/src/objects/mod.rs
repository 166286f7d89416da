//! The DSL's objects, one module per family, each registering its constructors with the engine.
//!
//! Every constructor takes one object map, reads it with a [`fields::FieldReader`] against its
//! [`fields::ObjectSchema`] and returns a model value (or a DSL-only value such as an
//! [`order::OrderConstraint`]). Errors are returned, not thrown from inside, so Rhai reports them
//! at the constructor's call site.

mod error;
mod fields;
mod job;
mod order;
mod process;
mod resources;
mod task;

use atoll_model::{JobSpec, ProcessSpec, Resources, TaskSpec};
use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext};

pub(crate) use error::ObjectError;
pub(crate) use job::JobProblems;

/// Registers every object's type name and constructors.
pub(crate) fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<ProcessSpec>("Process")
        .register_type_with_name::<TaskSpec>("Task")
        .register_type_with_name::<Resources>("Resources")
        .register_type_with_name::<JobSpec>("Job")
        .register_type_with_name::<order::OrderConstraint>("Constraint");
    process::register(engine);
    resources::register(engine);
    order::register(engine);
    task::register(engine);
    job::register(engine);
}

/// A value a script can hold, such as a model type a constructor returns (what Rhai calls a
/// `Variant`, a trait it does not export).
pub(crate) trait DslObject: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> DslObject for T {}

/// What a constructor is: it reads one argument, normally an object map, into an object.
type Constructor<T, E> = fn(&Engine, Dynamic) -> Result<T, E>;

/// Registers `constructor` as the script function `name`. Its error is returned to the engine,
/// which reports it at the call site.
fn register_constructor<T, E>(engine: &mut Engine, name: &'static str, constructor: Constructor<T, E>)
where
    T: DslObject,
    E: Into<Box<EvalAltResult>> + 'static,
{
    engine.register_fn(name, move |context: NativeCallContext, argument: Dynamic| -> Result<T, Box<EvalAltResult>> {
        constructor(context.engine(), argument).map_err(Into::into)
    });
}

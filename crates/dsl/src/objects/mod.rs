//! The DSL's objects, one module per family, each registering its constructors with the engine.
//!
//! Every constructor takes one object map, reads it with a [`fields::FieldReader`] against its
//! [`fields::ObjectSchema`] and returns a model value (or a DSL-only value such as an
//! [`order::OrderConstraint`]). Constructors never fail: they record each problem at their
//! call site through the [`Call`] and return a best-effort value whose unreadable parts are
//! valid stand-ins, so evaluation goes on and no problem causes follow-on ones.

mod announce;
mod combine;
mod container;
mod error;
mod fields;
mod health;
mod job;
mod kinds;
mod order;
mod policy;
mod process;
mod resources;
mod task;
mod update;

use std::any::TypeId;
use std::ops::RangeInclusive;
use std::sync::Arc;

use atoll_model::config::DockerParameter;
use atoll_model::config::{
    Announcer, Container, HealthCheckConfig, HealthChecker, HttpHealthChecker, HttpLifecycleConfig, LifecycleConfig,
    Logger, MesosImage, Metadata, PartitionPolicy, RotatePolicy, SlaPolicy, UpdateConfig, UpdateStrategy, Volume,
};
use atoll_model::{ProcessSpec, Resources, TaskSpec};
use rhai::{Dynamic, Engine, NativeCallContext};

use crate::session::{Session, Site};

pub(crate) use error::ObjectError;
pub(crate) use job::JobValue;

/// Every object schema, for the language reference's drift test.
#[cfg(test)]
pub(crate) const SCHEMAS: &[&fields::ObjectSchema] = &[
    &process::PROCESS,
    &process::LOGGER,
    &process::ROTATE_POLICY,
    &task::TASK,
    &task::SEQUENTIAL_TASK,
    &resources::RESOURCES,
    &job::JOB,
    &job::SERVICE,
    &update::UPDATE_CONFIG,
    &update::QUEUE,
    &update::BATCH,
    &update::VARIABLE_BATCH,
    &health::HEALTH_CHECK_CONFIG,
    &health::HEALTH_CHECKER_CONFIG,
    &health::HTTP_HEALTH_CHECKER,
    &health::SHELL_HEALTH_CHECKER,
    &health::LIFECYCLE_CONFIG,
    &health::HTTP_LIFECYCLE_CONFIG,
    &announce::ANNOUNCER,
    &policy::METADATA,
    &policy::COUNT_SLA_POLICY,
    &policy::PERCENTAGE_SLA_POLICY,
    &policy::COORDINATOR_SLA_POLICY,
    &policy::PARTITION_POLICY,
    &container::DOCKER,
    &container::PARAMETER,
    &container::MESOS,
    &container::APPC_IMAGE,
    &container::DOCKER_IMAGE,
    &container::VOLUME,
];

/// The functions that are not object-map constructors, with their argument forms, for the
/// language reference's drift test.
#[cfg(test)]
pub(crate) const FUNCTIONS: &[&str] = &["SimpleTask", "order", "combine_tasks", "concat_tasks"];

/// Registers the name every object type goes by in messages and `type_of`.
pub(crate) fn register_types(engine: &mut Engine) {
    engine
        .register_type_with_name::<ProcessSpec>("Process")
        .register_type_with_name::<Logger>("Logger")
        .register_type_with_name::<RotatePolicy>("RotatePolicy")
        .register_type_with_name::<TaskSpec>("Task")
        .register_type_with_name::<Resources>("Resources")
        .register_type_with_name::<order::OrderConstraint>("Constraint")
        .register_type_with_name::<JobValue>("Job")
        .register_type_with_name::<UpdateConfig>("UpdateConfig")
        .register_type_with_name::<UpdateStrategy>("UpdateStrategy")
        .register_type_with_name::<HealthCheckConfig>("HealthCheckConfig")
        .register_type_with_name::<HealthChecker>("HealthCheckerConfig")
        .register_type_with_name::<HttpHealthChecker>("HttpHealthChecker")
        .register_type_with_name::<health::ShellHealthChecker>("ShellHealthChecker")
        .register_type_with_name::<LifecycleConfig>("LifecycleConfig")
        .register_type_with_name::<HttpLifecycleConfig>("HttpLifecycleConfig")
        .register_type_with_name::<Announcer>("Announcer")
        .register_type_with_name::<Metadata>("Metadata")
        .register_type_with_name::<SlaPolicy>("SlaPolicy")
        .register_type_with_name::<PartitionPolicy>("PartitionPolicy")
        .register_type_with_name::<Container>("Container")
        .register_type_with_name::<DockerParameter>("Parameter")
        .register_type_with_name::<MesosImage>("MesosImage")
        .register_type_with_name::<Volume>("Volume");
}

/// Registers every object's type name and constructors; problems are recorded in `session`.
pub(crate) fn register(engine: &mut Engine, session: &Arc<Session>) {
    register_types(engine);
    process::register(engine, session);
    resources::register(engine, session);
    order::register(engine, session);
    task::register(engine, session);
    combine::register(engine, session);
    update::register(engine, session);
    health::register(engine, session);
    announce::register(engine, session);
    policy::register(engine, session);
    container::register(engine, session);
    job::register(engine, session);
}

/// A value a script can hold, such as a model type a constructor returns (what Rhai calls a
/// `Variant`, a trait it does not export).
pub(crate) trait DslObject: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> DslObject for T {}

/// One call of a constructor: the engine, where it was called, and the session to record its
/// problems in.
pub(crate) struct Call<'a> {
    engine: &'a Engine,
    session: &'a Session,
    site: Site,
}

impl Call<'_> {
    pub(crate) fn engine(&self) -> &Engine {
        self.engine
    }

    pub(crate) fn session(&self) -> &Session {
        self.session
    }

    pub(crate) fn site(&self) -> &Site {
        &self.site
    }

    /// Records each problem at the call site.
    pub(crate) fn report(&self, problems: impl IntoIterator<Item = String>) {
        for problem in problems {
            self.session.record(&self.site, problem);
        }
    }
}

/// A constructor: reads one argument, normally an object map, into an object.
type Constructor<T> = fn(&Call<'_>, Dynamic) -> T;

/// Registers `constructor` as the one-argument script function `name`.
fn register_constructor<T: DslObject>(
    engine: &mut Engine,
    session: &Arc<Session>,
    name: &'static str,
    constructor: Constructor<T>,
) {
    let session = Arc::clone(session);
    engine.register_fn(name, move |context: NativeCallContext, argument: Dynamic| -> T {
        let call = Call { engine: context.engine(), site: session.site(&context), session: &session };
        constructor(&call, argument)
    });
}

/// A function of several arguments, such as `order(a, b, c)`.
type Function<T> = fn(&Call<'_>, Vec<Dynamic>) -> T;

/// Registers `function` as the script function `name` once per arity in `arities`: Rhai has no
/// variadic functions.
fn register_function<T: DslObject>(
    engine: &mut Engine,
    session: &Arc<Session>,
    name: &'static str,
    arities: RangeInclusive<usize>,
    function: Function<T>,
) {
    for arity in arities {
        let session = Arc::clone(session);
        engine.register_raw_fn(name, vec![TypeId::of::<Dynamic>(); arity], move |context, arguments| {
            let call = Call { engine: context.engine(), site: session.site(&context), session: &session };
            let arguments = arguments.iter().map(|argument| (**argument).clone().flatten()).collect();
            Ok(function(&call, arguments))
        });
    }
}

//! The DSL's objects, one module per family, each registering its constructors with the engine.
//!
//! Every constructor takes one object map (or, if all its fields have defaults, nothing), reads
//! it with a [`fields::FieldReader`] against its [`fields::ObjectSchema`] and returns a model
//! value (or a DSL-only value such as an [`order::OrderConstraint`]). Constructors never fail:
//! they record each problem through the [`Call`], at the field it is about or at their call
//! site, and return a best-effort value whose unreadable parts are valid stand-ins, so
//! evaluation goes on and no problem causes follow-on ones. The schemas also describe each
//! object and function for editors (`crate::definitions`).

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
use std::cell::OnceCell;
use std::ops::RangeInclusive;
use std::sync::Arc;

use atoll_model::config::DockerParameter;
use atoll_model::config::{
    Announcer, Container, HealthCheckConfig, HealthChecker, HttpHealthChecker, HttpLifecycleConfig, LifecycleConfig,
    Logger, MesosImage, Metadata, PartitionPolicy, RotatePolicy, SlaPolicy, UpdateConfig, UpdateStrategy, Volume,
};
use atoll_model::{ProcessSpec, Resources, TaskSpec};
use rhai::{Dynamic, Engine, NativeCallContext};

use crate::literals::{MapLiteral, Place};
use crate::session::{JobId, Session, Site};

pub(crate) use error::ObjectError;
pub(crate) use fields::{FieldProblem, ObjectSchema, Presence};
pub(crate) use job::JobValue;

/// Every object schema.
pub(crate) const SCHEMAS: &[&ObjectSchema] = &[
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

/// The functions that are not object-map constructors.
pub(crate) const FUNCTIONS: &[&FunctionSchema] =
    &[&task::SIMPLE_TASK, &order::ORDER, &combine::COMBINE_TASKS, &combine::CONCAT_TASKS];

/// A function that takes arguments rather than a map of fields, such as `order(a, b, c)`.
#[derive(Debug)]
pub(crate) struct FunctionSchema {
    pub(crate) name: &'static str,
    /// What it does, in a sentence, for editors.
    pub(crate) summary: &'static str,
    /// What it takes, for messages: "a name and a command line".
    pub(crate) takes: &'static str,
    /// How it is written: `SimpleTask(name, command)`.
    pub(crate) form: &'static str,
    /// How many arguments it takes: Rhai has no variadic functions, so it is registered once
    /// per count.
    pub(crate) arities: RangeInclusive<usize>,
    pub(crate) parameters: Parameters,
}

/// A function's parameters, for editors.
#[derive(Debug)]
pub(crate) enum Parameters {
    /// One `name: Type` per parameter.
    Named(&'static [&'static str]),
    /// Any number of the same name, of any type, numbered from 1: `task1`, `task2`, …
    Numbered(&'static str),
}

impl FunctionSchema {
    /// The parameters of the form taking `arity` arguments, as `name: Type` (`?`: any type).
    pub(crate) fn parameters(&self, arity: usize) -> Vec<String> {
        match self.parameters {
            Parameters::Named(names) => names.iter().map(|name| (*name).to_owned()).collect(),
            Parameters::Numbered(name) => (1..=arity).map(|number| format!("{name}{number}: ?")).collect(),
        }
    }
}

/// What a call of the function or constructor `name` that gave `arguments` arguments should
/// have looked like, for a call no registered form matches; `None` for other functions.
pub(crate) fn wrong_call(name: &str, arguments: usize) -> Option<String> {
    let found = match arguments {
        0 => "nothing".to_owned(),
        1 => "1 argument".to_owned(),
        n => format!("{n} arguments"),
    };
    if let Some(schema) = SCHEMAS.iter().find(|schema| schema.name == name) {
        return Some(schema.wrong_shape(found).to_string());
    }
    let function = FUNCTIONS.iter().find(|function| function.name == name)?;
    Some(format!("{name} takes {}: {}, not {found}", function.takes, function.form))
}

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
    /// The job this call makes, once a `Job` or `Service` call has said so.
    job: OnceCell<JobId>,
    /// The map literal written in the call, looked up the first time a field's problem needs it.
    literal: OnceCell<Option<MapLiteral>>,
}

impl<'a> Call<'a> {
    fn new(context: &'a NativeCallContext<'a>, session: &'a Session) -> Call<'a> {
        Call {
            engine: context.engine(),
            session,
            site: session.site(context),
            job: OnceCell::new(),
            literal: OnceCell::new(),
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        self.engine
    }

    pub(crate) fn session(&self) -> &Session {
        self.session
    }

    pub(crate) fn site(&self) -> &Site {
        &self.site
    }

    /// Says this call makes a job: its problems are then that job's own. Returns the job's id.
    pub(crate) fn makes_job(&self) -> JobId {
        *self.job.get_or_init(|| self.session.job_started(&self.site))
    }

    /// Records each problem at the call site.
    pub(crate) fn report(&self, problems: impl IntoIterator<Item = String>) {
        for problem in problems {
            self.session.record(&self.site, self.site.position, self.job.get().copied(), problem);
        }
    }

    /// Records each problem at the key of its field in the map literal the call was given, or at
    /// the call site when the map was not written there or the problem is about the call.
    pub(crate) fn report_fields(&self, problems: Vec<FieldProblem>) {
        for FieldProblem { path, message } in problems {
            let position = self.field_position(&path).unwrap_or(self.site.position);
            self.session.record(&self.site, position, self.job.get().copied(), message);
        }
    }

    fn field_position(&self, path: &[String]) -> Option<rhai::Position> {
        if path.is_empty() {
            return None;
        }
        let literal =
            self.literal.get_or_init(|| self.session.source(&self.site.file)?.map_argument(self.site.position));
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        literal.as_ref()?.locate(&path).and_then(Place::position)
    }
}

/// A constructor: reads the fields of its one argument into an object.
type Constructor<T> = fn(&Call<'_>, fields::FieldReader<'_>) -> T;

/// Registers `constructor` as the script function `schema.name`, taking one object map and, if
/// every field has a default, also nothing.
fn register_constructor<T: DslObject>(
    engine: &mut Engine,
    session: &Arc<Session>,
    schema: &'static ObjectSchema,
    constructor: Constructor<T>,
) {
    let with_fields = Arc::clone(session);
    engine.register_fn(schema.name, move |context: NativeCallContext, argument: Dynamic| -> T {
        let call = Call::new(&context, &with_fields);
        constructor(&call, fields::FieldReader::new(context.engine(), schema, Some(argument)))
    });
    if schema.takes_nothing() {
        let without = Arc::clone(session);
        engine.register_fn(schema.name, move |context: NativeCallContext| -> T {
            let call = Call::new(&context, &without);
            constructor(&call, fields::FieldReader::new(context.engine(), schema, None))
        });
    }
}

/// A function of several arguments, such as `order(a, b, c)`.
type Function<T> = fn(&Call<'_>, Vec<Dynamic>) -> T;

/// Registers `function` as the script function `schema.name` once per arity it takes: Rhai has
/// no variadic functions.
fn register_function<T: DslObject>(
    engine: &mut Engine,
    session: &Arc<Session>,
    schema: &'static FunctionSchema,
    function: Function<T>,
) {
    for arity in schema.arities.clone() {
        let session = Arc::clone(session);
        engine.register_raw_fn(schema.name, vec![TypeId::of::<Dynamic>(); arity], move |context, arguments| {
            let call = Call::new(&context, &session);
            let arguments = arguments.iter().map(|argument| (**argument).clone().flatten()).collect();
            Ok(function(&call, arguments))
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::sandbox;
    use crate::test_support::{diagnostics_of, job_file_with};

    /// Whether `a` and `b` are the same value of type `T`; `None` if either is not a `T`.
    fn same<T: PartialEq + Clone + 'static>(a: &Dynamic, b: &Dynamic) -> Option<bool> {
        Some(a.clone().try_cast::<T>()? == b.clone().try_cast::<T>()?)
    }

    #[test]
    fn a_constructor_whose_fields_all_have_defaults_called_with_nothing_is_called_with_an_empty_map() {
        let session = Arc::new(Session::new("test.rhai", "", BTreeMap::new(), false));
        let engine = sandbox::engine(&session, None);
        let taking_nothing: Vec<&str> =
            SCHEMAS.iter().filter(|schema| schema.takes_nothing()).map(|schema| schema.name).collect();
        assert!(taking_nothing.contains(&"Announcer") && taking_nothing.contains(&"UpdateConfig"));
        for name in taking_nothing {
            let nothing: Dynamic =
                engine.eval(&format!("{name}()")).unwrap_or_else(|error| panic!("{name}(): {error}"));
            let empty: Dynamic = engine.eval(&format!("{name}(#{{}})")).expect("an empty map");
            let equal = same::<Logger>(&nothing, &empty)
                .or_else(|| same::<RotatePolicy>(&nothing, &empty))
                .or_else(|| same::<UpdateConfig>(&nothing, &empty))
                .or_else(|| same::<UpdateStrategy>(&nothing, &empty))
                .or_else(|| same::<HealthCheckConfig>(&nothing, &empty))
                .or_else(|| same::<HttpHealthChecker>(&nothing, &empty))
                .or_else(|| same::<LifecycleConfig>(&nothing, &empty))
                .or_else(|| same::<HttpLifecycleConfig>(&nothing, &empty))
                .or_else(|| same::<Announcer>(&nothing, &empty))
                .or_else(|| same::<PartitionPolicy>(&nothing, &empty))
                .or_else(|| same::<Container>(&nothing, &empty));
            assert_eq!(equal, Some(true), "{name}() is {name}(#{{}})");
        }
        assert!(session.take_log().problems.is_empty());
        let job = crate::test_support::job_with("announce: Announcer(), update_config: UpdateConfig()");
        assert_eq!(job.config.announce, Some(Announcer::default()));
    }

    #[test]
    fn a_call_of_the_wrong_shape_shows_the_form_it_takes_at_the_call() {
        for (call, message) in [
            (
                "Process(\"a\", \"b\")",
                "Process takes one map of fields: Process(#{ name: ..., cmdline: ... }), not 2 arguments",
            ),
            ("Process()", "Process takes one map of fields: Process(#{ name: ..., cmdline: ... }), not nothing"),
            (
                "Resources(1)",
                "Resources takes one map of fields: Resources(#{ cpu: ..., ram: ..., disk: ... }), not an integer",
            ),
            (
                "Announcer(#{}, 2)",
                "Announcer takes one map of fields, or nothing: Announcer(#{ ... }) or Announcer(), not 2 arguments",
            ),
            (
                "HealthCheckerConfig()",
                "HealthCheckerConfig takes one map of fields: HealthCheckerConfig(#{ http: ... }) or \
                 HealthCheckerConfig(#{ shell: ... }), not nothing",
            ),
            (
                "Job(#{}, #{}, #{})",
                "Job takes one map of fields: Job(#{ cluster: ..., role: ..., environment: ..., task: ... }), \
                 not 3 arguments",
            ),
            (
                "SimpleTask(\"a\")",
                "SimpleTask takes a name and a command line: SimpleTask(name, command), not 1 argument",
            ),
            ("order()", "order takes 1 to 16 processes or process names: order(p1, p2, ...), not nothing"),
        ] {
            let source = format!("let jobs = [];\nlet x =  {call};");
            assert_eq!(diagnostics_of(&source), vec![format!("test.rhai:2:10: {message}")], "{call}");
        }
        let inside = job_file_with("announce: Announcer(1)");
        let column = inside.find("Announcer(1)").expect("the call") + 1;
        assert_eq!(
            diagnostics_of(&inside),
            vec![format!(
                "test.rhai:1:{column}: Announcer takes one map of fields, or nothing: Announcer(#{{ ... }}) or \
                 Announcer(), not an integer"
            )]
        );
    }
}

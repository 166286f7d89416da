//! The Rhai engine job files run in: explicit limits (identical in debug and release builds,
//! whose built-in defaults differ), checked also where Rhai does not check them (see
//! `growth`), with a wall-clock deadline as a backstop, no `eval` or `this`, imports
//! only from the job file's folder and Atoll's own modules, silenced `print`/`debug`, strict variables, and the DSL's
//! units and constructors registered globally (so imported modules see them too).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine};

use crate::growth::GrowthGuard;
use crate::imports::JobFolderResolver;
use crate::session::Session;
use crate::{objects, units};

/// Operations a job file may perform (each imported module gets as many again); far above what
/// a real file needs, low enough that an endless loop fails in well under a second.
pub(crate) const MAX_OPERATIONS: u64 = 1_000_000;
/// Nested function calls a job file may make.
pub(crate) const MAX_CALL_LEVELS: usize = 32;
/// Expression nesting at the top level and inside functions.
const MAX_EXPR_DEPTHS: (usize, usize) = (64, 32);
/// The longest string a job file may build, in bytes; the strings in one array or map count
/// together.
pub(crate) const MAX_STRING_BYTES: usize = 1 << 20;
/// The most elements in an array, counting nested arrays.
pub(crate) const MAX_ARRAY_ELEMENTS: usize = 4096;
/// The most entries in an object map, counting nested maps.
pub(crate) const MAX_MAP_ENTRIES: usize = 4096;
/// The most modules one evaluation may import, counting imports inside modules.
pub(crate) const MAX_MODULES: usize = 16;
/// The longest a job file may run, imports included. The limits above are the guard; this is
/// the backstop for work they count too coarsely (each operation on a large nested value).
pub(crate) const DEADLINE: Duration = Duration::from_secs(1);

/// A fresh sandboxed engine with the DSL registered, recording problems in `session` and
/// importing from `import_dir` only (nothing, if `None`). The deadline starts with the first
/// operation, so compiling a large file does not count.
// `on_var` is marked deprecated only to say that its signature may change ("This API is NOT
// deprecated, but it is considered volatile"); the workspace uses rhai 1.27.
#[allow(deprecated)]
pub(crate) fn engine(session: &Arc<Session>, import_dir: Option<&Path>) -> Engine {
    let mut engine = limited_engine();
    let started = OnceLock::new();
    let guard = GrowthGuard::default();
    engine
        .on_progress(move |_| (started.get_or_init(Instant::now).elapsed() > DEADLINE).then_some(Dynamic::UNIT))
        .on_var(move |name, _, context| guard.check(name, &context).map(|()| None))
        .set_module_resolver(JobFolderResolver::new(import_dir, session));
    engine.register_global_module(units::module());
    objects::register(&mut engine, session);
    engine
}

/// An engine with the limits and language restrictions, nothing registered.
fn limited_engine() -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(MAX_EXPR_DEPTHS.0, MAX_EXPR_DEPTHS.1)
        .set_max_string_size(MAX_STRING_BYTES)
        .set_max_array_size(MAX_ARRAY_ELEMENTS)
        .set_max_map_size(MAX_MAP_ENTRIES)
        .set_max_modules(MAX_MODULES)
        .set_strict_variables(true)
        .disable_symbol("eval")
        // Methods' `this` would let a value grow out of the growth guard's sight; job files need
        // no methods.
        .disable_symbol("this")
        .on_print(|_| {})
        .on_debug(|_, _, _| {});
    engine
}

/// An engine that knows the object types' names, for tests of how values are described.
#[cfg(test)]
pub(crate) fn bare_engine() -> Engine {
    let mut engine = limited_engine();
    objects::register_types(&mut engine);
    engine
}

#[cfg(test)]
#[path = "sandbox_tests.rs"]
mod tests;

//! The Rhai engine job files run in: explicit limits (identical in debug and release builds,
//! whose built-in defaults differ), no `eval`, no modules, silenced `print`/`debug`, strict
//! variables, and the DSL's units and constructors registered.

use rhai::Engine;

use crate::{objects, units};

/// Operations a job file may perform; far above what a real file needs, low enough that an
/// endless loop fails in well under a second.
pub(crate) const MAX_OPERATIONS: u64 = 1_000_000;
/// Nested function calls a job file may make.
pub(crate) const MAX_CALL_LEVELS: usize = 32;
/// Expression nesting at the top level and inside functions.
const MAX_EXPR_DEPTHS: (usize, usize) = (64, 32);
/// The longest string a job file may build, in bytes.
pub(crate) const MAX_STRING_BYTES: usize = 1 << 20;
/// The most elements in an array, counting nested arrays.
pub(crate) const MAX_ARRAY_ELEMENTS: usize = 10_000;
/// The most entries in an object map, counting nested maps.
pub(crate) const MAX_MAP_ENTRIES: usize = 10_000;

/// A fresh sandboxed engine with the DSL registered.
pub(crate) fn engine() -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(MAX_EXPR_DEPTHS.0, MAX_EXPR_DEPTHS.1)
        .set_max_string_size(MAX_STRING_BYTES)
        .set_max_array_size(MAX_ARRAY_ELEMENTS)
        .set_max_map_size(MAX_MAP_ENTRIES)
        .set_max_modules(0)
        .set_strict_variables(true)
        .disable_symbol("eval")
        .on_print(|_| {})
        .on_debug(|_, _, _| {});
    engine.register_global_module(units::module());
    objects::register(&mut engine);
    engine
}

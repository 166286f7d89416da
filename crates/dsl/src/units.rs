//! The byte units `MB`, `GB` and `TB` (Aurora's), so a file can say `ram: 512 * MB`.
//!
//! They live in a global module, which script functions see too; the compile-time scope only
//! declares them, so that strict-variables mode accepts the names.

use rhai::{Module, Scope, Shared};

/// Each unit's name and its size in bytes.
pub(crate) const UNITS: [(&str, i64); 3] = [("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40)];

/// The module holding the units as read-only variables, for `Engine::register_global_module`.
pub(crate) fn module() -> Shared<Module> {
    let mut module = Module::new();
    for (name, bytes) in UNITS {
        module.set_var(name, bytes);
    }
    module.into()
}

/// A scope declaring the units as constants, for `Engine::compile_with_scope`.
pub(crate) fn declarations() -> Scope<'static> {
    let mut scope = Scope::new();
    for (name, bytes) in UNITS {
        scope.push_constant(name, bytes);
    }
    scope
}

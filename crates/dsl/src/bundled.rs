//! The modules Atoll ships for job files, `import "atoll/http" as http;`: helpers for common
//! shapes of job, written in the job language itself. Their sources live in `dsl/modules/` at
//! the top of the repository and are compiled into the binary, so a job file imports them by
//! name from anywhere, with no file beside it. Names starting `atoll/` are theirs.

/// The start of every bundled module's name.
pub(crate) const PREFIX: &str = "atoll/";

/// Each bundled module: the name a job file imports it by, and its source.
pub(crate) const MODULES: &[(&str, &str)] = &[
    ("atoll/batch", include_str!("../../../dsl/modules/batch.rhai")),
    ("atoll/http", include_str!("../../../dsl/modules/http.rhai")),
    ("atoll/options", include_str!("../../../dsl/modules/options.rhai")),
];

/// The source of the bundled module `name`, or why there is none.
pub(crate) fn source(name: &str) -> Result<&'static str, String> {
    MODULES.iter().find(|(known, _)| *known == name).map(|(_, source)| *source).ok_or_else(|| {
        let known: Vec<&str> = MODULES.iter().map(|(known, _)| *known).collect();
        format!("cannot import \"{name}\": Atoll ships no such module; it ships {}", known.join(", "))
    })
}

/// The file name diagnostics give the bundled module `name`.
pub(crate) fn shown(name: &str) -> String {
    format!("{name}.rhai")
}

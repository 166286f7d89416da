//! Turns Rhai's parse and evaluation errors into diagnostics: positions become 1-based line
//! and column, sandbox limits get plain-language messages, an error inside a script function is
//! placed where it happened and names the calls that led there, and a job's validation problems
//! become one diagnostic each.

use rhai::{EvalAltResult, ParseError, Position};

use crate::diagnostic::Diagnostic;
use crate::objects::JobProblems;
use crate::sandbox;

/// Rhai's name prefix for closures (`rhai::engine::FN_ANONYMOUS`, which is not public).
const CLOSURE_NAME_PREFIX: &str = "anon$";

/// The diagnostic for a file that does not compile.
pub(crate) fn parse_error(file: &str, error: &ParseError) -> Diagnostic {
    Diagnostic::at(file, error.position(), error.err_type().to_string())
}

/// The diagnostics for a file whose evaluation failed.
pub(crate) fn evaluation_error(file: &str, error: Box<EvalAltResult>) -> Vec<Diagnostic> {
    let mut calls = Vec::new();
    let mut error = error;
    while let EvalAltResult::ErrorInFunctionCall(function, _, inner, call_site) = *error {
        calls.push((function, call_site));
        error = inner;
    }
    let position = error.position();
    // The innermost call comes last in `calls`, and is named first.
    let context: String = calls.iter().rev().map(|(function, call_site)| call_context(function, *call_site)).collect();
    messages(*error).into_iter().map(|message| Diagnostic::at(file, position, format!("{message}{context}"))).collect()
}

fn call_context(function: &str, call_site: Position) -> String {
    let place = match (call_site.line(), call_site.position()) {
        (Some(line), column) => format!(" called at {line}:{}", column.unwrap_or(1)),
        (None, _) => String::new(),
    };
    if function.starts_with(CLOSURE_NAME_PREFIX) {
        format!(" (in a closure{place})")
    } else {
        format!(" (in function '{function}'{place})")
    }
}

/// What went wrong, without position: usually one message, one per problem for an invalid job.
fn messages(error: EvalAltResult) -> Vec<String> {
    match error {
        EvalAltResult::ErrorRuntime(value, position) => match value.try_cast_result::<JobProblems>() {
            Ok(JobProblems(problems)) => problems,
            Err(value) if value.is_string() => vec![value.to_string()],
            Err(value) => messages_of_other(EvalAltResult::ErrorRuntime(value, position)),
        },
        EvalAltResult::ErrorTooManyOperations(_) => vec![format!(
            "the job file ran too long: more than {} operations (is there an endless loop?)",
            sandbox::MAX_OPERATIONS
        )],
        EvalAltResult::ErrorStackOverflow(_) => vec![format!(
            "the job file nests function calls too deeply: more than {} levels (is there endless recursion?)",
            sandbox::MAX_CALL_LEVELS
        )],
        EvalAltResult::ErrorDataTooLarge(what, _) => vec![format!("the job file built {}", too_large(&what))],
        other => messages_of_other(other),
    }
}

fn messages_of_other(mut error: EvalAltResult) -> Vec<String> {
    error.set_position(Position::NONE);
    vec![error.to_string()]
}

/// Describes an oversized value from the name Rhai's size check gives it.
fn too_large(what: &str) -> String {
    match what {
        "Length of string" => format!("a string longer than {} bytes", sandbox::MAX_STRING_BYTES),
        "Size of array/BLOB" => {
            format!("an array with more than {} elements (counting nested arrays)", sandbox::MAX_ARRAY_ELEMENTS)
        }
        "Size of object map" => {
            format!("an object map with more than {} entries (counting nested maps)", sandbox::MAX_MAP_ENTRIES)
        }
        other => format!("a value too large: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::test_support::diagnostics_of;

    /// Limits must trip fast even in a debug build.
    const FAST: Duration = Duration::from_secs(2);

    #[test]
    fn a_parse_error_has_its_position() {
        assert_eq!(diagnostics_of("let jobs = [];\nlet x = ;"), vec!["test.rhai:2:9: Unexpected ';'"]);
    }

    #[test]
    fn eval_is_disabled() {
        let diagnostics = diagnostics_of("let jobs = [];\neval(\"1\");");
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].starts_with("test.rhai:2:1: "), "{diagnostics:?}");
        assert!(diagnostics[0].contains("'eval' is disabled"), "{diagnostics:?}");
    }

    #[test]
    fn an_endless_loop_stops_quickly_with_a_clear_message() {
        let started = Instant::now();
        let diagnostics = diagnostics_of("let jobs = [];\nloop {}");
        assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].starts_with("test.rhai:2:"), "{diagnostics:?}");
        assert!(diagnostics[0].contains("the job file ran too long: more than 1000000 operations"), "{diagnostics:?}");
    }

    #[test]
    fn a_huge_string_stops_quickly_with_a_clear_message() {
        let started = Instant::now();
        let diagnostics = diagnostics_of("let s = \"x\";\nloop { s += s; }");
        assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
        assert_eq!(diagnostics, vec!["test.rhai:2:10: the job file built a string longer than 1048576 bytes"]);
    }

    #[test]
    fn a_huge_array_is_refused_before_it_is_allocated() {
        let started = Instant::now();
        let diagnostics = diagnostics_of("let a = [];\na.pad(1_000_000_000, 0);");
        assert!(started.elapsed() < FAST, "took {:?}", started.elapsed());
        assert_eq!(
            diagnostics,
            vec!["test.rhai:2:3: the job file built an array with more than 10000 elements (counting nested arrays)"]
        );
    }

    #[test]
    fn endless_recursion_is_a_stack_overflow() {
        let diagnostics = diagnostics_of("fn f(x) { f(x + 1) }\nf(0);");
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].contains("nests function calls too deeply: more than 32 levels"), "{diagnostics:?}");
    }

    #[test]
    fn an_error_in_a_function_is_placed_inside_it_and_names_the_calls() {
        let source =
            "fn web(name) {\n    Process(#{ name: name })\n}\nfn make() { web(\"w\") }\nlet jobs = [];\nmake();";
        assert_eq!(
            diagnostics_of(source),
            vec![
                "test.rhai:2:5: Process is missing required field 'cmdline' \
                 (in function 'web' called at 4:13) (in function 'make' called at 6:1)"
            ]
        );
    }

    #[test]
    fn an_error_in_a_closure_says_so() {
        let source = "let jobs = [];\nlet names = [\"a\", 2];\nlet processes = names.map(|name| Process(#{ name: name, cmdline: \"x\" }));";
        assert_eq!(
            diagnostics_of(source),
            vec![
                "test.rhai:3:34: Process field 'name' must be a string, not an integer \
                 (in a closure called at 3:23) (in function 'map' called at 3:23)"
            ]
        );
    }

    #[test]
    fn a_thrown_string_is_its_message() {
        assert_eq!(
            diagnostics_of("let jobs = [];\nthrow \"no cluster configured\";"),
            vec!["test.rhai:2:1: no cluster configured"]
        );
    }
}

//! Turns Rhai's parse and evaluation errors into diagnostics: positions become 1-based line
//! and column in the right file (an imported module's, for an error inside one), sandbox limits
//! get plain-language messages, and an error inside a script function or module is placed where
//! it happened and names the calls and imports that led there.

use rhai::{EvalAltResult, ParseError, Position};

use crate::diagnostic::Diagnostic;
use crate::{objects, sandbox};

/// Rhai's name prefix for closures (`rhai::engine::FN_ANONYMOUS`, which is not public).
const CLOSURE_NAME_PREFIX: &str = "anon$";

/// The diagnostic for a file that does not compile.
pub(crate) fn parse_error(file: &str, error: &ParseError) -> Diagnostic {
    Diagnostic::at(file, error.position(), error.err_type().to_string())
}

/// The diagnostic for a file whose evaluation failed (`file` is the main file).
pub(crate) fn evaluation_error(file: &str, error: Box<EvalAltResult>) -> Diagnostic {
    let mut frames = Vec::new();
    let mut current = file.to_owned();
    let mut error = error;
    let innermost = loop {
        match *error {
            EvalAltResult::ErrorInFunctionCall(function, source, inner, call_site) => {
                let name = if function.starts_with(CLOSURE_NAME_PREFIX) {
                    "in a closure".to_owned()
                } else {
                    format!("in function '{function}'")
                };
                frames.push((name, "called", current.clone(), call_site));
                if !source.is_empty() {
                    current = source;
                }
                error = inner;
            }
            EvalAltResult::ErrorInModule(module_file, inner, import_site) => {
                frames.push(("in a module".to_owned(), "imported", current.clone(), import_site));
                current = module_file;
                error = inner;
            }
            other => break other,
        }
    };
    let position = innermost.position();
    // The innermost frame comes last in `frames`, and is named first.
    let context: String = frames
        .iter()
        .rev()
        .map(|(what, verb, frame_file, site)| match (site.line(), site.position()) {
            (Some(line), column) if *frame_file == current => {
                format!(" ({what} {verb} at {line}:{})", column.unwrap_or(1))
            }
            (Some(line), column) => format!(" ({what} {verb} at {frame_file}:{line}:{})", column.unwrap_or(1)),
            (None, _) => format!(" ({what})"),
        })
        .collect();
    Diagnostic::at(&current, position, format!("{}{context}", message(innermost)))
}

/// What went wrong, without position.
fn message(error: EvalAltResult) -> String {
    if let EvalAltResult::ErrorFunctionNotFound(signature, _) = &error
        && let Some(message) = wrong_call(signature)
    {
        return message;
    }
    match error {
        EvalAltResult::ErrorRuntime(value, _) if value.is_string() => value.to_string(),
        EvalAltResult::ErrorParsing(kind, _) => kind.to_string(),
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "the job file ran too long: more than {} operations (is there an endless loop?)",
            sandbox::MAX_OPERATIONS
        ),
        EvalAltResult::ErrorTerminated(..) => format!(
            "the job file ran too long: more than {} s (is there an endless loop?)",
            sandbox::DEADLINE.as_secs()
        ),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "the job file nests function calls too deeply: more than {} levels (is there endless recursion?)",
            sandbox::MAX_CALL_LEVELS
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => format!("the job file built {}", too_large(&what)),
        mut other => {
            other.set_position(Position::NONE);
            other.to_string()
        }
    }
}

/// What a call of a constructor or function of the DSL should look like, from the signature
/// Rhai reports for a call no registered form matches: `Process (i64, i64)`.
fn wrong_call(signature: &str) -> Option<String> {
    let (name, arguments) = signature.split_once(" (")?;
    let arguments = arguments.strip_suffix(')')?;
    // Types are separated by ", "; none contains one ("&str | ImmutableString | String").
    let count = if arguments.is_empty() { 0 } else { arguments.split(", ").count() };
    objects::wrong_call(name, count)
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
        crate::growth::NESTING => {
            format!("a value with arrays and maps nested more than {} deep", crate::growth::MAX_NESTING)
        }
        other => format!("a value too large: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::diagnostics_of;

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
    fn an_error_in_a_function_is_placed_inside_it_and_names_the_calls() {
        let source = "fn web(name) {\n    throw \"no \" + name;\n}\nfn make() { web(\"w\") }\nlet jobs = [];\nmake();";
        assert_eq!(
            diagnostics_of(source),
            vec!["test.rhai:2:5: no w (in function 'web' called at 4:13) (in function 'make' called at 6:1)"]
        );
    }

    #[test]
    fn a_constructor_problem_in_a_function_is_placed_inside_it() {
        let source = "fn web(name) {\n    Process(#{ name: name })\n}\nlet jobs = [];\nweb(\"a\");\nweb(\"b\");";
        assert_eq!(diagnostics_of(source), vec!["test.rhai:2:5: Process is missing required field 'cmdline'"]);
    }

    #[test]
    fn an_error_in_a_closure_says_so() {
        let source = "let jobs = [];\nlet names = [\"a\", 2];\nlet lengths = names.map(|name| name.len());";
        let diagnostics = diagnostics_of(source);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0].starts_with("test.rhai:3:37: Function not found: len (i64)"), "{diagnostics:?}");
        assert!(
            diagnostics[0].ends_with("(in a closure called at 3:21) (in function 'map' called at 3:21)"),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn a_thrown_string_is_its_message() {
        assert_eq!(
            diagnostics_of("let jobs = [];\nthrow \"no cluster configured\";"),
            vec!["test.rhai:2:1: no cluster configured"]
        );
    }

    #[test]
    fn an_aborting_error_is_reported_with_the_problems_found_before_it() {
        let source = "let p = Process(#{ name: \"p\" });\nlet x = 1 + \"a\" - 1;\nlet jobs = [];";
        let diagnostics = diagnostics_of(source);
        assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
        assert_eq!(diagnostics[0], "test.rhai:1:9: Process is missing required field 'cmdline'");
        assert!(diagnostics[1].starts_with("test.rhai:2:"), "{diagnostics:?}");
    }
}

//! One problem in a job file, located by line and column.

use rhai::Position;

/// One problem in a job file, printed as `FILE:LINE:COL: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct Diagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at a Rhai position; an unknown line or column counts as 1.
    pub(crate) fn at(file: &str, position: Position, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_owned(),
            line: position.line().unwrap_or(1),
            column: position.position().unwrap_or(1),
            message: message.into(),
        }
    }

    /// A diagnostic about the file as a whole, at its start.
    pub(crate) fn at_start(file: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(file, Position::NONE, message)
    }
}

/// `diagnostics` in file order: the main file's first, then each imported file's by name; by
/// line and column within a file; several at one place in the order found. A diagnostic found
/// twice (a constructor called in a loop) is kept once.
pub(crate) fn in_file_order(diagnostics: Vec<Diagnostic>, main_file: &str) -> Vec<Diagnostic> {
    let mut unique: Vec<Diagnostic> = Vec::with_capacity(diagnostics.len());
    for diagnostic in diagnostics {
        if !unique.contains(&diagnostic) {
            unique.push(diagnostic);
        }
    }
    unique.sort_by(|a, b| {
        let place = |d: &Diagnostic| (d.file != main_file, d.file.clone(), d.line, d.column);
        place(a).cmp(&place(b))
    });
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_file_line_column_message() {
        let diagnostic =
            Diagnostic::at("jobs.rhai", Position::new(3, 7), "Process is missing required field 'cmdline'");
        assert_eq!(diagnostic.to_string(), "jobs.rhai:3:7: Process is missing required field 'cmdline'");
    }

    #[test]
    fn diagnostics_are_put_in_file_order_once_each() {
        let at = |file: &str, line, column, message: &str| Diagnostic::at(file, Position::new(line, column), message);
        let found = vec![
            at("main.rhai", 5, 1, "late"),
            at("lib.rhai", 1, 1, "in the library"),
            at("main.rhai", 2, 9, "first at 2:9"),
            at("main.rhai", 2, 9, "second at 2:9"),
            at("main.rhai", 5, 1, "late"),
            at("a.rhai", 3, 1, "in another library"),
        ];
        let messages: Vec<String> = in_file_order(found, "main.rhai")
            .into_iter()
            .map(|d| format!("{}:{} {}", d.file, d.line, d.message))
            .collect();
        assert_eq!(
            messages,
            vec![
                "main.rhai:2 first at 2:9",
                "main.rhai:2 second at 2:9",
                "main.rhai:5 late",
                "a.rhai:3 in another library",
                "lib.rhai:1 in the library"
            ]
        );
    }

    #[test]
    fn an_unknown_position_is_the_start_of_the_file() {
        let diagnostic = Diagnostic::at_start("jobs.rhai", "no jobs");
        assert_eq!((diagnostic.line, diagnostic.column), (1, 1));
        let line_only = Diagnostic::at("jobs.rhai", Position::new(4, 0), "x");
        assert_eq!((line_only.line, line_only.column), (4, 1));
    }
}

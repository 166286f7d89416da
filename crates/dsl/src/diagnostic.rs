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
    fn an_unknown_position_is_the_start_of_the_file() {
        let diagnostic = Diagnostic::at_start("jobs.rhai", "no jobs");
        assert_eq!((diagnostic.line, diagnostic.column), (1, 1));
        let line_only = Diagnostic::at("jobs.rhai", Position::new(4, 0), "x");
        assert_eq!((line_only.line, line_only.column), (4, 1));
    }
}

//! One evaluation's shared state: the file being evaluated, the `--bind` bindings, and the
//! diagnostics constructors record as they go, so that a file's problems are all reported
//! rather than only the first.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rhai::{NativeCallContext, Position};

use crate::diagnostic::Diagnostic;

/// The state constructors share during one evaluation.
#[derive(Debug)]
pub(crate) struct Session {
    /// The name of the file being evaluated, as diagnostics print it.
    main_file: String,
    /// `--bind KEY=VALUE` bindings.
    bindings: BTreeMap<String, String>,
    diagnostics: Mutex<Vec<Diagnostic>>,
    /// How many stand-in names have been handed out, to keep them unique.
    stand_ins: AtomicUsize,
}

impl Session {
    pub(crate) fn new(main_file: &str, bindings: BTreeMap<String, String>) -> Session {
        Session {
            main_file: main_file.to_owned(),
            bindings,
            diagnostics: Mutex::new(Vec::new()),
            stand_ins: AtomicUsize::new(0),
        }
    }

    pub(crate) fn bindings(&self) -> &BTreeMap<String, String> {
        &self.bindings
    }

    /// Where the native function `context` belongs to was called from: the file whose code made
    /// the call (an imported module's, inside one) and the position in it.
    pub(crate) fn site(&self, context: &NativeCallContext<'_>) -> Site {
        // The innermost script-function namespace is the one whose code is running: the main
        // file's, or an imported module's (whose id is its file name).
        let file = context.iter_namespaces().last().and_then(|namespace| namespace.id()).or(context.call_source());
        Site { file: file.unwrap_or(&self.main_file).to_owned(), position: context.call_position() }
    }

    /// Records one problem at `site`.
    pub(crate) fn record(&self, site: &Site, message: String) {
        let diagnostic = Diagnostic::at(&site.file, site.position, message);
        self.diagnostics.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(diagnostic);
    }

    /// A name for an object whose own name is missing or wrong; the file has a diagnostic then,
    /// so the name is never seen outside it. Unique, so that it causes no follow-on problems such
    /// as duplicate process names, and valid wherever a name goes (a job key, a file name).
    pub(crate) fn stand_in(&self, what: &str) -> String {
        let number = self.stand_ins.fetch_add(1, Ordering::Relaxed) + 1;
        format!("unnamed-{what}-{number}")
    }

    /// Every diagnostic recorded so far.
    pub(crate) fn take_diagnostics(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *self.diagnostics.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Where a constructor was called: a file and a position in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Site {
    pub(crate) file: String,
    pub(crate) position: Position,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let diagnostic = Diagnostic::at(&self.file, self.position, "");
        write!(f, "{}:{}:{}", diagnostic.file, diagnostic.line, diagnostic.column)
    }
}

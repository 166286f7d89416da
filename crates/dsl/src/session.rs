//! One evaluation's shared state: the file being evaluated, the `--bind` bindings, the text of
//! every file evaluated (the job file and its modules, to place a field's problem at its key),
//! and the log of what constructors found as they went: every problem, in order, and every job
//! made, so that a file's problems are all reported and each can be told apart by job.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rhai::{NativeCallContext, Position};

use crate::diagnostic::Diagnostic;
use crate::literals::SourceText;

/// Identifies one call of `Job` or `Service` in an evaluation.
pub(crate) type JobId = usize;

/// The state constructors share during one evaluation.
#[derive(Debug)]
pub(crate) struct Session {
    /// The name of the file being evaluated, as diagnostics print it.
    main_file: String,
    /// `--bind KEY=VALUE` bindings.
    bindings: BTreeMap<String, String>,
    /// Whether a reference no binding resolves is left as written rather than an error.
    unbound_allowed: bool,
    /// The text of each file evaluated so far, by the name diagnostics give it.
    sources: Mutex<BTreeMap<String, Arc<SourceText>>>,
    log: Mutex<Log>,
    /// How many stand-in names have been handed out, to keep them unique.
    stand_ins: AtomicUsize,
}

/// What constructors recorded, in the order they did.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) problems: Vec<Problem>,
    pub(crate) jobs: Vec<JobMade>,
}

/// One problem a constructor recorded.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) diagnostic: Diagnostic,
    /// The job whose own `Job`/`Service` call recorded it; `None` for every other constructor.
    pub(crate) job: Option<JobId>,
}

/// One call of `Job` or `Service`.
#[derive(Debug)]
pub(crate) struct JobMade {
    pub(crate) id: JobId,
    pub(crate) site: Site,
    /// How many problems had been recorded when the call started: the ones its arguments'
    /// constructors recorded come before.
    pub(crate) problems_before: usize,
}

impl Session {
    /// A session for the file named `main_file`, whose text is `source`.
    pub(crate) fn new(
        main_file: &str,
        source: &str,
        bindings: BTreeMap<String, String>,
        unbound_allowed: bool,
    ) -> Session {
        let session = Session {
            main_file: main_file.to_owned(),
            bindings,
            unbound_allowed,
            sources: Mutex::new(BTreeMap::new()),
            log: Mutex::new(Log::default()),
            stand_ins: AtomicUsize::new(0),
        };
        session.add_source(main_file, source);
        session
    }

    pub(crate) fn bindings(&self) -> &BTreeMap<String, String> {
        &self.bindings
    }

    pub(crate) fn unbound_allowed(&self) -> bool {
        self.unbound_allowed
    }

    /// Keeps the text of a file about to be evaluated (an imported module), named as its
    /// diagnostics name it.
    pub(crate) fn add_source(&self, file: &str, text: &str) {
        lock(&self.sources).insert(file.to_owned(), Arc::new(SourceText::new(text)));
    }

    /// The text of the file named `file`, if it was evaluated.
    pub(crate) fn source(&self, file: &str) -> Option<Arc<SourceText>> {
        lock(&self.sources).get(file).cloned()
    }

    /// Where the native function `context` belongs to was called from: the file whose code made
    /// the call (an imported module's, inside one) and the position in it.
    pub(crate) fn site(&self, context: &NativeCallContext<'_>) -> Site {
        // The innermost script-function namespace is the one whose code is running: the main
        // file's, or an imported module's (whose id is its file name).
        let file = context.iter_namespaces().last().and_then(|namespace| namespace.id()).or(context.call_source());
        Site { file: file.unwrap_or(&self.main_file).to_owned(), position: context.call_position() }
    }

    /// Records one problem at `position` in `site`'s file, found by the call at `site` (by the
    /// `Job` or `Service` call `job`, if it is one).
    pub(crate) fn record(&self, site: &Site, position: Position, job: Option<JobId>, message: String) {
        let diagnostic = Diagnostic::at(&site.file, position, message);
        lock(&self.log).problems.push(Problem { diagnostic, job });
    }

    /// Notes that a `Job` or `Service` call at `site` has started, and names it.
    pub(crate) fn job_started(&self, site: &Site) -> JobId {
        let mut log = lock(&self.log);
        let id = log.jobs.len();
        let problems_before = log.problems.len();
        log.jobs.push(JobMade { id, site: site.clone(), problems_before });
        id
    }

    /// A name for an object whose own name is missing or wrong; the file has a diagnostic then,
    /// so the name is never seen outside it. Unique, so that it causes no follow-on problems such
    /// as duplicate process names, and valid wherever a name goes (a job key, a file name).
    pub(crate) fn stand_in(&self, what: &str) -> String {
        let number = self.stand_ins.fetch_add(1, Ordering::Relaxed) + 1;
        format!("unnamed-{what}-{number}")
    }

    /// Everything recorded so far.
    pub(crate) fn take_log(&self) -> Log {
        std::mem::take(&mut *lock(&self.log))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a constructor was called: a file and a position in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Site {
    pub(crate) file: String,
    pub(crate) position: Position,
}

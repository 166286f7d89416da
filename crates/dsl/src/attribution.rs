//! Which job each problem of a file belongs to, so that one bad job does not keep the others
//! from being created.
//!
//! A problem belongs to a job when it is certainly that job's and no other's:
//! - a problem its own `Job` or `Service` call recorded (its fields, templates, constraints and
//!   [`JobSpec::validate`](atoll_model::JobSpec::validate)'s checks);
//! - a problem another constructor recorded while the arguments of that call were evaluated:
//!   one written inside the call's parentheses, in the same file, and recorded before the call
//!   (for a call that runs more than once, in a loop or a function, before that run of it and
//!   after the one before). Such an object was built for that job alone.
//!
//! Every other problem is the file's: one in an object built elsewhere (a `Process` in a
//! variable, which more than one job may share), in a job the file does not list in `jobs`, or
//! in a `jobs` list that is wrong.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::Diagnostic;
use crate::literals::Place;
use crate::session::{JobId, JobMade, Log, Problem, Session};

/// A file's problems, told apart by job.
#[derive(Debug, Default)]
pub(crate) struct Attribution {
    /// The problems of each listed job that has any.
    pub(crate) by_job: BTreeMap<JobId, Vec<Diagnostic>>,
    /// The problems that belong to no listed job.
    pub(crate) file: Vec<Diagnostic>,
}

/// Where a `Job` or `Service` call's text is.
struct Span<'a> {
    job: &'a JobMade,
    start: Place,
    end: Place,
}

/// Tells `log`'s problems apart by job; `listed` are the jobs the file's `jobs` list holds.
pub(crate) fn attribute(log: Log, listed: &BTreeSet<JobId>, session: &Session) -> Attribution {
    let spans: Vec<Span<'_>> = log
        .jobs
        .iter()
        .filter_map(|job| {
            let start = Place::of(job.site.position)?;
            let end = session.source(&job.site.file)?.call_end(job.site.position)?;
            Some(Span { job, start, end })
        })
        .collect();
    let mut attribution = Attribution::default();
    for (index, Problem { diagnostic, job }) in log.problems.into_iter().enumerate() {
        let owner = job.or_else(|| made_for(&spans, index, &diagnostic));
        match owner.filter(|owner| listed.contains(owner)) {
            Some(owner) => attribution.by_job.entry(owner).or_default().push(diagnostic),
            None => attribution.file.push(diagnostic),
        }
    }
    attribution
}

/// The job whose call's arguments the `index`th problem, at `diagnostic`, was recorded in: the
/// innermost call written around it whose next run came after it.
fn made_for(spans: &[Span<'_>], index: usize, diagnostic: &Diagnostic) -> Option<JobId> {
    let place = Place { line: diagnostic.line, column: diagnostic.column };
    spans
        .iter()
        .filter(|span| span.job.site.file == diagnostic.file && span.start < place && place < span.end)
        .filter(|span| span.job.problems_before > index)
        .min_by_key(|span| (Reverse(span.start), span.job.problems_before))
        .map(|span| span.job.id)
}

#[cfg(test)]
#[path = "attribution_tests.rs"]
mod tests;

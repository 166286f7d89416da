//! Loading job files: read, evaluate through the job language, and pick a job by key, each
//! job judged by its own problems.

use std::collections::BTreeMap;
use std::path::Path;

use atoll_dsl::{Diagnostic, EvalOptions, EvaluatedJob};
use atoll_model::{JobKey, JobSpec};

use crate::args::Bindings;
use crate::exit::{CliError, ExitCode};

/// Evaluates a job file with `--bind` bindings, each job with its own problems; with
/// `unbound_allowed`, references no binding resolves are left as written (for listing keys).
/// A problem of the file as a whole (its syntax, an object shared between jobs) is the error,
/// every problem one `FILE:LINE:COL: message` line.
pub fn evaluate(path: &Path, bindings: &Bindings, unbound_allowed: bool) -> Result<Vec<EvaluatedJob>, CliError> {
    readable(path)?;
    let options = EvalOptions {
        bindings: bindings.bind.iter().cloned().collect::<BTreeMap<String, String>>(),
        import_dir: None,
        unbound_allowed,
    };
    atoll_dsl::evaluate_jobs(path, &options).map_err(|diagnostics| invalid(path, &diagnostics))
}

/// Every job of a file, each without a problem of its own (for `atoll dev`, which submits
/// them all).
pub fn load(path: &Path, bindings: &Bindings) -> Result<Vec<JobSpec>, CliError> {
    let jobs = evaluate(path, bindings, false)?;
    let problems: Vec<Diagnostic> = jobs.iter().flat_map(|j| j.problems.iter().cloned()).collect();
    if !problems.is_empty() {
        return Err(invalid(path, &problems));
    }
    Ok(jobs.into_iter().map(|j| j.spec).collect())
}

/// The job `key` of a file: refused for its own problems or the file's, never for another
/// job's (as Aurora's scheduler judged each job submitted).
pub fn job(path: &Path, bindings: &Bindings, key: &JobKey) -> Result<JobSpec, CliError> {
    let jobs = evaluate(path, bindings, false)?;
    let defined: Vec<String> = jobs.iter().map(|j| j.spec.key.to_string()).collect();
    let mut matching: Vec<EvaluatedJob> = jobs.into_iter().filter(|j| j.spec.key == *key).collect();
    match matching.len() {
        1 => {
            let chosen = matching.remove(0);
            if chosen.problems.is_empty() { Ok(chosen.spec) } else { Err(invalid(path, &chosen.problems)) }
        }
        0 => Err(CliError::new(
            ExitCode::InvalidConfig,
            format!(
                "job file {} defines no job {key}; it defines: {}",
                path.display(),
                if defined.is_empty() { "nothing".to_owned() } else { defined.join(", ") }
            ),
        )),
        n => Err(CliError::new(
            ExitCode::InvalidConfig,
            format!("job file {} defines job {key} {n} times; give each job its own key", path.display()),
        )),
    }
}

fn invalid(path: &Path, diagnostics: &[Diagnostic]) -> CliError {
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    CliError::new(ExitCode::InvalidConfig, format!("job file {} is invalid:\n{}", path.display(), lines.join("\n")))
}

/// Refuses a job file that cannot be read, saying so plainly (exit 3, as a broken file).
fn readable(path: &Path) -> Result<(), CliError> {
    let plain = |detail: String| {
        CliError::new(ExitCode::InvalidConfig, format!("cannot read job file {}: {detail}", path.display()))
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(plain("it is a directory; name a .rhai file".to_owned())),
        Ok(_) => std::fs::File::open(path).map(drop).map_err(|e| plain(e.to_string())),
        Err(e) => Err(plain(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_unreadable_file_is_said_plainly() {
        let missing = load(Path::new("/nonexistent/web.rhai"), &Bindings::default()).unwrap_err();
        assert_eq!(missing.code, ExitCode::InvalidConfig);
        assert_eq!(
            missing.message,
            "cannot read job file /nonexistent/web.rhai: No such file or directory (os error 2)"
        );
        let folder = load(&std::env::temp_dir(), &Bindings::default()).unwrap_err();
        assert!(folder.message.ends_with("it is a directory; name a .rhai file"), "{}", folder.message);
    }
}

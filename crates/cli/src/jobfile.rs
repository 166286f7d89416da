//! Loading job files: read, evaluate through the job language, and pick a job by key.

use std::collections::BTreeMap;
use std::path::Path;

use atoll_model::{JobKey, JobSpec};

use crate::args::Bindings;
use crate::exit::{CliError, ExitCode};

/// Evaluates a job file with `--bind` bindings. Every problem found is in the error, one
/// `FILE:LINE:COL: message` per line.
pub fn load(path: &Path, bindings: &Bindings) -> Result<Vec<JobSpec>, CliError> {
    let shown = path.display().to_string();
    readable(path)?;
    let bindings: BTreeMap<String, String> = bindings.bind.iter().cloned().collect();
    atoll_dsl::evaluate_file(path, &bindings).map_err(|diagnostics| {
        let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        CliError::new(ExitCode::InvalidConfig, format!("job file {shown} is invalid:\n{}", lines.join("\n")))
    })
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

/// Picks the job with `key` out of a file's jobs.
pub fn select(path: &Path, jobs: Vec<JobSpec>, key: &JobKey) -> Result<JobSpec, CliError> {
    let defined: Vec<String> = jobs.iter().map(|j| j.key.to_string()).collect();
    let mut matching: Vec<JobSpec> = jobs.into_iter().filter(|j| j.key == *key).collect();
    match matching.len() {
        1 => Ok(matching.remove(0)),
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

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
    let bindings: BTreeMap<String, String> = bindings.bind.iter().cloned().collect();
    atoll_dsl::evaluate_file(path, &bindings).map_err(|diagnostics| {
        let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        CliError::new(ExitCode::InvalidConfig, format!("job file {shown} is invalid:\n{}", lines.join("\n")))
    })
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

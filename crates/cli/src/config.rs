//! `atoll config …`: job files on their own, no scheduler needed.

use serde_json::{Value, json};

use crate::args::ConfigCommand;
use crate::exit::{CliError, CliResult, ExitCode};
use crate::jobfile;

pub fn run(command: ConfigCommand) -> CliResult {
    match command {
        ConfigCommand::List { file, json, bindings } => {
            // Keys are listed before binding, as Aurora lists them: references no --bind
            // resolves are left as written.
            let jobs = jobfile::evaluate(&file, &bindings, true)?;
            let keys: Vec<String> = jobs.iter().map(|j| j.spec.key.to_string()).collect();
            let problems: serde_json::Map<String, Value> = jobs
                .iter()
                .filter(|j| !j.problems.is_empty())
                .map(|j| {
                    (j.spec.key.to_string(), json!(j.problems.iter().map(ToString::to_string).collect::<Vec<_>>()))
                })
                .collect();
            if json {
                println!("{}", json!({ "file": file.display().to_string(), "jobs": keys, "problems": problems }));
            } else {
                for job in &jobs {
                    println!("{}", job.spec.key);
                    for problem in &job.problems {
                        println!("  {problem}");
                    }
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(CliError::new(
                    ExitCode::InvalidConfig,
                    format!("{} job(s) of {} have problems", problems.len(), file.display()),
                ))
            }
        }
    }
}

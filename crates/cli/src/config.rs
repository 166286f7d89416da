//! `atoll config …`: job files on their own, no scheduler needed.

use serde_json::json;

use crate::args::ConfigCommand;
use crate::exit::CliResult;
use crate::jobfile;

pub fn run(command: ConfigCommand) -> CliResult {
    match command {
        ConfigCommand::List { file, json, bindings } => {
            let keys: Vec<String> = jobfile::load(&file, &bindings)?.iter().map(|j| j.key.to_string()).collect();
            if json {
                println!("{}", json!({ "file": file.display().to_string(), "jobs": keys }));
            } else {
                for key in keys {
                    println!("{key}");
                }
            }
            Ok(())
        }
    }
}

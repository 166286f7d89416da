//! `atoll completions SHELL` and `atoll man`: shell completions and the manual page, generated
//! from the same clap definitions as `--help`, so they never drift from the command line.

use clap::CommandFactory;

use crate::args::Cli;
use crate::exit::{CliError, CliResult};

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: clap_complete::Shell) -> CliResult {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "atoll", &mut std::io::stdout());
    Ok(())
}

/// Writes the manual page, in roff, to standard output.
pub fn man_page() -> CliResult {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| CliError::failed(format!("cannot render the manual page: {e}")))?;
    std::io::Write::write_all(&mut std::io::stdout(), &page)
        .map_err(|e| CliError::failed(format!("cannot write the manual page: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_the_manual_cover_every_command() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "atoll", &mut script);
            let script = String::from_utf8(script).expect("utf-8");
            for word in ["update", "diff", "plan", "rollback", "scheduler", "cluster", "completions"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page).expect("render");
        let page = String::from_utf8(page).expect("utf-8");
        assert!(page.starts_with(".ie") || page.contains(".TH atoll"), "{}", &page[..200.min(page.len())]);
        assert!(page.contains("update") && page.contains("scheduler"), "the subcommands are listed");
    }
}

//! The agent's incarnation: a random id kept in its work directory (`WORK_DIR/agent.json`),
//! made at the agent's first start and read at every later one. It tells the scheduler an agent
//! that restarted (the same incarnation) from another agent started under the same id (another
//! incarnation), whose registration would take over the first one's tasks.
//!
//! The file is versioned JSON (`{"format": 1, "incarnation": "…"}`), written to a temporary
//! file, synced and renamed into place, so a crash leaves the old file or the new one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The format this agent writes; it reads this one and every older one.
const FORMAT: u32 = 1;

/// The file's name in the work directory.
pub const FILE_NAME: &str = "agent.json";

#[derive(Debug, Serialize, Deserialize)]
struct AgentFile {
    format: u32,
    incarnation: String,
}

/// Why the incarnation could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum IncarnationError {
    #[error("cannot read {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error(
        "{path} is not an agent file this agent understands ({detail}); move it aside to start \
         this work directory as a new agent"
    )]
    Invalid { path: PathBuf, detail: String },
    #[error("cannot write {path}: {detail}")]
    Write { path: PathBuf, detail: String },
}

/// The incarnation kept in `work_dir`, made (with `fresh`) and kept there when there is none.
pub fn load_or_create(
    work_dir: &Path,
    fresh: impl FnOnce() -> std::io::Result<String>,
) -> Result<String, IncarnationError> {
    let path = work_dir.join(FILE_NAME);
    match std::fs::read(&path) {
        Ok(bytes) => parse(&path, &bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let write_error = |e: std::io::Error| IncarnationError::Write { path: path.clone(), detail: e.to_string() };
            let incarnation = fresh().map_err(write_error)?;
            let text = serde_json::to_vec(&AgentFile { format: FORMAT, incarnation: incarnation.clone() })
                .expect("the agent file serializes");
            write_atomically(&path, &text).map_err(write_error)?;
            Ok(incarnation)
        }
        Err(error) => Err(IncarnationError::Read { path, detail: error.to_string() }),
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<String, IncarnationError> {
    let invalid = |detail: String| IncarnationError::Invalid { path: path.to_owned(), detail };
    let file: AgentFile = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    if file.format > FORMAT {
        return Err(invalid(format!("format {} is newer than this agent's {FORMAT}", file.format)));
    }
    if file.incarnation.is_empty() {
        return Err(invalid("its incarnation is empty".to_owned()));
    }
    Ok(file.incarnation)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_incarnation_is_made_once_and_read_back_after() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), || Ok("abc123".to_owned())).expect("made");
        assert_eq!(first, "abc123");
        let again = load_or_create(dir.path(), || panic!("not made twice")).expect("read");
        assert_eq!(again, "abc123");
        assert!(!dir.path().join("agent.json.tmp").exists());
    }

    #[test]
    fn a_format_1_file_is_read() {
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/agent-v1.json");
        let bytes = std::fs::read(&golden).unwrap();
        assert_eq!(parse(&golden, &bytes).expect("format 1"), "5f0c2d9a7e41b3c8d6a0f9e2b7c41d3a");
    }

    #[test]
    fn a_broken_or_newer_file_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            ("{not json", "key must be a string"),
            (r#"{"format": 2, "incarnation": "x"}"#, "format 2 is newer than this agent's 1"),
            (r#"{"format": 1, "incarnation": ""}"#, "its incarnation is empty"),
        ] {
            std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
            let error = load_or_create(dir.path(), || panic!("not made over a broken file")).expect_err(text);
            let message = error.to_string();
            assert!(message.contains(expected) && message.contains("move it aside"), "{message}");
        }
    }
}

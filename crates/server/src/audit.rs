//! The audit log: one JSON line per call that changes something (who, which call, on what, and
//! how it ended: the gRPC code, `Ok` on success), appended to the file `atoll scheduler
//! --audit-log FILE` names, and written before the call answers. Reads and the agents' own calls (heartbeats, status reports) are
//! not logged.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tonic::Status;

use crate::auth::Caller;

/// An open audit log.
#[derive(Clone)]
pub struct AuditLog {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditLog({})", self.path.display())
    }
}

impl AuditLog {
    /// Opens `path` for appending, creating it if need be.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog { path: path.to_owned(), file: Arc::new(Mutex::new(file)) })
    }

    /// Appends one call: at `at_ms`, by `caller`, `call` on `subject` (a job key, a role,
    /// hosts), and its outcome.
    pub(crate) fn record(&self, at_ms: u64, caller: &Caller, call: &str, subject: &str, outcome: Result<(), &Status>) {
        let (code, message) = match outcome {
            Ok(()) => (format!("{:?}", tonic::Code::Ok), String::new()),
            Err(status) => (format!("{:?}", status.code()), status.message().to_owned()),
        };
        let line = json!({
            "at_ms": at_ms,
            "user": caller.name(),
            "call": call,
            "subject": subject,
            "outcome": code,
            "message": message,
        });
        // One write(2) per line: the file is unbuffered, so the line is in the kernel's hands
        // when the call answers, and lines of concurrent calls never interleave.
        let mut text = line.to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = file.write_all(text.as_bytes()) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the audit log");
        }
    }
}

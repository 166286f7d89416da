//! Framework messages between an agent and a custom executor's task: `.executor/inbox/` holds
//! those from the framework (the agent writes, the executor reads), `.executor/outbox/` those
//! for it (the executor writes, the agent reads). One file per message, its bytes as they are,
//! named by when it was written and a counter so they read back in order; each is written under
//! a temporary name and renamed, so a reader never sees half of one, and removed once read.
//! Messages are best effort, as Mesos' are: not fsynced, and dropped with their sandbox.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Sandbox, SandboxError, create_private_dir, io_error};

/// Which way a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageBox {
    /// From the framework, for the task's custom executor.
    Inbox,
    /// From the custom executor, for its framework.
    Outbox,
}

/// Messages one box holds at most; past it the oldest is dropped first, so an executor that
/// never reads cannot fill the disk.
pub const MESSAGES_KEPT: usize = 1000;

/// Tells apart the messages one process writes within a nanosecond.
static WRITTEN: AtomicU64 = AtomicU64::new(0);

impl Sandbox {
    /// The directory of a box.
    pub fn message_dir(&self, which: MessageBox) -> PathBuf {
        self.executor_dir().join(match which {
            MessageBox::Inbox => "inbox",
            MessageBox::Outbox => "outbox",
        })
    }

    /// Puts a message in a box.
    pub fn put_message(&self, which: MessageBox, data: &[u8]) -> Result<(), SandboxError> {
        let dir = self.message_dir(which);
        create_private_dir(&dir)?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("{nanos:024}-{:010}", WRITTEN.fetch_add(1, Ordering::Relaxed));
        let temporary = dir.join(format!(".{name}.tmp"));
        fs::write(&temporary, data).map_err(io_error("write", &temporary))?;
        let path = dir.join(format!("{name}.msg"));
        fs::rename(&temporary, &path).map_err(io_error("rename", &path))?;
        let mut held = self.message_files(which)?;
        while held.len() > MESSAGES_KEPT {
            let oldest = held.remove(0);
            fs::remove_file(&oldest).map_err(io_error("remove", &oldest))?;
        }
        Ok(())
    }

    /// Takes every message in a box, oldest first; none when the box does not exist.
    pub fn take_messages(&self, which: MessageBox) -> Result<Vec<Vec<u8>>, SandboxError> {
        let mut taken = Vec::new();
        for path in self.message_files(which)? {
            let data = fs::read(&path).map_err(io_error("read", &path))?;
            fs::remove_file(&path).map_err(io_error("remove", &path))?;
            taken.push(data);
        }
        Ok(taken)
    }

    /// The message files of a box, oldest first.
    fn message_files(&self, which: MessageBox) -> Result<Vec<PathBuf>, SandboxError> {
        let dir = self.message_dir(which);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("list", &dir)(e)),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "msg"))
            .collect();
        files.sort();
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_back_in_order_once_and_a_full_box_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new(dir.path());
        assert!(sandbox.take_messages(MessageBox::Inbox).unwrap().is_empty(), "no box yet: nothing");
        for n in 0..3 {
            sandbox.put_message(MessageBox::Inbox, format!("m{n}").as_bytes()).unwrap();
        }
        sandbox.put_message(MessageBox::Outbox, b"the other way").unwrap();
        let taken = sandbox.take_messages(MessageBox::Inbox).unwrap();
        assert_eq!(taken, [b"m0".to_vec(), b"m1".to_vec(), b"m2".to_vec()]);
        assert!(sandbox.take_messages(MessageBox::Inbox).unwrap().is_empty(), "taken once");
        assert_eq!(sandbox.take_messages(MessageBox::Outbox).unwrap(), [b"the other way".to_vec()]);
        for n in 0..MESSAGES_KEPT + 5 {
            sandbox.put_message(MessageBox::Outbox, n.to_string().as_bytes()).unwrap();
        }
        let kept = sandbox.take_messages(MessageBox::Outbox).unwrap();
        assert_eq!(kept.len(), MESSAGES_KEPT);
        assert_eq!(kept[0], b"5".to_vec(), "the oldest five dropped");
    }
}

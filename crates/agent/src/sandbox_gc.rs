//! Sandbox garbage collection, as Aurora's executor GC and Mesos' `--gc_delay`: a finished
//! task's sandbox (its end acknowledged by the scheduler, its executor gone) is kept for
//! `--sandbox-retention-secs` (a week by default) and among the newest `--sandboxes-kept` (100),
//! then removed. So the work directory holds the live tasks and a bounded number of finished
//! ones (each within its task's disk limit), and an agent's start, which reads every sandbox,
//! costs the same however long the agent has run.
//!
//! [`to_remove`] is the pure rule; [`collect`] reads the sandboxes and removes; the agent runs
//! it once at start, after recovery, then every [`interval`] and after tasks' ends are
//! acknowledged (at most once a second), so the count holds however fast tasks end.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use atoll_sandbox::Sandbox;

use crate::supervisor::executor_alive;

/// How long and how many finished sandboxes are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Duration,
    pub max_kept: usize,
}

impl Default for Retention {
    /// A week, as Mesos' `--gc_delay`, and 100, as the scheduler keeps 100 ended tasks a job.
    fn default() -> Retention {
        Retention { max_age: Duration::from_secs(7 * 24 * 3600), max_kept: 100 }
    }
}

/// A finished task's sandbox: its directory's name (the task id) and when its end was
/// acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub name: String,
    pub ended: SystemTime,
}

/// Which finished sandboxes go: those older than the retention, and beyond the newest
/// `max_kept` the rest, oldest first.
pub fn to_remove(mut finished: Vec<Finished>, now: SystemTime, retention: Retention) -> Vec<String> {
    finished.sort_by(|a, b| b.ended.cmp(&a.ended).then_with(|| a.name.cmp(&b.name)));
    finished
        .into_iter()
        .enumerate()
        .filter(|(rank, sandbox)| {
            *rank >= retention.max_kept || now.duration_since(sandbox.ended).unwrap_or_default() > retention.max_age
        })
        .map(|(_, sandbox)| sandbox.name)
        .collect()
}

/// How often the agent collects: four times within the retention, at least once a minute.
pub fn interval(retention: Retention) -> Duration {
    (retention.max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// The finished sandboxes under `sandboxes`: acknowledged, with no live executor.
fn finished(sandboxes: &Path) -> Vec<Finished> {
    let Ok(entries) = std::fs::read_dir(sandboxes) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let sandbox = Sandbox::new(entry.path());
            let ended = std::fs::metadata(sandbox.acknowledged_file()).and_then(|m| m.modified()).ok()?;
            let executor = sandbox.read_status().ok().flatten().map(|s| s.executor_pid as i32);
            if executor.is_some_and(|pid| executor_alive(pid, sandbox.root())) {
                return None;
            }
            Some(Finished { name: entry.file_name().to_string_lossy().into_owned(), ended })
        })
        .collect()
}

/// Removes the finished sandboxes `retention` lets go; returns how many were removed. A
/// sandbox that cannot be removed is logged and tried again at the next collection.
pub fn collect(sandboxes: &Path, retention: Retention) -> usize {
    let mut removed = 0;
    for name in to_remove(finished(sandboxes), SystemTime::now(), retention) {
        let path = sandboxes.join(&name);
        match remove(&path) {
            Ok(()) => {
                tracing::info!(sandbox = %path.display(), "removed a finished task's sandbox");
                removed += 1;
            }
            Err(error) => tracing::warn!(sandbox = %path.display(), %error, "cannot remove a finished sandbox"),
        }
    }
    removed
}

/// Removes a sandbox whole, without following links. A task may have left directories it
/// cannot be entered or emptied; they are opened to their owner and removed again.
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
            open_directories(path.to_owned());
            std::fs::remove_dir_all(path)
        }
        done => done,
    }
}

fn open_directories(dir: PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let mut pending = vec![dir];
    while let Some(dir) = pending.pop() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            // `file_type` does not follow links, so a link to elsewhere is never opened.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(entry.path());
            }
        }
    }
}

/// The least time between two collections, however many tasks end.
const MIN_GAP: Duration = Duration::from_secs(1);

/// Collects every `interval(retention)`, and after tasks' ends are acknowledged (`ended`),
/// at most once every [`MIN_GAP`], off the async threads, until dropped. So the count holds
/// however fast tasks end.
pub async fn keep_collecting(sandboxes: PathBuf, retention: Retention, ended: std::sync::Arc<tokio::sync::Notify>) {
    let mut ticks = tokio::time::interval(interval(retention));
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = ended.notified() => {}
        }
        let dir = sandboxes.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || collect(&dir, retention)).await {
            tracing::warn!(%error, "sandbox collection failed");
        }
        tokio::time::sleep(MIN_GAP).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished_at(name: &str, secs: u64) -> Finished {
        Finished { name: name.into(), ended: SystemTime::UNIX_EPOCH + Duration::from_secs(secs) }
    }

    #[test]
    fn the_newest_are_kept_within_the_age_and_the_rest_go_oldest_first() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let all = vec![finished_at("a", 100), finished_at("b", 900), finished_at("c", 950), finished_at("d", 990)];
        let retention = Retention { max_age: Duration::from_secs(500), max_kept: 2 };
        assert_eq!(to_remove(all.clone(), now, retention), ["b", "a"], "beyond the two newest, and too old");
        let generous = Retention { max_age: Duration::from_secs(500), max_kept: 10 };
        assert_eq!(to_remove(all.clone(), now, generous), ["a"], "only the one older than 500 s");
        assert!(to_remove(all.clone(), now, Retention { max_age: Duration::from_secs(5_000), max_kept: 4 }).is_empty());
        let none_kept = Retention { max_age: Duration::from_secs(5_000), max_kept: 0 };
        assert_eq!(to_remove(all, now, none_kept).len(), 4);
    }

    #[test]
    fn collection_removes_acknowledged_sandboxes_only_even_ones_a_task_closed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for name in ["done", "running"] {
            std::fs::create_dir_all(dir.path().join(name).join(".executor")).unwrap();
        }
        Sandbox::new(dir.path().join("done")).write_acknowledged(atoll_model::TaskState::Finished).unwrap();
        let closed = dir.path().join("done/sandbox/closed");
        std::fs::create_dir_all(closed.join("inner")).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o000)).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("done/sandbox/link")).unwrap();

        assert_eq!(collect(dir.path(), Retention { max_age: Duration::from_secs(3600), max_kept: 0 }), 1);
        assert!(!dir.path().join("done").exists());
        assert!(dir.path().join("running").exists(), "a task not acknowledged as ended is kept");
        assert!(outside.path().exists(), "a link is removed, not followed");
    }

    #[test]
    fn collections_come_four_times_a_retention_and_at_least_every_minute() {
        assert_eq!(interval(Retention::default()), Duration::from_secs(60));
        assert_eq!(interval(Retention { max_age: Duration::from_secs(8), max_kept: 1 }), Duration::from_secs(2));
        assert_eq!(interval(Retention { max_age: Duration::ZERO, max_kept: 1 }), Duration::from_secs(1));
    }
}

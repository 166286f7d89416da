//! The agent's pulse: a file in the work directory whose modification time the agent renews
//! every few seconds while it runs. Executors read it ([`atoll_sandbox::AgentWatch`]): one whose
//! agent has not renewed it for the recovery timeout (the agent gone and not back, as Mesos'
//! `--recovery_timeout`) ends its task LOST and exits, so no executor outlives its agent for
//! ever.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use atoll_sandbox::AgentWatch;

/// The pulse file's name in the work directory.
const FILE_NAME: &str = "agent.pulse";

/// Mesos' default recovery timeout.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The most time between two pulses.
const MAX_INTERVAL: Duration = Duration::from_secs(5);

/// What executors of an agent in `work_dir` are told to watch.
pub fn agent_watch(work_dir: &Path, recovery_timeout: Duration) -> AgentWatch {
    AgentWatch { pulse_file: work_dir.join(FILE_NAME), recovery_timeout_secs: recovery_timeout.as_secs() }
}

/// How often the agent renews its pulse: at least four times in a recovery timeout, and at
/// least every [`MAX_INTERVAL`].
pub fn interval(recovery_timeout: Duration) -> Duration {
    (recovery_timeout / 4).clamp(Duration::from_millis(100), MAX_INTERVAL)
}

/// Renews the pulse now: creates the file, or sets its modification time to now.
pub fn beat(file: &Path) -> std::io::Result<()> {
    let handle = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(file)?;
    handle.set_modified(SystemTime::now())
}

/// Renews the pulse every `interval` until dropped, off the async threads; a failure is
/// logged and tried again at the next beat.
pub async fn keep_beating(file: PathBuf, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        let target = file.clone();
        match tokio::task::spawn_blocking(move || beat(&target)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(file = %file.display(), %error, "cannot renew the agent's pulse"),
            Err(error) => tracing::warn!(%error, "the pulse task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_makes_the_file_and_moves_its_time_on() {
        let dir = tempfile::tempdir().unwrap();
        let watch = agent_watch(dir.path(), DEFAULT_RECOVERY_TIMEOUT);
        assert_eq!(watch.recovery_timeout_secs, 900);
        beat(&watch.pulse_file).expect("made");
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&watch.pulse_file).unwrap().set_modified(old).unwrap();
        beat(&watch.pulse_file).expect("renewed");
        let modified = std::fs::metadata(&watch.pulse_file).unwrap().modified().unwrap();
        assert!(modified > old + Duration::from_secs(3000), "{modified:?}");
    }

    #[test]
    fn pulses_come_four_times_a_timeout_and_at_least_every_five_seconds() {
        assert_eq!(interval(Duration::from_secs(900)), Duration::from_secs(5));
        assert_eq!(interval(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(interval(Duration::from_millis(200)), Duration::from_millis(100));
    }
}

//! Whether the executor's agent is still there: the agent renews its pulse file every few
//! seconds ([`AgentWatch`]); an executor whose agent has not done so for the recovery timeout
//! (the agent stopped and did not come back) gives its task up. So does an executor whose
//! sandbox was removed under it, since no agent can adopt it then.
//!
//! [`abandoned`] is the pure rule; [`watch`] reads the files and waits.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use atoll_sandbox::AgentWatch;

/// The most time between two looks at the pulse.
const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// What one look saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The pulse file's modification time; `None` when it is not there.
    pub(crate) pulse: Option<SystemTime>,
    pub(crate) sandbox_exists: bool,
    pub(crate) now: SystemTime,
}

/// Why the task is given up, if it is: the sandbox is gone, or the newer of the agent's last
/// pulse and the executor's start is older than the recovery timeout.
pub(crate) fn abandoned(seen: Seen, started: SystemTime, timeout: Option<Duration>, sandbox: &Path) -> Option<String> {
    if !seen.sandbox_exists {
        return Some(format!("its sandbox {} was removed", sandbox.display()));
    }
    let timeout = timeout?;
    let last_sign = seen.pulse.map_or(started, |pulse| pulse.max(started));
    let silent = seen.now.duration_since(last_sign).unwrap_or_default();
    (silent > timeout).then(|| {
        format!(
            "Its agent was gone for {}s, longer than the executor's recovery timeout of {}s \
             (--executor-recovery-timeout-secs); the executor ended the task",
            silent.as_secs(),
            timeout.as_secs()
        )
    })
}

/// How often to look: four times in a timeout, at least every [`MAX_CHECK_INTERVAL`].
fn check_interval(timeout: Option<Duration>) -> Duration {
    timeout.map_or(MAX_CHECK_INTERVAL, |t| (t / 4).clamp(Duration::from_millis(100), MAX_CHECK_INTERVAL))
}

/// Resolves, with the reason, once the task should be given up.
pub(crate) async fn watch(watch: Option<AgentWatch>, sandbox: PathBuf) -> String {
    let started = SystemTime::now();
    let timeout = watch.as_ref().map(|w| Duration::from_secs(w.recovery_timeout_secs));
    let pulse_file = watch.map(|w| w.pulse_file);
    let mut ticks = tokio::time::interval(check_interval(timeout));
    loop {
        ticks.tick().await;
        let seen = Seen {
            pulse: pulse_file.as_ref().and_then(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()),
            sandbox_exists: sandbox.is_dir(),
            now: SystemTime::now(),
        };
        if let Some(reason) = abandoned(seen, started, timeout, &sandbox) {
            return reason;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_given_up_once_its_agent_is_silent_past_the_timeout_or_its_sandbox_is_gone() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |secs: u64| start + Duration::from_secs(secs);
        let timeout = Some(Duration::from_secs(60));
        let sandbox = Path::new("/work/sandboxes/t");
        let seen = |pulse: Option<u64>, now: u64| Seen { pulse: pulse.map(at), sandbox_exists: true, now: at(now) };
        assert_eq!(abandoned(seen(Some(100), 150), start, timeout, sandbox), None, "a recent pulse");
        let reason = abandoned(seen(Some(100), 161), start, timeout, sandbox).expect("silent for 61 s");
        assert!(reason.contains("gone for 61s, longer than the executor's recovery timeout of 60s"), "{reason}");
        assert_eq!(abandoned(seen(None, 59), start, timeout, sandbox), None, "no pulse yet: counted from the start");
        assert!(abandoned(seen(None, 61), start, timeout, sandbox).is_some());
        // A pulse older than the executor (an agent that stopped just before) counts from the start.
        let old_pulse = Seen { pulse: Some(start - Duration::from_secs(500)), sandbox_exists: true, now: at(30) };
        assert_eq!(abandoned(old_pulse, start, timeout, sandbox), None);
        assert_eq!(abandoned(seen(Some(0), 10_000), start, None, sandbox), None, "a launch file without a watch");
        let gone = Seen { sandbox_exists: false, ..seen(Some(100), 101) };
        assert_eq!(abandoned(gone, start, None, sandbox).as_deref(), Some("its sandbox /work/sandboxes/t was removed"));
    }

    #[test]
    fn the_pulse_is_looked_at_four_times_a_timeout() {
        assert_eq!(check_interval(Some(Duration::from_secs(900))), Duration::from_secs(5));
        assert_eq!(check_interval(Some(Duration::from_secs(2))), Duration::from_millis(500));
        assert_eq!(check_interval(None), Duration::from_secs(5));
    }
}

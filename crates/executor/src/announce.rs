//! Announcing a task as a ServerSet member, as Aurora's executor did: one session per task (in
//! ZooKeeper, or the scheduler's embedded registry when the agent has no `--zk`), one ephemeral
//! sequential `member_` node at `<root>/<role>/<env>/<job>` (or the announcer's `zk_path`)
//! holding Aurora's member JSON. The executor owns the session, so a member lives exactly as
//! long as its task's executor: it survives agent restarts and vanishes with a dead host.
//!
//! The session is opened, and the member's persistent parents made, when the executor starts,
//! so that the member takes a single write once the task's processes start: STARTING if the
//! task has a health check, ALIVE if not; it turns ALIVE once the task is healthy. The session
//! is kept alive every second; if it expires the member is created again under a new session
//! (and so a new sequence number), after a wait that backs off with jitter while the registry
//! stays away (so a host's executors do not return in step), and a member someone deleted is
//! back within a second. Withdrawing deletes the member and closes the session; the executor
//! does that before a kill sequence starts.

use std::time::Duration;

use atoll_announce::{Member, MemberStatus, member_for, serverset_path};
use atoll_sandbox::{LaunchFile, RegistryTarget};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::backend::{Backend, Lost};

mod backend;

/// How often the session is kept alive and the member checked.
const TICK: Duration = Duration::from_secs(1);
/// The first wait before a new session after one was lost, and the longest.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(8);

enum Control {
    /// The member's status; the first one announces it.
    Status(MemberStatus),
    Withdraw(oneshot::Sender<()>),
}

/// A task's live announcement.
pub struct Announcement {
    control: mpsc::UnboundedSender<Control>,
    worker: JoinHandle<()>,
}

impl Announcement {
    /// Opens the task's registry session, ready to announce, if its job has an announcer and
    /// the agent gave a registry. Nothing is visible until [`Announcement::announce`].
    pub fn prepare(file: &LaunchFile) -> Option<Announcement> {
        let launch = &file.launch;
        let announcer = launch.config.announce.as_ref()?;
        let target = file.registry.clone()?;
        let member = member_for(announcer, &file.hostname, &launch.ports, launch.instance, MemberStatus::Starting);
        let parent = serverset_path(&target.root, &launch.job, announcer.zk_path.as_deref());
        let (control, commands) = mpsc::unbounded_channel();
        let worker =
            tokio::spawn(announce(target, format!("{parent}/{}", atoll_announce::MEMBER_PREFIX), member, commands));
        Some(Announcement { control, worker })
    }

    /// Creates the member with `status`: the task's processes have started.
    pub fn announce(&self, status: MemberStatus) {
        self.set_status(status);
    }

    /// Changes the member's status.
    pub fn set_status(&self, status: MemberStatus) {
        let _ = self.control.send(Control::Status(status));
    }

    /// Deletes the member and closes the session, waiting at most `limit` for the registry.
    pub async fn withdraw(self, limit: Duration) {
        let (done, withdrawn) = oneshot::channel();
        if self.control.send(Control::Withdraw(done)).is_ok() {
            let _ = tokio::time::timeout(limit, withdrawn).await;
        }
        self.worker.abort();
    }
}

/// Why a session ended.
enum SessionEnd {
    /// Lost (expired, or the registry went away): announce again under a new session.
    Lost,
    /// Withdrawn on request: stop.
    Withdrawn,
}

async fn announce(
    target: RegistryTarget,
    prefix: String,
    member: Member,
    mut commands: mpsc::UnboundedReceiver<Control>,
) {
    let mut member = Pending { member, announced: false, created: false };
    let mut delays = atoll_retry::delays(RETRY_MIN, RETRY_MAX);
    loop {
        match session(&target, &prefix, &mut member, &mut commands).await {
            SessionEnd::Withdrawn => return,
            SessionEnd::Lost => {
                // A session that got as far as the member was a success: start over.
                if std::mem::take(&mut member.created) {
                    delays = atoll_retry::delays(RETRY_MIN, RETRY_MAX);
                }
                tracing::info!(%prefix, "registry session lost; announcing again");
                tokio::time::sleep(delays.next().expect("retry delays never run out")).await;
            }
        }
    }
}

/// The member, whether the executor has asked for it to be announced yet, and whether this
/// session created it.
struct Pending {
    member: Member,
    announced: bool,
    created: bool,
}

/// One registry session: prepare, wait for the word to announce (once), announce, keep alive,
/// follow status changes, until lost or withdrawn.
async fn session(
    target: &RegistryTarget,
    prefix: &str,
    pending: &mut Pending,
    commands: &mut mpsc::UnboundedReceiver<Control>,
) -> SessionEnd {
    let mut backend = match Backend::open(target).await {
        Ok(backend) => backend,
        Err(Lost(why)) => {
            tracing::warn!(%prefix, "cannot open a registry session: {why}");
            return lost_or_withdrawn(commands, pending);
        }
    };
    if let Err(Lost(why)) = backend.prepare(prefix).await {
        tracing::warn!(%prefix, "cannot create the ServerSet's parents: {why}");
        return lost_or_withdrawn(commands, pending);
    }
    let mut tick = tokio::time::interval(TICK);
    while !pending.announced {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Control::Status(status)) => {
                    pending.member = pending.member.with_status(status);
                    pending.announced = true;
                }
                Some(Control::Withdraw(done)) => {
                    let _ = done.send(());
                    return SessionEnd::Withdrawn;
                }
                None => return SessionEnd::Withdrawn,
            },
            _ = tick.tick() => if let Err(Lost(why)) = backend.keep_alive().await {
                tracing::warn!(%prefix, "registry session lost before announcing: {why}");
                return SessionEnd::Lost;
            },
        }
    }
    let member = &mut pending.member;
    let began = std::time::Instant::now();
    let mut node = match backend.create_member(prefix, &member.to_json()).await {
        Ok(node) => node,
        Err(Lost(why)) => {
            tracing::warn!(%prefix, "cannot announce: {why}");
            return lost_or_withdrawn(commands, pending);
        }
    };
    pending.created = true;
    let write_ms = began.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(%node, status = ?member.status, write_ms, "announced");
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Control::Status(status)) => {
                    *member = member.with_status(status);
                    if backend.set_member(&node, &member.to_json()).await.is_err() {
                        return SessionEnd::Lost;
                    }
                }
                Some(Control::Withdraw(done)) => {
                    backend.withdraw(&node).await;
                    tracing::info!(%node, "withdrawn");
                    let _ = done.send(());
                    return SessionEnd::Withdrawn;
                }
                None => return SessionEnd::Withdrawn,
            },
            _ = tick.tick() => match backend.member_exists(&node).await {
                Ok(true) => {}
                Ok(false) => match backend.create_member(prefix, &member.to_json()).await {
                    Ok(created) => {
                        tracing::info!(%created, "member was deleted; announced again");
                        node = created;
                    }
                    Err(_) => return SessionEnd::Lost,
                },
                Err(Lost(why)) => {
                    tracing::warn!(%node, "registry session lost: {why}");
                    return SessionEnd::Lost;
                }
            },
        }
    }
}

/// After a failed attempt: stop if a withdrawal is waiting, else try again, with the newest
/// status asked for (a status change that came meanwhile is kept, not dropped).
fn lost_or_withdrawn(commands: &mut mpsc::UnboundedReceiver<Control>, pending: &mut Pending) -> SessionEnd {
    loop {
        match commands.try_recv() {
            Ok(Control::Withdraw(done)) => {
                let _ = done.send(());
                return SessionEnd::Withdrawn;
            }
            Err(mpsc::error::TryRecvError::Disconnected) => return SessionEnd::Withdrawn,
            Ok(Control::Status(status)) => {
                pending.member = pending.member.with_status(status);
                pending.announced = true;
            }
            Err(mpsc::error::TryRecvError::Empty) => return SessionEnd::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atoll_announce::Endpoint;

    fn pending() -> Pending {
        let endpoint = Endpoint { host: "host".into(), port: 31000 };
        let member = Member {
            service_endpoint: endpoint,
            additional_endpoints: Default::default(),
            status: MemberStatus::Starting,
            shard: Some(0),
        };
        Pending { member, announced: false, created: false }
    }

    #[test]
    fn a_status_asked_for_during_a_failed_attempt_is_kept_for_the_next() {
        let (control, mut commands) = mpsc::unbounded_channel();
        control.send(Control::Status(MemberStatus::Starting)).unwrap();
        control.send(Control::Status(MemberStatus::Alive)).unwrap();
        let mut pending = pending();
        assert!(matches!(lost_or_withdrawn(&mut commands, &mut pending), SessionEnd::Lost));
        assert_eq!(pending.member.status, MemberStatus::Alive, "the newest status");
        assert!(pending.announced, "asked to announce");
    }

    #[test]
    fn a_withdrawal_during_a_failed_attempt_ends_the_announcement() {
        let (control, mut commands) = mpsc::unbounded_channel();
        let (done, withdrawn) = oneshot::channel();
        control.send(Control::Withdraw(done)).unwrap();
        assert!(matches!(lost_or_withdrawn(&mut commands, &mut pending()), SessionEnd::Withdrawn));
        assert!(withdrawn.blocking_recv().is_ok(), "the withdrawal is answered");
        drop(control);
        assert!(matches!(lost_or_withdrawn(&mut commands, &mut pending()), SessionEnd::Withdrawn), "nobody left");
    }
}

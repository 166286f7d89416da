//! The virtual network between the scheduler and each agent: the messages of the real agent
//! protocol, a seeded delay per message, first-in first-out per direction (as on the real
//! gRPC streams), partitions that hold messages back until they heal, and lost messages.
//!
//! A lost message breaks the session it travelled on, as a failed call or a broken command
//! stream does for the real agent: every later command of that session is lost too, and the
//! agent, noticing, reconnects and registers again.

use atoll_model::{ScheduledTask, TaskId, TaskState};
use atoll_state::{Registration, StatusReport};

use crate::rng::Rng;

/// What an agent sends the scheduler. `session` counts the agent's connections.
#[derive(Clone, Debug)]
pub enum Up {
    Register { session: u64, registration: Registration },
    Heartbeat { session: u64 },
    Status { session: u64, task: TaskId, report: StatusReport },
}

impl Up {
    pub fn session(&self) -> u64 {
        match self {
            Up::Register { session, .. } | Up::Heartbeat { session } | Up::Status { session, .. } => *session,
        }
    }
}

/// What the scheduler sends an agent: answers to its calls, and commands on the stream it
/// opened when the agent last registered.
#[derive(Clone, Debug)]
pub enum Down {
    /// The tasks the registration reported, now acknowledged.
    Registered {
        session: u64,
        reported: Vec<(TaskId, TaskState)>,
    },
    Heartbeat {
        session: u64,
        registered: bool,
    },
    StatusAcknowledged {
        session: u64,
        task: TaskId,
        state: TaskState,
    },
    Launch {
        session: u64,
        task: Box<ScheduledTask>,
    },
    Kill {
        session: u64,
        task: TaskId,
    },
}

impl Down {
    pub fn session(&self) -> u64 {
        match self {
            Down::Registered { session, .. }
            | Down::Heartbeat { session, .. }
            | Down::StatusAcknowledged { session, .. }
            | Down::Launch { session, .. }
            | Down::Kill { session, .. } => *session,
        }
    }
}

/// What became of a message handed to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// It arrives at this virtual time.
    At(u64),
    /// It was lost, and with it the session it travelled on; `first` is set for the loss that
    /// broke the session (the receiver's side notices that one).
    Lost { first: bool },
}

#[derive(Clone, Debug, Default)]
struct Link {
    /// The earliest time the next message each way may arrive: keeps each direction in order.
    up_ready_ms: u64,
    down_ready_ms: u64,
    partitioned_until_ms: u64,
    lose_next_up: bool,
    lose_next_down: bool,
    /// Messages to the agent of this session or an earlier one are lost.
    dead_session: Option<u64>,
}

/// Every agent's link, and the seeded delays.
#[derive(Clone, Debug)]
pub struct Network {
    links: Vec<Link>,
    latency_ms: (u64, u64),
    rng: Rng,
}

impl Network {
    pub fn new(latency_ms: (u64, u64), rng: Rng) -> Network {
        Network { links: Vec::new(), latency_ms, rng }
    }

    /// Adds a link for agent number `links.len()`.
    pub fn add_link(&mut self) {
        self.links.push(Link::default());
    }

    /// Sends a message from agent `agent` to the scheduler at `now_ms`.
    pub fn send_up(&mut self, agent: usize, now_ms: u64) -> Delivery {
        let delay = self.rng.between(self.latency_ms);
        let link = &mut self.links[agent];
        if std::mem::take(&mut link.lose_next_up) {
            return Delivery::Lost { first: true };
        }
        let at = arrival(now_ms, delay, link.partitioned_until_ms, link.up_ready_ms);
        link.up_ready_ms = at;
        Delivery::At(at)
    }

    /// Sends a message of `session` from the scheduler to agent `agent` at `now_ms`.
    pub fn send_down(&mut self, agent: usize, session: u64, now_ms: u64) -> Delivery {
        let delay = self.rng.between(self.latency_ms);
        let link = &mut self.links[agent];
        if link.dead_session.is_some_and(|dead| session <= dead) {
            return Delivery::Lost { first: false };
        }
        if std::mem::take(&mut link.lose_next_down) {
            link.dead_session = Some(session);
            return Delivery::Lost { first: true };
        }
        let at = arrival(now_ms, delay, link.partitioned_until_ms, link.down_ready_ms);
        link.down_ready_ms = at;
        Delivery::At(at)
    }

    /// Loses the next message from agent `agent` (`up`) or to it.
    pub fn lose_next(&mut self, agent: usize, up: bool) {
        let link = &mut self.links[agent];
        if up {
            link.lose_next_up = true;
        } else {
            link.lose_next_down = true;
        }
    }

    /// Holds back every message sent either way before `until_ms`.
    pub fn partition(&mut self, agent: usize, until_ms: u64) {
        let link = &mut self.links[agent];
        link.partitioned_until_ms = link.partitioned_until_ms.max(until_ms);
    }

    /// Whether agent `agent` is cut off at `now_ms`.
    pub fn is_partitioned(&self, agent: usize, now_ms: u64) -> bool {
        now_ms < self.links[agent].partitioned_until_ms
    }
}

/// When a message sent at `now_ms` arrives: after its delay, after the partition heals, and
/// not before the message sent ahead of it.
fn arrival(now_ms: u64, delay_ms: u64, partitioned_until_ms: u64, ready_ms: u64) -> u64 {
    let sent = if now_ms < partitioned_until_ms { partitioned_until_ms } else { now_ms };
    (sent + delay_ms).max(ready_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network() -> Network {
        let mut net = Network::new((1, 50), Rng::new(3));
        net.add_link();
        net
    }

    #[test]
    fn each_direction_stays_in_order() {
        let mut net = network();
        let mut last = 0;
        for now in 0..200 {
            let Delivery::At(at) = net.send_down(0, 1, now) else { panic!("nothing is lost") };
            assert!(at >= last && at > now && at <= now + 50, "sent at {now}, arrives {at} after {last}");
            last = at;
        }
    }

    #[test]
    fn a_partition_holds_messages_until_it_heals() {
        let mut net = network();
        net.partition(0, 10_000);
        assert!(net.is_partitioned(0, 9_999) && !net.is_partitioned(0, 10_000));
        let Delivery::At(at) = net.send_up(0, 5) else { panic!("held, not lost") };
        assert!((10_001..=10_050).contains(&at), "{at}");
        let Delivery::At(later) = net.send_up(0, 20_000) else { panic!("healed") };
        assert!(later > 20_000);
    }

    #[test]
    fn a_lost_command_loses_the_rest_of_its_session() {
        let mut net = network();
        net.lose_next(0, false);
        assert_eq!(net.send_down(0, 4, 0), Delivery::Lost { first: true });
        assert_eq!(net.send_down(0, 4, 1), Delivery::Lost { first: false });
        assert_eq!(net.send_down(0, 3, 1), Delivery::Lost { first: false });
        assert!(matches!(net.send_down(0, 5, 2), Delivery::At(_)));
        net.lose_next(0, true);
        assert_eq!(net.send_up(0, 3), Delivery::Lost { first: true });
        assert!(matches!(net.send_up(0, 4), Delivery::At(_)));
    }
}

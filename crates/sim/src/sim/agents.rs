//! The agents' side of the simulation loop: handing inputs to fake agents and sending what
//! they ask to, and carrying out faults.

use crate::agent::{Action, Ctx, Input};
use crate::faults::Fault;
use crate::net::{Delivery, Down};

use super::{Event, Sim};

impl Sim {
    /// Hands `input` to agent `agent` and carries out what it asks.
    pub(super) fn at_agent(&mut self, agent: usize, input: Input) {
        let (what, task, detail) = match &input {
            Input::Start => ("agent start", None, 0),
            Input::Connect { session } => ("connect", None, *session),
            Input::Timer { session } => ("timer", None, *session),
            Input::SessionLost { session } => ("session lost", None, *session),
            Input::Progress { task, state, .. } => ("progress", Some(task), *state as u64),
            Input::Message(Down::Launch { task, session }) => ("deliver launch", Some(&task.id), *session),
            Input::Message(Down::Kill { task, session }) => ("deliver kill", Some(task), *session),
            Input::Message(Down::StatusAcknowledged { task, session, .. }) => ("deliver ack", Some(task), *session),
            Input::Message(Down::Registered { session, .. }) => ("deliver registered", None, *session),
            Input::Message(Down::Heartbeat { session, registered }) => {
                ("deliver heartbeat", None, session * 2 + u64::from(*registered))
            }
        };
        self.mark(what, Some(agent), task, detail);
        let mut ctx = Ctx {
            now_ms: self.now_ms,
            heartbeat_ms: self.config.heartbeat_ms,
            timing: &self.config.timing,
            behaviours: &self.behaviours,
            rng: &mut self.task_rng,
        };
        let actions = self.agents[agent].handle(input, &mut ctx);
        let mut broken = false;
        for action in actions {
            match action {
                Action::After(delay_ms, input) => {
                    self.agenda.push(self.now_ms + delay_ms, Event::ToAgent { agent, input })
                }
                // After a failed call the agent sends nothing more on that session; what it
                // meant to send goes with its next registration.
                Action::Send(_) if broken => {}
                Action::Send(message) => {
                    self.stats.messages += 1;
                    match self.net.send_up(agent, self.now_ms) {
                        Delivery::At(at_ms) => self.agenda.push(at_ms, Event::ToScheduler { agent, message }),
                        Delivery::Lost { .. } => {
                            self.stats.messages_lost += 1;
                            self.mark("lost up", Some(agent), None, 0);
                            broken = true;
                            let input = Input::SessionLost { session: message.session() };
                            self.agenda.push(self.now_ms, Event::ToAgent { agent, input });
                        }
                    }
                }
            }
        }
    }

    pub(super) fn fault(&mut self, fault: Fault) {
        let now = self.now_ms;
        match fault {
            Fault::Crash { agent, down_for_ms } => {
                self.mark("crash", Some(agent), None, down_for_ms.unwrap_or(u64::MAX));
                self.stats.crashes += 1;
                self.agents[agent].stop(false);
                if let Some(down_for_ms) = down_for_ms {
                    self.agenda.push(now + down_for_ms, Event::ToAgent { agent, input: Input::Start });
                }
            }
            Fault::Restart { agent, keep_tasks, down_for_ms } => {
                if !self.agents[agent].is_up() {
                    return self.mark("restart of a down agent", Some(agent), None, 0);
                }
                self.mark("restart", Some(agent), None, u64::from(keep_tasks));
                self.stats.restarts += 1;
                self.agents[agent].stop(keep_tasks);
                self.agenda.push(now + down_for_ms, Event::ToAgent { agent, input: Input::Start });
            }
            Fault::Lose { agent, up } => {
                self.mark("lose next", Some(agent), None, u64::from(up));
                self.net.lose_next(agent, up);
            }
            Fault::Partition { agent, for_ms } => {
                self.mark("partition", Some(agent), None, for_ms);
                self.stats.partitions += 1;
                self.net.partition(agent, now + for_ms);
            }
        }
    }
}

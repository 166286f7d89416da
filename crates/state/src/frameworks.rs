//! Frameworks and the resource manager: who gets which agent's free resources (the
//! allocator's weighted DRF over roles, `atoll-allocator`), offers and what frameworks do with
//! them (accept with tasks, decline, revive, suppress), their subscriptions and failover, and
//! their tasks' status updates with acknowledgements.
//!
//! Atoll's own job scheduler is the built-in framework [`BUILTIN_FRAMEWORK`]: it takes part in
//! every allocation round, revived while it has PENDING tasks and suppressed otherwise, and the
//! offers it gets are its placement's until the next round; placement never uses what is
//! offered to another framework (`snapshot_for` counts those offers as used), and every
//! framework's tasks are Atoll tasks on the agents, so nothing is ever promised twice.
//!
//! Durable: the framework records (`frameworks`: name, role, failover timeout, since when it
//! is away), how many of each task's updates were acknowledged (`acknowledged`, per task), and
//! their tasks. Memory only, rebuilt on start: subscriptions (every framework is away after a
//! restart, since it went away or, if it was subscribed, since the restart), offers
//! (frameworks get new ones), and the allocator's books, which each round takes from the tasks
//! again.

use std::collections::{BTreeMap, BTreeSet};

use atoll_allocator::{Allocator, DEFAULT_REFUSE_SECONDS, Quantities};
use atoll_model::framework::{
    BUILTIN_FRAMEWORK, BUILTIN_ROLE, DEFAULT_FAILOVER_TIMEOUT_MS, FRAMEWORK_ENVIRONMENT, FrameworkRecord,
    check_framework_name, check_framework_task_id, framework_task_id, is_framework_job,
};
use atoll_model::{
    AgentId, AgentResources, Assignment, Attributes, JobKey, MaintenanceMode, PortRange, ProcessSpec, Resources,
    ScheduledTask, TaskConfig, TaskEvent, TaskId, TaskSpec, TaskState,
};

use crate::{ClusterState, Effect, Outcome, StateError};

/// The owner the allocator counts orphaned tasks under: they take room and belong to no one.
const ORPHANS: &str = "(orphans)";

/// Most tasks one accept may launch.
const MAX_LAUNCHES: usize = 1000;

/// Timing of offers and updates, in milliseconds, and the roles' weights.
#[derive(Clone, Debug)]
pub struct FrameworkConfig {
    /// An offer not used or declined this long is rescinded (no hoarding).
    pub offer_timeout_ms: u64,
    /// Unacknowledged status updates are sent again this often.
    pub update_retry_ms: u64,
    /// Each role's weight in the allocator (1 for a role not named).
    pub role_weights: BTreeMap<String, f64>,
    /// What roles are promised at least (Mesos' quota guarantees): a role below its guarantee
    /// is offered first, and others get only what leaves the unmet guarantees coverable.
    pub role_guarantees: BTreeMap<String, Resources>,
}

impl FrameworkConfig {
    /// A role's weight: as set, or 1.
    pub fn weight(&self, role: &str) -> f64 {
        self.role_weights.get(role).copied().unwrap_or(1.0)
    }
}

impl Default for FrameworkConfig {
    fn default() -> FrameworkConfig {
        FrameworkConfig {
            offer_timeout_ms: 30_000,
            update_retry_ms: 10_000,
            role_weights: BTreeMap::new(),
            role_guarantees: BTreeMap::new(),
        }
    }
}

/// The resource manager's memory: the allocator, subscriptions and outstanding offers.
#[derive(Clone, Debug)]
pub(crate) struct FrameworkBooks {
    allocator: Allocator,
    /// The stream id of each subscribed framework's current subscription; one not here is away
    /// (since its record's `disconnected_ms`).
    sessions: BTreeMap<String, String>,
    offers: BTreeMap<u64, OfferDetail>,
    /// Offers the built-in framework holds until the next round.
    builtin_offers: Vec<u64>,
    /// When this scheduler started, in every offer id, so an offer of an earlier run is never
    /// taken for one of this run.
    epoch_ms: u64,
    rounds: u64,
    last_retry_ms: u64,
    /// Room being made by preemption: the task it is for, the agent, what it needs, and since
    /// when. The allocator counts it as the built-in framework's, so the room a kill frees goes
    /// to the task it was made for and not to another framework.
    preemption_holds: BTreeMap<TaskId, (AgentId, Quantities, u64)>,
}

#[derive(Clone, Debug)]
struct OfferDetail {
    ports: Vec<PortRange>,
    made_ms: u64,
    /// For the built-in framework's offers: what its tasks used on the agent when it was made,
    /// to tell whether placement used it.
    builtin_used: Quantities,
}

/// How long room made by preemption is kept from other frameworks for the task it was made
/// for, at most.
const PREEMPTION_HOLD_MS: u64 = 60_000;

impl FrameworkBooks {
    /// The books of a scheduler starting at `now_ms` with `records`, every framework away.
    pub(crate) fn new<'a>(
        records: impl Iterator<Item = &'a FrameworkRecord>,
        config: &FrameworkConfig,
        now_ms: u64,
    ) -> Self {
        let mut allocator = Allocator::new();
        allocator.add_framework(BUILTIN_FRAMEWORK, BUILTIN_ROLE, config.weight(BUILTIN_ROLE));
        for (role, guarantee) in &config.role_guarantees {
            allocator.set_guarantee(role, quantities(guarantee));
        }
        allocator.suppress(BUILTIN_FRAMEWORK);
        for record in records {
            allocator.add_framework(&record.id, &record.role, config.weight(&record.role));
            allocator.suppress(&record.id);
        }
        FrameworkBooks {
            allocator,
            sessions: BTreeMap::new(),
            offers: BTreeMap::new(),
            builtin_offers: Vec::new(),
            epoch_ms: now_ms,
            rounds: 0,
            last_retry_ms: now_ms,
            preemption_holds: BTreeMap::new(),
        }
    }

    fn offer_name(&self, id: u64) -> String {
        format!("{:x}-{id}", self.epoch_ms)
    }

    /// The number of the offer named `name`, if it names one of this run in its one spelling.
    fn offer_number(&self, name: &str) -> Option<u64> {
        let (_, id) = name.split_once('-')?;
        let id: u64 = id.parse().ok()?;
        (self.offer_name(id) == name).then_some(id)
    }

    /// The offers named, each outstanding and made to `framework`, none named twice: their
    /// numbers, or the refusal naming the first that is not.
    fn outstanding_of(&self, framework: &str, names: &[String]) -> Result<Vec<u64>, FrameworkError> {
        let mut seen = BTreeSet::new();
        let mut ids = Vec::new();
        for name in names {
            if !seen.insert(name.as_str()) {
                return Err(FrameworkError::Offer(format!("offer {name} is named twice")));
            }
            let Some((id, offer)) = self.offer_number(name).and_then(|id| Some((id, self.allocator.offer(id)?))) else {
                return Err(FrameworkError::Offer(format!(
                    "offer {name} is not outstanding: it was used, declined, rescinded or timed out; wait for new offers"
                )));
            };
            if offer.framework != framework {
                return Err(FrameworkError::Offer(format!("offer {name} was not made to framework {framework}")));
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

/// A framework's request to subscribe.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    /// Set to resubscribe as that framework.
    pub framework_id: Option<String>,
    pub name: String,
    pub role: String,
    pub failover_timeout_ms: Option<u64>,
    pub principal: String,
    pub suppressed: bool,
}

/// A task a framework launches into its offers.
#[derive(Clone, Debug, PartialEq)]
pub struct Launch {
    pub task_id: String,
    pub resources: Resources,
    pub command: String,
    pub ports: BTreeMap<String, u16>,
    pub environment: BTreeMap<String, String>,
    /// A custom executor's command, instead of `command`: it runs as the task's process and
    /// speaks the executor API.
    pub executor_command: String,
    /// Handed to the custom executor in its LAUNCH event.
    pub data: Vec<u8>,
}

/// What a framework is told.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameworkEvent {
    Offers(Vec<OfferMade>),
    Rescind {
        offer: String,
        reason: String,
    },
    Update(Box<TaskUpdate>),
    AgentLost {
        agent: AgentId,
        hostname: String,
    },
    /// Data a task's custom executor sent.
    Message {
        task_id: String,
        agent: AgentId,
        data: Vec<u8>,
    },
    /// The framework is gone (torn down, or past its failover timeout); the last event.
    Ended {
        message: String,
    },
}

/// An offer as a framework sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct OfferMade {
    pub id: String,
    pub agent: AgentId,
    pub hostname: String,
    pub resources: Resources,
    pub ports: Vec<PortRange>,
    pub attributes: Attributes,
}

/// A framework task's state, as a status update or a reconciliation answer (no uuid).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskUpdate {
    pub task_id: String,
    pub atoll_task_id: TaskId,
    pub job: JobKey,
    pub instance: u32,
    pub state: TaskState,
    pub message: String,
    pub agent: Option<AgentId>,
    pub hostname: String,
    pub at_ms: u64,
    pub exit_code: Option<i32>,
    pub uuid: Option<String>,
}

/// A framework as operators see it.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameworkView {
    pub id: String,
    pub name: String,
    pub role: String,
    pub weight: f64,
    pub builtin: bool,
    pub connected: bool,
    pub disconnected_since_ms: Option<u64>,
    pub failover_timeout_ms: u64,
    pub registered_ms: u64,
    pub principal: String,
    pub allocated: Resources,
    pub offered: Resources,
    pub dominant_share: f64,
    pub offers: Vec<OfferMade>,
    pub suppressed: bool,
    pub active_tasks: usize,
}

/// A framework call the scheduler refuses; it changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameworkError {
    #[error(
        "no framework {0} is known: it was torn down or its failover timeout passed; subscribe without an id to register anew"
    )]
    NotFound(String),
    #[error("framework {0} is not subscribed: its stream ended; subscribe again with its id")]
    NotSubscribed(String),
    #[error("framework {0} has subscribed again since this stream began: only its newest subscription may call")]
    StaleStream(String),
    #[error("framework {id} is in role {role}; it cannot move to role {asked} (tear it down and subscribe anew)")]
    RoleChange { id: String, role: String, asked: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Offer(String),
    #[error("framework {framework} has no active task {task}")]
    TaskNotFound { framework: String, task: String },
    #[error("{0} is Atoll's own job scheduler; it takes no framework calls and cannot be torn down")]
    Builtin(String),
    #[error("task {0} runs no custom executor that could be sent a message (or it is not on an agent now)")]
    NoExecutor(String),
}

impl From<FrameworkError> for StateError {
    fn from(e: FrameworkError) -> StateError {
        StateError::Framework(e)
    }
}

fn quantities(r: &Resources) -> Quantities {
    Quantities { cpus: r.cpu, mem_mb: r.ram_mb as f64, disk_mb: r.disk_mb as f64, gpus: r.gpu as f64 }
}

fn agent_quantities(r: &AgentResources) -> Quantities {
    Quantities { cpus: r.cpus, mem_mb: r.mem_mb as f64, disk_mb: r.disk_mb as f64, gpus: r.gpus as f64 }
}

/// Whole units only (an offer never promises a fraction of a megabyte, or of a thousandth of
/// a cpu), rounded down past what sums of floating-point numbers are off by.
pub(crate) fn resources(q: Quantities) -> Resources {
    let down = |x: f64| (x + 1e-6).floor();
    Resources {
        cpu: down(q.cpus * 1000.0) / 1000.0,
        ram_mb: down(q.mem_mb) as u64,
        disk_mb: down(q.disk_mb) as u64,
        gpu: down(q.gpus) as u64,
    }
}

fn shown(r: Resources) -> String {
    format!("cpus {}, ram {} MB, disk {} MB, gpus {}", r.cpu, r.ram_mb, r.disk_mb, r.gpu)
}

/// `r` with its cpu in whole thousandths, as placement counts it, so both books agree.
fn whole_millis(r: &Resources) -> Resources {
    Resources { cpu: r.cpu_millis() as f64 / 1000.0, ..r.clone() }
}

/// `ranges` without the ports in `used`: the gaps between the used ports of each range.
fn free_ranges(ranges: &[PortRange], used: &BTreeSet<u16>) -> Vec<PortRange> {
    let mut free = Vec::new();
    for range in ranges {
        let mut next = u32::from(range.begin);
        for &port in used.range(range.begin..=range.end) {
            if u32::from(port) > next {
                free.push(PortRange { begin: next as u16, end: port - 1 });
            }
            next = u32::from(port) + 1;
        }
        if next <= u32::from(range.end) {
            free.push(PortRange { begin: next as u16, end: range.end });
        }
    }
    free
}

/// Quotes `value` for bash.
fn shell_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

impl ClusterState {
    fn session_check(&self, framework: &str, stream: &str) -> Result<&FrameworkRecord, FrameworkError> {
        if framework == BUILTIN_FRAMEWORK {
            return Err(FrameworkError::Builtin(framework.to_owned()));
        }
        let record = self.frameworks.get(framework).ok_or_else(|| FrameworkError::NotFound(framework.to_owned()))?;
        match self.books.sessions.get(framework) {
            Some(current) if current == stream => Ok(record),
            Some(_) => Err(FrameworkError::StaleStream(framework.to_owned())),
            None => Err(FrameworkError::NotSubscribed(framework.to_owned())),
        }
    }

    /// The role of a known framework (the built-in one's included).
    pub fn framework_role(&self, framework: &str) -> Option<&str> {
        if framework == BUILTIN_FRAMEWORK {
            return Some(BUILTIN_ROLE);
        }
        self.frameworks.get(framework).map(|r| r.role.as_str())
    }

    /// Checks a subscription without making it: the name, the role, and for a resubscription
    /// that the framework is known in that role.
    fn check_subscription(&self, subscription: &Subscription) -> Result<(), StateError> {
        check_framework_name(&subscription.name).map_err(|e| FrameworkError::Invalid(e.to_string()))?;
        JobKey::new(&self.config.cluster, &subscription.role, FRAMEWORK_ENVIRONMENT, "x").map_err(|_| {
            FrameworkError::Invalid(format!(
                "invalid role '{}': use letters, digits, '-', '_' and '.'",
                subscription.role
            ))
        })?;
        if subscription.role == BUILTIN_ROLE {
            return Err(FrameworkError::Invalid(format!(
                "role {BUILTIN_ROLE} is Atoll's own job scheduler's; subscribe in a role of your own"
            ))
            .into());
        }
        if let Some(id) = &subscription.framework_id {
            if id == BUILTIN_FRAMEWORK {
                return Err(FrameworkError::Builtin(id.clone()).into());
            }
            let record = self.frameworks.get(id).ok_or_else(|| FrameworkError::NotFound(id.clone()))?;
            if record.role != subscription.role {
                return Err(FrameworkError::RoleChange {
                    id: id.clone(),
                    role: record.role.clone(),
                    asked: subscription.role.clone(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Subscribes a framework on stream `stream`: a new one under `new_id`, or a known one
    /// again (failover), whose older subscription ends. Its unacknowledged status updates are
    /// sent again. Returns its id and whether it was known.
    pub fn subscribe_framework(
        &mut self,
        subscription: Subscription,
        new_id: &str,
        stream: &str,
        now_ms: u64,
    ) -> Result<((String, bool), Outcome), StateError> {
        self.check_subscription(&subscription)?;
        let (id, known) = match &subscription.framework_id {
            Some(id) => (id.clone(), true),
            None => {
                if self.frameworks.contains_key(new_id) {
                    return Err(
                        FrameworkError::Invalid(format!("framework id {new_id} is taken; subscribe again")).into()
                    );
                }
                let record = FrameworkRecord {
                    id: new_id.to_owned(),
                    name: subscription.name.clone(),
                    role: subscription.role.clone(),
                    principal: subscription.principal.clone(),
                    failover_timeout_ms: subscription.failover_timeout_ms.unwrap_or(DEFAULT_FAILOVER_TIMEOUT_MS),
                    registered_ms: now_ms,
                    next_instance: 0,
                    disconnected_ms: None,
                };
                self.books.allocator.add_framework(
                    &record.id,
                    &record.role,
                    self.config.frameworks.weight(&record.role),
                );
                self.frameworks.insert(record.id.clone(), record);
                (new_id.to_owned(), false)
            }
        };
        if known && let Some(record) = self.frameworks.get(&id) {
            let timeout = subscription.failover_timeout_ms.unwrap_or(record.failover_timeout_ms);
            if (record.failover_timeout_ms, record.disconnected_ms) != (timeout, None)
                && let Some(record) = self.frameworks.get_mut(&id)
            {
                record.failover_timeout_ms = timeout;
                record.disconnected_ms = None;
            }
            // What the older subscription was offered goes back: the new one never heard of it.
            for offer in self.books.allocator.remove_offers_of(&id) {
                self.books.offers.remove(&offer.id);
            }
        }
        self.books.sessions.insert(id.clone(), stream.to_owned());
        if subscription.suppressed {
            self.books.allocator.suppress(&id);
        } else {
            self.books.allocator.revive(&id);
        }
        let effects = self.unacknowledged_updates(&id);
        let mut outcome = self.outcome(effects);
        outcome.allocation_wanted = true;
        Ok(((id, known), outcome))
    }

    /// The stream of `framework`'s subscription `stream` ended: it keeps its tasks for its
    /// failover timeout, and its offers go back. A stream already replaced changes nothing.
    pub fn framework_disconnected(&mut self, framework: &str, stream: &str, now_ms: u64) -> Outcome {
        if self.books.sessions.get(framework).is_some_and(|current| current == stream) {
            self.books.sessions.remove(framework);
            self.books.allocator.suppress(framework);
            for offer in self.books.allocator.remove_offers_of(framework) {
                self.books.offers.remove(&offer.id);
            }
            // Kept, so the failover timeout counts from here across scheduler restarts.
            if let Some(record) = self.frameworks.get_mut(&framework.to_owned()) {
                record.disconnected_ms = Some(now_ms);
            }
        }
        self.outcome(Vec::new())
    }

    /// Accepts offers (all of one agent) with tasks: each becomes an Atoll task ASSIGNED to the
    /// offers' agent and launched there. Refused, changing nothing, for offers not outstanding
    /// or not the framework's, tasks asking for more than the offers hold or for ports not
    /// offered, and tasks that are not valid.
    pub fn accept_offers(
        &mut self,
        framework: &str,
        stream: &str,
        offer_names: &[String],
        launches: Vec<Launch>,
        refuse_seconds: f64,
        now_ms: u64,
    ) -> Result<(Vec<TaskId>, Outcome), StateError> {
        let record = self.session_check(framework, stream)?.clone();
        if launches.len() > MAX_LAUNCHES {
            return Err(FrameworkError::Invalid(format!(
                "{} tasks in one accept; at most {MAX_LAUNCHES}",
                launches.len()
            ))
            .into());
        }
        let offers = self.books.outstanding_of(framework, offer_names)?;
        // Refusals about the offers first, then about the tasks.
        let mut held = Quantities::ZERO;
        let mut offered_ports: Vec<PortRange> = Vec::new();
        let mut agent: Option<AgentId> = None;
        for id in &offers {
            let Some(offer) = self.books.allocator.offer(*id) else { continue };
            if agent.as_ref().is_some_and(|a| a.0 != offer.agent) {
                return Err(FrameworkError::Offer(format!(
                    "offers {} are of different agents; accept the offers of one agent at a time",
                    offer_names.join(", ")
                ))
                .into());
            }
            agent = Some(AgentId(offer.agent.clone()));
            held = held.plus(offer.resources);
            offered_ports.extend(self.books.offers.get(id).map(|d| d.ports.clone()).unwrap_or_default());
        }
        let Some(agent) = agent else {
            return Err(
                FrameworkError::Offer("no offer named; accept names the offers its tasks use".to_owned()).into()
            );
        };
        // An agent lost or draining since the offers were made: they are taken back now.
        let usable = self.agents.get(&agent).filter(|a| a.resources.is_some()).is_some_and(|a| {
            !matches!(self.host_mode(&a.hostname), MaintenanceMode::Draining | MaintenanceMode::Drained)
        });
        if !usable {
            return Err(FrameworkError::Offer(format!(
                "the agent of offers {} is gone or draining; its offers are rescinded, wait for new offers",
                offer_names.join(", ")
            ))
            .into());
        }
        let job = record.job_key(&self.config.cluster);
        let active: BTreeSet<String> = self
            .job_tasks(&job, false)
            .iter()
            .filter(|t| t.state.is_active())
            .map(|t| framework_task_id(&t.id, &job, t.instance))
            .collect();
        let mut problems = Vec::new();
        let mut names = BTreeSet::new();
        let mut ports_taken = BTreeSet::new();
        let mut used = Quantities::ZERO;
        for launch in &launches {
            let task = &launch.task_id;
            if let Err(e) = check_framework_task_id(task) {
                problems.push(e.to_string());
            }
            if !names.insert(task.clone()) {
                problems.push(format!("task {task} is named twice"));
            }
            if active.contains(task) {
                problems.push(format!(
                    "task {task} is already active; a task id is unique among the framework's active tasks"
                ));
            }
            let r = &launch.resources;
            if !(r.cpu.is_finite() && r.cpu >= 0.001 && r.ram_mb > 0 && r.disk_mb > 0) {
                problems.push(format!(
                    "task {task} must ask for at least 0.001 cpu and more than 0 of ram_mb and disk_mb (its sandbox is held to disk_mb)"
                ));
            }
            match (launch.command.trim().is_empty(), launch.executor_command.trim().is_empty()) {
                (true, true) => problems.push(format!("task {task} has no command and no executor_command")),
                (false, false) => problems.push(format!(
                    "task {task} gives both a command and an executor_command; give one: the command, or the custom executor that runs the task"
                )),
                _ => {}
            }
            if launch.command.len().max(launch.executor_command.len()) > 64 * 1024 {
                problems.push(format!("task {task}'s command is longer than 64 KiB"));
            }
            if launch.data.len() > 1024 * 1024 {
                problems.push(format!("task {task}'s data is {} bytes; at most 1 MiB", launch.data.len()));
            }
            if !launch.data.is_empty() && launch.executor_command.trim().is_empty() {
                problems.push(format!("task {task} has data but no executor_command to hand it to"));
            }
            for name in launch.environment.keys() {
                let word = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !word {
                    problems.push(format!("task {task}: environment variable name '{name}' is not a shell name"));
                }
            }
            for (name, port) in &launch.ports {
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || name.is_empty() {
                    problems.push(format!("task {task}: port name '{name}' must be letters, digits, '-' and '_'"));
                }
                if !offered_ports.iter().any(|r| r.begin <= *port && *port <= r.end) {
                    problems.push(format!("task {task}: port {port} is not among the offers' ports"));
                } else if !ports_taken.insert(*port) {
                    problems.push(format!("task {task}: port {port} is taken by another task of this accept"));
                }
            }
            used = used.plus(quantities(&whole_millis(&launch.resources)));
        }
        if !problems.is_empty() {
            return Err(FrameworkError::Invalid(problems.join("; ")).into());
        }
        if !used.fits_in(held) {
            return Err(FrameworkError::Offer(format!(
                "the tasks ask for {} but the offers hold {}",
                shown(resources(used)),
                shown(resources(held))
            ))
            .into());
        }
        self.books
            .allocator
            .accept(framework, &offers, used, refuse_seconds, now_ms)
            .map_err(|e| FrameworkError::Offer(e.to_string()))?;
        for id in &offers {
            self.books.offers.remove(id);
        }
        let hostname = self.agents.get(&agent).map(|a| a.hostname.clone()).unwrap_or_default();
        let mut ids = Vec::new();
        let mut effects = Vec::new();
        let first_instance = record.next_instance;
        for (n, launch) in launches.into_iter().enumerate() {
            let instance = first_instance + n as u32;
            let id = TaskId::new(&job, instance, &launch.task_id);
            let mut command = String::new();
            for (name, value) in &launch.environment {
                command.push_str(&format!("export {name}={}; ", shell_quoted(value)));
            }
            let custom = !launch.executor_command.trim().is_empty();
            command.push_str(if custom { &launch.executor_command } else { &launch.command });
            let mut spec = TaskSpec::new(vec![ProcessSpec::new("task", &command)], whole_millis(&launch.resources));
            spec.name = launch.task_id.clone();
            let mut config = TaskConfig::new(spec);
            // A framework's task is stopped with signals (after KILL, for a custom executor),
            // never with Aurora's HTTP lifecycle, whatever its ports are called.
            config.lifecycle.http = None;
            if custom {
                config.custom_executor = Some(atoll_model::job::CustomExecutor { data: launch.data.clone() });
            }
            let version = self.intern(config);
            let ports: BTreeMap<String, u16> = launch.ports.clone();
            let message = format!("Launched by framework {framework} on {hostname}");
            let task = ScheduledTask {
                id: id.clone(),
                job: job.clone(),
                instance,
                config: version,
                state: TaskState::Assigned,
                assignment: Some(Assignment { agent: agent.clone(), hostname: hostname.clone(), ports }),
                sandbox: None,
                exit_code: None,
                failure_count: 0,
                ancestor: None,
                not_before_ms: now_ms,
                events: vec![
                    TaskEvent { at_ms: now_ms, state: TaskState::Init, message: String::new() },
                    TaskEvent { at_ms: now_ms, state: TaskState::Assigned, message: message.clone() },
                ],
            };
            self.tasks.insert(id.clone(), task.clone());
            let detail = atoll_model::event::EventDetail::Task {
                task: id.clone(),
                instance,
                previous: TaskState::Init,
                state: TaskState::Assigned,
                message,
                host: Some(hostname.clone()),
            };
            self.record_event(&job, now_ms, detail);
            effects.extend(self.framework_update(&task, 1));
            effects.push(Effect::Launch { agent: agent.clone(), task: Box::new(task) });
            ids.push(id);
        }
        if let Some(record) = self.frameworks.get_mut(&framework.to_owned()) {
            record.next_instance = first_instance + ids.len() as u32;
        }
        Ok((ids, self.outcome(effects)))
    }

    /// Declines offers: not offered to the framework again for `refuse_seconds`.
    pub fn decline_offers(
        &mut self,
        framework: &str,
        stream: &str,
        offer_names: &[String],
        refuse_seconds: f64,
        now_ms: u64,
    ) -> Result<((), Outcome), StateError> {
        self.session_check(framework, stream)?;
        let ids = self.books.outstanding_of(framework, offer_names)?;
        for id in ids {
            // Checked above: outstanding and the framework's.
            let _ = self.books.allocator.decline(framework, id, refuse_seconds, now_ms);
            self.books.offers.remove(&id);
        }
        let mut outcome = self.outcome(Vec::new());
        outcome.allocation_wanted = true;
        Ok(((), outcome))
    }

    /// Offers again, with every decline filter cleared (`revive`), or no more offers
    /// (`!revive`, suppress).
    pub fn revive_framework(
        &mut self,
        framework: &str,
        stream: &str,
        revive: bool,
    ) -> Result<((), Outcome), StateError> {
        self.session_check(framework, stream)?;
        if revive {
            self.books.allocator.revive(framework);
        } else {
            self.books.allocator.suppress(framework);
        }
        let mut outcome = self.outcome(Vec::new());
        outcome.allocation_wanted = revive;
        Ok(((), outcome))
    }

    /// Kills an active task of the framework; its end comes as a status update.
    pub fn kill_framework_task(
        &mut self,
        framework: &str,
        stream: &str,
        task_id: &str,
        now_ms: u64,
    ) -> Result<((), Outcome), StateError> {
        let found = self.active_framework_task(framework, stream, task_id)?.id.clone();
        let effects = self.kill_tasks(&[found], &format!("Killed by framework {framework}"), now_ms);
        Ok(((), self.outcome(effects)))
    }

    /// The active task the framework, called on its subscription `stream`, names `task_id`.
    fn active_framework_task(
        &self,
        framework: &str,
        stream: &str,
        task_id: &str,
    ) -> Result<&ScheduledTask, FrameworkError> {
        let job = self.session_check(framework, stream)?.job_key(&self.config.cluster);
        self.job_tasks(&job, false)
            .into_iter()
            .find(|t| t.state.is_active() && framework_task_id(&t.id, &job, t.instance) == task_id)
            .ok_or_else(|| FrameworkError::TaskNotFound { framework: framework.to_owned(), task: task_id.to_owned() })
    }

    /// Acknowledges the status update `uuid` of the framework's task `task_id` (and every
    /// earlier one of that task).
    pub fn acknowledge_update(
        &mut self,
        framework: &str,
        stream: &str,
        task_id: &str,
        uuid: &str,
    ) -> Result<((), Outcome), StateError> {
        self.session_check(framework, stream)?;
        let bad = || FrameworkError::Invalid(format!("'{uuid}' is not the uuid of an update of task {task_id}"));
        let (atoll, index) = uuid.rsplit_once('#').ok_or_else(bad)?;
        let index: u32 = index.parse().map_err(|_| bad())?;
        let atoll = TaskId(atoll.to_owned());
        let Some(task) = self.tasks.get(&atoll) else {
            // A task no longer kept: nothing is waiting for the acknowledgement.
            return Ok(((), self.outcome(Vec::new())));
        };
        let owned = is_framework_job(&task.job)
            && task.job.name == framework
            && framework_task_id(&atoll, &task.job, task.instance) == task_id;
        if !owned || index == 0 || index as usize >= task.events.len() {
            return Err(bad().into());
        }
        let already = self.acknowledged.get(&atoll).copied().unwrap_or(0);
        let mut effects = Vec::new();
        if index > already {
            self.acknowledged.insert(atoll.clone(), index);
            // The task's next update, held until this one was acknowledged.
            if let Some(task) = self.tasks.get(&atoll)
                && (index as usize) + 1 < task.events.len()
            {
                effects = self.framework_update(task, index as usize + 1);
            }
        }
        Ok(((), self.outcome(effects)))
    }

    /// The latest state of the tasks named, or of every task of the framework kept (none
    /// named), as updates without a uuid; a task not known is answered LOST.
    pub fn reconcile_tasks(
        &mut self,
        framework: &str,
        stream: &str,
        task_ids: &[String],
        now_ms: u64,
    ) -> Result<((), Outcome), StateError> {
        let record = self.session_check(framework, stream)?;
        let job = record.job_key(&self.config.cluster);
        let tasks = self.job_tasks(&job, true);
        let mut latest: BTreeMap<String, &ScheduledTask> = BTreeMap::new();
        for task in tasks {
            let name = framework_task_id(&task.id, &job, task.instance);
            // The newest task of a name wins (ids may be reused once a task ended).
            if latest.get(&name).is_none_or(|t| t.instance < task.instance) {
                latest.insert(name, task);
            }
        }
        let mut updates = Vec::new();
        let wanted: Vec<String> =
            if task_ids.is_empty() { latest.keys().cloned().collect() } else { task_ids.to_vec() };
        for name in wanted {
            let update = match latest.get(&name) {
                Some(task) => {
                    let mut update = update_of(task, task.events.len() - 1, &name);
                    update.uuid = None;
                    update
                }
                None => TaskUpdate {
                    task_id: name.clone(),
                    atoll_task_id: TaskId(String::new()),
                    job: job.clone(),
                    instance: 0,
                    state: TaskState::Lost,
                    message: "Reconciliation: the scheduler knows no such task".to_owned(),
                    agent: None,
                    hostname: String::new(),
                    at_ms: now_ms,
                    exit_code: None,
                    uuid: None,
                },
            };
            updates.push(Effect::Framework {
                framework: framework.to_owned(),
                event: FrameworkEvent::Update(Box::new(update)),
            });
        }
        Ok(((), self.outcome(updates)))
    }

    /// Sends `data` to the custom executor of the framework's active task `task_id`, through
    /// its agent; refused for a task without one.
    pub fn executor_message(
        &mut self,
        framework: &str,
        stream: &str,
        task_id: &str,
        data: Vec<u8>,
    ) -> Result<((), Outcome), StateError> {
        if data.len() > 1024 * 1024 {
            return Err(FrameworkError::Invalid(format!("a message of {} bytes; at most 1 MiB", data.len())).into());
        }
        let task = self.active_framework_task(framework, stream, task_id)?;
        let agent = task
            .assignment
            .as_ref()
            .filter(|_| task.config.custom_executor.is_some() && task.state.is_on_agent())
            .map(|a| a.agent.clone())
            .ok_or_else(|| FrameworkError::NoExecutor(task_id.to_owned()))?;
        let effect = Effect::ExecutorMessage { agent, task: task.id.clone(), data };
        Ok(((), self.outcome(vec![effect])))
    }

    /// Data the custom executor of `task`, on `agent`, sent its framework: a MESSAGE event
    /// there, if the task is a framework's on that agent and the framework is subscribed.
    pub fn message_from_executor(&mut self, agent: &AgentId, task: &TaskId, data: Vec<u8>) -> Outcome {
        let found = self
            .tasks
            .get(task)
            .filter(|t| is_framework_job(&t.job) && t.assignment.as_ref().is_some_and(|a| a.agent == *agent));
        let effects = match found {
            Some(t) if self.books.sessions.contains_key(&t.job.name) => {
                let task_id = framework_task_id(&t.id, &t.job, t.instance);
                let event = FrameworkEvent::Message { task_id, agent: agent.clone(), data };
                vec![Effect::Framework { framework: t.job.name.clone(), event }]
            }
            _ => Vec::new(),
        };
        self.outcome(effects)
    }

    /// Tears a framework down: kills its tasks, takes back its offers and forgets it. With a
    /// stream, only its current subscription may; without one, an operator calls.
    pub fn teardown_framework(
        &mut self,
        framework: &str,
        stream: Option<&str>,
        message: &str,
        now_ms: u64,
    ) -> Result<((), Outcome), StateError> {
        if framework == BUILTIN_FRAMEWORK {
            return Err(FrameworkError::Builtin(framework.to_owned()).into());
        }
        match stream {
            Some(stream) => {
                self.session_check(framework, stream)?;
            }
            None => {
                self.frameworks.get(framework).ok_or_else(|| FrameworkError::NotFound(framework.to_owned()))?;
            }
        }
        let effects = self.remove_framework(framework, message, now_ms);
        Ok(((), self.outcome(effects)))
    }

    fn remove_framework(&mut self, framework: &str, message: &str, now_ms: u64) -> Vec<Effect> {
        let Some(record) = self.frameworks.get(framework).cloned() else { return Vec::new() };
        let job = record.job_key(&self.config.cluster);
        // Told first, so its tasks' ends are not sent to a framework that is gone.
        let mut effects = vec![Effect::Framework {
            framework: framework.to_owned(),
            event: FrameworkEvent::Ended { message: message.to_owned() },
        }];
        self.frameworks.remove(&framework.to_owned());
        self.books.sessions.remove(framework);
        for offer in self.books.allocator.remove_framework(framework) {
            self.books.offers.remove(&offer.id);
        }
        effects.extend(self.kill_active(&job, message, now_ms));
        effects
    }

    /// A status update for a framework task's event `index`, if it is a framework's.
    /// Sent only when it is the task's next one to be acknowledged: each task has one update in
    /// flight, as Mesos' agents send them, and the next goes once that one is acknowledged.
    pub(crate) fn framework_update(&self, task: &ScheduledTask, index: usize) -> Vec<Effect> {
        if !is_framework_job(&task.job) {
            return Vec::new();
        }
        if !self.frameworks.contains_key(&task.job.name) {
            return Vec::new();
        }
        let acknowledged = self.acknowledged.get(&task.id).copied().unwrap_or(0) as usize;
        if index != acknowledged + 1 {
            return Vec::new();
        }
        let name = framework_task_id(&task.id, &task.job, task.instance);
        vec![Effect::Framework {
            framework: task.job.name.clone(),
            event: FrameworkEvent::Update(Box::new(update_of(task, index, &name))),
        }]
    }

    /// The next status update of each of the framework's tasks that it has not acknowledged.
    fn unacknowledged_updates(&self, framework: &str) -> Vec<Effect> {
        let Some(record) = self.frameworks.get(framework) else { return Vec::new() };
        let job = record.job_key(&self.config.cluster);
        let mut effects = Vec::new();
        for task in self.job_tasks(&job, true) {
            let next = self.acknowledged.get(&task.id).copied().unwrap_or(0) as usize + 1;
            if next < task.events.len() {
                effects.extend(self.framework_update(task, next));
            }
        }
        effects
    }

    /// Whether the framework that owns `task` (one known) has not acknowledged all of its
    /// updates: such a task is kept however old, so that no update is lost.
    pub(crate) fn awaits_acknowledgement(&self, task: &ScheduledTask) -> bool {
        if !is_framework_job(&task.job) {
            return false;
        }
        self.frameworks.contains_key(&task.job.name)
            && (self.acknowledged.get(&task.id).copied().unwrap_or(0) as usize) + 1 < task.events.len()
    }

    /// Whether `task` is of a framework no longer known (torn down): its ended tasks are not
    /// kept.
    pub(crate) fn of_a_framework_gone(&self, task: &ScheduledTask) -> bool {
        is_framework_job(&task.job) && !self.frameworks.contains_key(&task.job.name)
    }

    /// Housekeeping for frameworks: those disconnected past their failover timeout are torn
    /// down; unacknowledged updates go again to those subscribed, every retry interval; and
    /// acknowledgements of tasks no longer kept are dropped.
    pub(crate) fn framework_housekeeping(&mut self, now_ms: u64) -> Vec<Effect> {
        let expired: Vec<String> = self
            .frameworks
            .values()
            .filter(|r| {
                let away = !self.books.sessions.contains_key(&r.id);
                away && r.disconnected_ms.is_some_and(|since| now_ms.saturating_sub(since) >= r.failover_timeout_ms)
            })
            .map(|r| r.id.clone())
            .collect();
        let mut effects = Vec::new();
        for framework in expired {
            let message = format!("Framework {framework} did not subscribe again within its failover timeout");
            effects.extend(self.remove_framework(&framework, &message, now_ms));
        }
        if now_ms.saturating_sub(self.books.last_retry_ms) >= self.config.frameworks.update_retry_ms {
            self.books.last_retry_ms = now_ms;
            let connected: Vec<String> = self.books.sessions.keys().cloned().collect();
            for framework in connected {
                effects.extend(self.unacknowledged_updates(&framework));
            }
        }
        let stale: Vec<TaskId> = self.acknowledged.keys().filter(|t| !self.tasks.contains_key(*t)).cloned().collect();
        for task in stale {
            self.acknowledged.remove(&task);
        }
        effects
    }

    /// Tells every subscribed framework that `agent` was lost.
    pub(crate) fn agent_lost_to_frameworks(&self, agent: &AgentId, hostname: &str) -> Vec<Effect> {
        self.books
            .sessions
            .keys()
            .map(|framework| Effect::Framework {
                framework: framework.clone(),
                event: FrameworkEvent::AgentLost { agent: agent.clone(), hostname: hostname.to_owned() },
            })
            .collect()
    }

    /// One allocation round: the built-in framework's offers of the last round go back, offers
    /// past the offer timeout are rescinded, the allocator learns the agents and what each
    /// framework's tasks use, and every agent's free resources are offered by DRF. Nothing
    /// happens while no other framework is known: the built-in one has the cluster.
    pub fn allocation_round(&mut self, now_ms: u64) -> Outcome {
        if self.frameworks.is_empty() && self.books.builtin_offers.is_empty() {
            return self.outcome(Vec::new());
        }
        let usage = self.usage(now_ms);
        // The built-in framework's offers of the last round go back; one placement used nothing
        // of is hidden from it for a while, so a job's task that fits nowhere does not keep
        // agents from other frameworks round after round.
        for id in std::mem::take(&mut self.books.builtin_offers) {
            let Some(detail) = self.books.offers.remove(&id) else { continue };
            let Some(agent) = self.books.allocator.offer(id).map(|o| o.agent.clone()) else { continue };
            let now_used = usage.get(&(BUILTIN_FRAMEWORK.to_owned(), agent)).copied().unwrap_or(Quantities::ZERO);
            let used_some = !now_used.fits_in(detail.builtin_used);
            let refuse = if used_some { 0.0 } else { DEFAULT_REFUSE_SECONDS };
            let _ = self.books.allocator.decline(BUILTIN_FRAMEWORK, id, refuse, now_ms);
        }
        if self.frameworks.is_empty() {
            return self.outcome(Vec::new());
        }
        let mut effects = Vec::new();
        let timeout = self.config.frameworks.offer_timeout_ms;
        let expired: Vec<u64> = self
            .books
            .offers
            .iter()
            .filter(|(_, d)| now_ms.saturating_sub(d.made_ms) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(offer) = self.books.allocator.rescind(id) {
                let reason = format!("not used or declined within the offer timeout ({} s)", timeout / 1000);
                effects.push(self.rescinded(offer.framework, id, &reason));
            }
            self.books.offers.remove(&id);
        }
        effects.extend(self.sync_allocator(usage));
        let pending = self.tasks.values().any(|t| t.state == TaskState::Pending && self.jobs.contains_key(&t.job));
        if pending {
            // Revived only from suppressed: a revival clears the filters on agents it left unused.
            if self.books.allocator.is_suppressed(BUILTIN_FRAMEWORK) {
                self.books.allocator.revive(BUILTIN_FRAMEWORK);
            }
        } else {
            self.books.allocator.suppress(BUILTIN_FRAMEWORK);
        }
        self.books.rounds += 1;
        let seed = now_ms ^ self.books.rounds.rotate_left(32);
        let made = self.books.allocator.allocate(now_ms, seed);
        let offered_agents: BTreeSet<&str> = made.iter().map(|o| o.agent.as_str()).collect();
        let mut used_ports = self.ports_in_use(&offered_agents);
        let mut by_framework: BTreeMap<String, Vec<OfferMade>> = BTreeMap::new();
        for offer in made {
            let agent_id = AgentId(offer.agent.clone());
            let Some(agent) = self.agents.get(&agent_id) else { continue };
            let Some(capacity) = &agent.resources else { continue };
            let ports = free_ranges(&capacity.ports, used_ports.entry(agent_id.clone()).or_default());
            if offer.framework == BUILTIN_FRAMEWORK {
                self.books.builtin_offers.push(offer.id);
                let builtin_used = self.books.allocator.used(BUILTIN_FRAMEWORK, &offer.agent);
                self.books.offers.insert(offer.id, OfferDetail { ports: Vec::new(), made_ms: now_ms, builtin_used });
                continue;
            }
            // A round offers each agent once: its ports need not be marked taken for this round.
            let made = OfferMade {
                id: self.books.offer_name(offer.id),
                agent: agent_id,
                hostname: agent.hostname.clone(),
                resources: resources(offer.resources),
                ports: ports.clone(),
                attributes: agent.attributes.clone(),
            };
            self.books.offers.insert(offer.id, OfferDetail { ports, made_ms: now_ms, builtin_used: Quantities::ZERO });
            by_framework.entry(offer.framework).or_default().push(made);
        }
        for (framework, offers) in by_framework {
            effects.push(Effect::Framework { framework, event: FrameworkEvent::Offers(offers) });
        }
        self.outcome(effects)
    }

    fn rescinded(&self, framework: String, id: u64, reason: &str) -> Effect {
        Effect::Framework {
            framework,
            event: FrameworkEvent::Rescind { offer: self.books.offer_name(id), reason: reason.to_owned() },
        }
    }

    /// The ports taken on each agent: by tasks, orphans and outstanding offers.
    /// The ports taken on each of `agents`: by tasks, orphans and outstanding offers. Only
    /// those agents' offers are expanded, port by port: the agents an allocation round offers.
    fn ports_in_use(&self, agents: &BTreeSet<&str>) -> BTreeMap<AgentId, BTreeSet<u16>> {
        let mut used: BTreeMap<AgentId, BTreeSet<u16>> = BTreeMap::new();
        if agents.is_empty() {
            return used;
        }
        for task in self.tasks.values().filter(|t| t.state.is_on_agent()) {
            if let Some(a) = task.assignment.as_ref().filter(|a| agents.contains(a.agent.0.as_str())) {
                used.entry(a.agent.clone()).or_default().extend(a.ports.values().copied());
            }
        }
        for record in self.agents.values().filter(|a| agents.contains(a.id.0.as_str())) {
            for orphan in record.orphans.values() {
                used.entry(record.id.clone()).or_default().extend(orphan.ports.iter().copied());
            }
        }
        for (id, detail) in &self.books.offers {
            if let Some(offer) = self.books.allocator.offer(*id).filter(|o| agents.contains(o.agent.as_str())) {
                let ports = used.entry(AgentId(offer.agent.clone())).or_default();
                for range in &detail.ports {
                    ports.extend(range.begin..=range.end);
                }
            }
        }
        used
    }

    /// What every owner's tasks use on each agent: each framework's (the built-in one's with
    /// the room preemption is making for its tasks), and orphans'. Holds whose task is no longer
    /// waiting, or that are past [`PREEMPTION_HOLD_MS`], are dropped.
    fn usage(&mut self, now_ms: u64) -> BTreeMap<(String, String), Quantities> {
        let mut usage: BTreeMap<(String, String), Quantities> = BTreeMap::new();
        let mut add = |owner: String, agent: &AgentId, used: Quantities| {
            let entry = usage.entry((owner, agent.0.clone())).or_insert(Quantities::ZERO);
            *entry = entry.plus(used);
        };
        for task in self.tasks.values().filter(|t| t.state.is_on_agent()) {
            let Some(a) = &task.assignment else { continue };
            let owner = if is_framework_job(&task.job) { task.job.name.clone() } else { BUILTIN_FRAMEWORK.to_owned() };
            add(owner, &a.agent, quantities(&task.config.task.resources));
        }
        for record in self.agents.values() {
            for orphan in record.orphans.values() {
                add(ORPHANS.to_owned(), &record.id, quantities(&orphan.resources));
            }
        }
        let tasks = &self.tasks;
        self.books.preemption_holds.retain(|task, (_, _, since)| {
            tasks.get(task).is_some_and(|t| t.state == TaskState::Pending)
                && now_ms.saturating_sub(*since) < PREEMPTION_HOLD_MS
        });
        for (agent, needed, _) in self.books.preemption_holds.values() {
            add(BUILTIN_FRAMEWORK.to_owned(), agent, *needed);
        }
        usage
    }

    /// Keeps the room preemption is making on `agent` for `task` from other frameworks.
    pub(crate) fn hold_for_preemptor(&mut self, task: &TaskId, agent: &AgentId, needs: &Resources, now_ms: u64) {
        self.books.preemption_holds.insert(task.clone(), (agent.clone(), quantities(needs), now_ms));
    }

    /// Takes back every outstanding offer on `agent` (lost, or its host draining), telling each
    /// framework why; the agent is offered again once it may be.
    pub(crate) fn rescind_offers_on(&mut self, agent: &AgentId, reason: &str) -> Vec<Effect> {
        let mut effects = Vec::new();
        for offer in self.books.allocator.remove_agent(&agent.0) {
            self.books.offers.remove(&offer.id);
            self.books.builtin_offers.retain(|id| *id != offer.id);
            if offer.framework != BUILTIN_FRAMEWORK {
                effects.push(self.rescinded(offer.framework.clone(), offer.id, reason));
            }
        }
        effects
    }

    /// Tells the allocator the agents that may be offered (registered, not draining or
    /// drained) and what every owner's tasks use on each (`usage`); the offers of agents gone
    /// are rescinded.
    fn sync_allocator(&mut self, usage: BTreeMap<(String, String), Quantities>) -> Vec<Effect> {
        let eligible: BTreeMap<String, Quantities> = self
            .agents
            .values()
            .filter(|a| !matches!(self.host_mode(&a.hostname), MaintenanceMode::Draining | MaintenanceMode::Drained))
            .filter_map(|a| Some((a.id.0.clone(), agent_quantities(a.resources.as_ref()?))))
            .collect();
        let gone: Vec<String> =
            self.books.allocator.agents().filter(|a| !eligible.contains_key(*a)).map(str::to_owned).collect();
        let mut effects = Vec::new();
        for agent in gone {
            effects.extend(self.rescind_offers_on(&AgentId(agent), "its agent is gone or draining"));
        }
        for (agent, total) in &eligible {
            self.books.allocator.add_agent(agent, *total);
        }
        let stale: Vec<(String, String)> = self
            .books
            .allocator
            .usages()
            .filter(|(owner, agent)| !usage.contains_key(&((*owner).to_owned(), (*agent).to_owned())))
            .map(|(o, a)| (o.to_owned(), a.to_owned()))
            .collect();
        for (owner, agent) in stale {
            self.books.allocator.set_used(&owner, &agent, Quantities::ZERO);
        }
        for ((owner, agent), used) in usage {
            self.books.allocator.set_used(&owner, &agent, used);
        }
        effects
    }

    /// What outstanding offers of frameworks other than the built-in one hold, by agent, with
    /// their port ranges: placement counts them as used.
    pub(crate) fn offered_to_others(&self) -> BTreeMap<AgentId, (Resources, Vec<PortRange>)> {
        let mut held: BTreeMap<AgentId, (Quantities, Vec<PortRange>)> = BTreeMap::new();
        for (id, detail) in &self.books.offers {
            let Some(offer) = self.books.allocator.offer(*id) else { continue };
            if offer.framework == BUILTIN_FRAMEWORK {
                continue;
            }
            let entry = held.entry(AgentId(offer.agent.clone())).or_insert((Quantities::ZERO, Vec::new()));
            entry.0 = entry.0.plus(offer.resources);
            entry.1.extend(detail.ports.iter().copied());
        }
        held.into_iter()
            .map(|(agent, (q, ports))| {
                // Rounded up, so placement never counts less than is promised.
                let r = Resources {
                    cpu: q.cpus,
                    ram_mb: q.mem_mb.ceil() as u64,
                    disk_mb: q.disk_mb.ceil() as u64,
                    gpu: q.gpus.ceil() as u64,
                };
                (agent, (r, ports))
            })
            .collect()
    }

    /// Every framework, the built-in one first, as operators see it.
    pub fn frameworks(&self) -> Vec<FrameworkView> {
        let mut views = vec![self.framework_view(BUILTIN_FRAMEWORK)];
        views.extend(self.frameworks.keys().map(|id| self.framework_view(id)));
        views.into_iter().flatten().collect()
    }

    /// One framework, as operators see it.
    pub fn framework_view(&self, id: &str) -> Option<FrameworkView> {
        let builtin = id == BUILTIN_FRAMEWORK;
        let record = self.frameworks.get(id);
        if !builtin && record.is_none() {
            return None;
        }
        let role = self.framework_role(id)?.to_owned();
        let owned = |t: &&ScheduledTask| {
            t.state.is_on_agent()
                && if builtin { !is_framework_job(&t.job) } else { is_framework_job(&t.job) && t.job.name == id }
        };
        let mut allocated = Quantities::ZERO;
        let mut active_tasks = 0;
        for task in self.tasks.values().filter(owned) {
            allocated = allocated.plus(quantities(&task.config.task.resources));
            active_tasks += 1;
        }
        let offers: Vec<OfferMade> = self
            .books
            .offers
            .iter()
            .filter_map(|(number, detail)| {
                let offer = self.books.allocator.offer(*number).filter(|o| o.framework == id)?;
                let agent = self.agents.get(&AgentId(offer.agent.clone()))?;
                Some(OfferMade {
                    id: self.books.offer_name(*number),
                    agent: agent.id.clone(),
                    hostname: agent.hostname.clone(),
                    resources: resources(offer.resources),
                    ports: detail.ports.clone(),
                    attributes: agent.attributes.clone(),
                })
            })
            .collect();
        let offered = offers.iter().fold(Quantities::ZERO, |sum, o| sum.plus(quantities(&o.resources)));
        let total = self
            .agents
            .values()
            .filter_map(|a| a.resources.as_ref())
            .fold(Quantities::ZERO, |sum, r| sum.plus(agent_quantities(r)));
        let weight = self.config.frameworks.weight(&role);
        let connected = builtin || self.books.sessions.contains_key(id);
        Some(FrameworkView {
            id: id.to_owned(),
            name: record.map_or_else(|| "Atoll jobs (built in)".to_owned(), |r| r.name.clone()),
            role,
            weight,
            builtin,
            connected,
            disconnected_since_ms: record.and_then(|r| r.disconnected_ms).filter(|_| !connected),
            failover_timeout_ms: record.map_or(0, |r| r.failover_timeout_ms),
            registered_ms: record.map_or(0, |r| r.registered_ms),
            principal: record.map_or_else(String::new, |r| r.principal.clone()),
            allocated: resources(allocated),
            offered: resources(offered),
            dominant_share: allocated.plus(offered).dominant_share(total) / weight.max(f64::MIN_POSITIVE),
            offers,
            suppressed: self.books.allocator.is_suppressed(id),
            active_tasks,
        })
    }

    /// A framework's tasks kept (active and ended), oldest instance first.
    pub fn framework_tasks(&self, id: &str) -> Vec<&ScheduledTask> {
        let Some(record) = self.frameworks.get(id) else { return Vec::new() };
        let mut tasks = self.job_tasks(&record.job_key(&self.config.cluster), true);
        tasks.sort_by_key(|t| t.instance);
        tasks
    }
}

/// The update for a task's event `index`, with its uuid.
fn update_of(task: &ScheduledTask, index: usize, name: &str) -> TaskUpdate {
    let event = &task.events[index.min(task.events.len() - 1)];
    TaskUpdate {
        task_id: name.to_owned(),
        atoll_task_id: task.id.clone(),
        job: task.job.clone(),
        instance: task.instance,
        state: event.state,
        message: event.message.clone(),
        agent: task.assignment.as_ref().map(|a| a.agent.clone()),
        hostname: task.assignment.as_ref().map(|a| a.hostname.clone()).unwrap_or_default(),
        at_ms: event.at_ms,
        exit_code: if event.state.is_terminal() { task.exit_code } else { None },
        uuid: Some(format!("{}#{index}", task.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ranges_leave_out_the_ports_in_use() {
        let used: BTreeSet<u16> = [31000, 31002, 31003, 31010].into_iter().collect();
        let free = free_ranges(&[PortRange { begin: 31000, end: 31010 }], &used);
        assert_eq!(free, vec![PortRange { begin: 31001, end: 31001 }, PortRange { begin: 31004, end: 31009 }]);
        let edges =
            free_ranges(&[PortRange { begin: 1, end: 3 }, PortRange { begin: 65534, end: 65535 }], &[2, 65535].into());
        assert_eq!(
            edges,
            vec![
                PortRange { begin: 1, end: 1 },
                PortRange { begin: 3, end: 3 },
                PortRange { begin: 65534, end: 65534 }
            ]
        );
        assert_eq!(free_ranges(&[PortRange { begin: 5, end: 5 }], &[5].into()), vec![]);
        assert_eq!(shell_quoted("it's"), r"'it'\''s'");
    }
}

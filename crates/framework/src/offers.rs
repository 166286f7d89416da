//! Matching tasks to offers: [`OfferPacker`] places [`TaskRequest`]s (cpu, RAM, disk, GPUs and
//! named ports) into the offers at hand, first fit or spread, and says what each offer takes
//! and what fits nowhere; [`fit`] does it for one offer. Ports are taken from the offer's free
//! port ranges, lowest first. Packing is all in memory: nothing is sent until the framework
//! launches what was placed.

use std::collections::HashMap;

use atoll_proto::v1::{Offer, Resources, TaskInfo};

/// A task the framework wants to run, before it has an offer: its id, its command (run under
/// `bash -c`) or its custom executor's, what it needs, the names of the ports it wants (the
/// command sees each as `$PORT_NAME`), its environment, and the data for its custom executor.
/// The scheduler refuses a task whose cpu, RAM or disk is not above 0 (its sandbox is held to
/// its disk), and one with both a command and a custom executor.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRequest {
    pub task_id: String,
    /// Empty for a task run by a custom executor.
    pub command: String,
    /// A custom executor's shell command, run instead of `command` as the task's one process;
    /// it speaks the executor API (an [`Executor`](crate::Executor) on an
    /// [`ExecutorDriver`](crate::ExecutorDriver)) and reports the task's state. Empty for a
    /// plain command.
    pub executor_command: String,
    pub resources: Resources,
    pub port_names: Vec<String>,
    pub environment: HashMap<String, String>,
    /// Handed to the custom executor in its LAUNCH event.
    pub data: Vec<u8>,
}

impl TaskRequest {
    /// Task `task_id` running `command` with `resources`, without ports or environment.
    pub fn new(task_id: impl Into<String>, command: impl Into<String>, resources: Resources) -> TaskRequest {
        TaskRequest {
            task_id: task_id.into(),
            command: command.into(),
            executor_command: String::new(),
            resources,
            port_names: Vec::new(),
            environment: HashMap::new(),
            data: Vec::new(),
        }
    }

    /// Task `task_id` run by a custom executor: `executor_command` (a shell command) is the
    /// task's one process, with `resources`, and reports the task's state through the executor
    /// API. Give it data with [`data`](TaskRequest::data).
    pub fn with_executor(
        task_id: impl Into<String>,
        executor_command: impl Into<String>,
        resources: Resources,
    ) -> TaskRequest {
        TaskRequest { executor_command: executor_command.into(), ..TaskRequest::new(task_id, "", resources) }
    }

    /// Hands `data` to the task's custom executor, in its LAUNCH event.
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> TaskRequest {
        self.data = data.into();
        self
    }

    /// Also wants a port named `name` (once, however often it is asked for).
    pub fn port(mut self, name: impl Into<String>) -> TaskRequest {
        let name = name.into();
        if !self.port_names.contains(&name) {
            self.port_names.push(name);
        }
        self
    }

    /// Also sets the environment variable `name` to `value`.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> TaskRequest {
        self.environment.insert(name.into(), value.into());
        self
    }

    fn into_task_info(self, ports: HashMap<String, u32>) -> TaskInfo {
        TaskInfo {
            task_id: self.task_id,
            resources: Some(self.resources),
            command: self.command,
            ports,
            environment: self.environment,
            executor_command: self.executor_command,
            data: self.data,
        }
    }
}

/// How [`OfferPacker`] chooses among the offers a task fits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// The first offer, in the order given, with room: fills offers one after another and
    /// leaves the rest whole.
    #[default]
    FirstFit,
    /// The offer holding the fewest tasks so far (the earlier on a tie): spreads tasks over
    /// agents.
    Spread,
}

/// Places tasks into offers, in the order the tasks are given, all in memory.
#[derive(Clone, Debug, Default)]
pub struct OfferPacker {
    strategy: Strategy,
    max_tasks_per_offer: Option<usize>,
}

/// The tasks one offer takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    pub offer_id: String,
    pub agent_id: String,
    pub hostname: String,
    /// Ready to launch, ports assigned; empty when the offer takes nothing.
    pub tasks: Vec<TaskInfo>,
}

/// What [`OfferPacker::pack`] made of the offers and tasks.
#[derive(Clone, Debug, PartialEq)]
pub struct Packing {
    /// One per offer, in the order the offers were given, those taking nothing included.
    pub placements: Vec<Placement>,
    /// The tasks no offer had room for, in the order given.
    pub unplaced: Vec<TaskRequest>,
}

impl Packing {
    /// The ids of the offers that take no task: those to decline.
    pub fn unused_offer_ids(&self) -> Vec<String> {
        self.placements.iter().filter(|p| p.tasks.is_empty()).map(|p| p.offer_id.clone()).collect()
    }
}

impl OfferPacker {
    /// First fit ([`Strategy::FirstFit`]), as many tasks per offer as fit.
    pub fn first_fit() -> OfferPacker {
        OfferPacker { strategy: Strategy::FirstFit, max_tasks_per_offer: None }
    }

    /// Spread ([`Strategy::Spread`]), as many tasks per offer as fit.
    pub fn spread() -> OfferPacker {
        OfferPacker { strategy: Strategy::Spread, max_tasks_per_offer: None }
    }

    /// At most `limit` tasks in any one offer.
    pub fn max_tasks_per_offer(mut self, limit: usize) -> OfferPacker {
        self.max_tasks_per_offer = Some(limit);
        self
    }

    /// Places each of `tasks`, in order, into one of `offers` with room for it.
    pub fn pack(&self, offers: &[Offer], tasks: Vec<TaskRequest>) -> Packing {
        let mut rooms: Vec<Room> = offers.iter().map(Room::of).collect();
        let mut placements: Vec<Placement> = offers
            .iter()
            .map(|offer| Placement {
                offer_id: offer.id.clone(),
                agent_id: offer.agent_id.clone(),
                hostname: offer.hostname.clone(),
                tasks: Vec::new(),
            })
            .collect();
        let mut unplaced = Vec::new();
        for task in tasks {
            let need = Need::of(&task);
            let open = |(index, room): &(usize, &Room)| {
                room.holds(&need) && self.max_tasks_per_offer.is_none_or(|limit| placements[*index].tasks.len() < limit)
            };
            let candidates = rooms.iter().enumerate().filter(open);
            let chosen = match self.strategy {
                Strategy::FirstFit => candidates.map(|(index, _)| index).next(),
                // `min_by_key` keeps the first of equals: the earlier offer on a tie.
                Strategy::Spread => {
                    candidates.map(|(index, _)| index).min_by_key(|index| placements[*index].tasks.len())
                }
            };
            match chosen {
                Some(index) => {
                    let ports = rooms[index].take(&need, &task.port_names);
                    placements[index].tasks.push(task.into_task_info(ports));
                }
                None => unplaced.push(task),
            }
        }
        Packing { placements, unplaced }
    }
}

/// Places `tasks`, in order, into `offer` while they fit (first fit): the tasks it takes, ready to
/// launch, and those it has no room for.
pub fn fit(offer: &Offer, tasks: Vec<TaskRequest>) -> (Vec<TaskInfo>, Vec<TaskRequest>) {
    let mut packing = OfferPacker::first_fit().pack(std::slice::from_ref(offer), tasks);
    let taken = packing.placements.pop().map(|p| p.tasks).unwrap_or_default();
    (taken, packing.unplaced)
}

/// Thousandths of a cpu: whole numbers, so that ten tasks of 0.1 fill one cpu exactly.
fn millicpus_needed(cpu: f64) -> u64 {
    // A request is rounded up, an offer down (below), so rounding never overfills an offer.
    (cpu * 1000.0 - 1e-6).ceil().max(0.0) as u64
}

fn millicpus_offered(cpu: f64) -> u64 {
    (cpu * 1000.0 + 1e-6).floor().max(0.0) as u64
}

/// What a task needs, in the units offers are counted in.
struct Need {
    millicpus: u64,
    ram_mb: u64,
    disk_mb: u64,
    gpu: u64,
    ports: usize,
}

impl Need {
    fn of(task: &TaskRequest) -> Need {
        let r = &task.resources;
        Need {
            millicpus: millicpus_needed(r.cpu),
            ram_mb: r.ram_mb,
            disk_mb: r.disk_mb,
            gpu: r.gpu,
            ports: task.port_names.len(),
        }
    }
}

/// What is left of an offer.
struct Room {
    millicpus: u64,
    ram_mb: u64,
    disk_mb: u64,
    gpu: u64,
    /// Free ports as inclusive ranges, the taken ones cut from their fronts.
    ports: Vec<(u32, u32)>,
}

impl Room {
    fn of(offer: &Offer) -> Room {
        let resources = offer.resources.unwrap_or_default();
        let mut ports: Vec<(u32, u32)> =
            offer.ports.iter().filter(|r| r.begin <= r.end).map(|r| (r.begin, r.end)).collect();
        ports.sort_unstable();
        Room {
            millicpus: millicpus_offered(resources.cpu),
            ram_mb: resources.ram_mb,
            disk_mb: resources.disk_mb,
            gpu: resources.gpu,
            ports,
        }
    }

    fn free_ports(&self) -> u64 {
        self.ports.iter().map(|(begin, end)| u64::from(end - begin) + 1).sum()
    }

    fn holds(&self, need: &Need) -> bool {
        need.millicpus <= self.millicpus
            && need.ram_mb <= self.ram_mb
            && need.disk_mb <= self.disk_mb
            && need.gpu <= self.gpu
            && need.ports as u64 <= self.free_ports()
    }

    /// Takes what `need` asks for (it must hold it) and the lowest free port for each name.
    fn take(&mut self, need: &Need, port_names: &[String]) -> HashMap<String, u32> {
        self.millicpus -= need.millicpus;
        self.ram_mb -= need.ram_mb;
        self.disk_mb -= need.disk_mb;
        self.gpu -= need.gpu;
        let mut ports = HashMap::new();
        for name in port_names {
            let Some(range) = self.ports.first_mut() else { break };
            ports.insert(name.clone(), range.0);
            if range.0 == range.1 {
                self.ports.remove(0);
            } else {
                range.0 += 1;
            }
        }
        ports
    }
}

#[cfg(test)]
mod tests {
    use atoll_proto::v1::PortRange;

    use super::*;

    fn offer(id: &str, cpu: f64, ram_mb: u64, ports: &[(u32, u32)]) -> Offer {
        Offer {
            id: id.to_owned(),
            agent_id: format!("agent-of-{id}"),
            hostname: format!("host-of-{id}"),
            resources: Some(Resources { cpu, ram_mb, disk_mb: 1024, gpu: 0 }),
            ports: ports.iter().map(|&(begin, end)| PortRange { begin, end }).collect(),
            attributes: HashMap::new(),
        }
    }

    fn task(id: &str, cpu: f64, ram_mb: u64) -> TaskRequest {
        TaskRequest::new(id, format!("echo {id}"), Resources { cpu, ram_mb, disk_mb: 10, gpu: 0 })
    }

    fn ids(tasks: &[TaskInfo]) -> Vec<&str> {
        tasks.iter().map(|t| t.task_id.as_str()).collect()
    }

    fn unplaced_ids(packing: &Packing) -> Vec<&str> {
        packing.unplaced.iter().map(|t| t.task_id.as_str()).collect()
    }

    #[test]
    fn first_fit_fills_one_offer_before_the_next_and_keeps_what_fits_nowhere() {
        let offers = [offer("a", 1.0, 512, &[]), offer("b", 1.0, 512, &[])];
        let tasks = (0..5).map(|i| task(&format!("t{i}"), 0.4, 100)).collect();
        let packing = OfferPacker::first_fit().pack(&offers, tasks);
        assert_eq!(ids(&packing.placements[0].tasks), ["t0", "t1"]);
        assert_eq!(ids(&packing.placements[1].tasks), ["t2", "t3"]);
        assert_eq!(unplaced_ids(&packing), ["t4"], "0.4 more cpu fits in neither 0.2 left");
        assert_eq!(packing.placements[1].agent_id, "agent-of-b");
        assert_eq!(
            packing.placements[1].tasks[0].resources,
            Some(Resources { cpu: 0.4, ram_mb: 100, disk_mb: 10, gpu: 0 })
        );
        assert!(packing.unused_offer_ids().is_empty());
    }

    #[test]
    fn spread_takes_turns_over_offers_and_a_limit_caps_each_offer() {
        let offers = [offer("a", 4.0, 4096, &[]), offer("b", 4.0, 4096, &[]), offer("c", 0.1, 4096, &[])];
        let tasks: Vec<TaskRequest> = (0..5).map(|i| task(&format!("t{i}"), 0.5, 10)).collect();
        let packing = OfferPacker::spread().pack(&offers, tasks.clone());
        assert_eq!(ids(&packing.placements[0].tasks), ["t0", "t2", "t4"]);
        assert_eq!(ids(&packing.placements[1].tasks), ["t1", "t3"]);
        assert!(packing.placements[2].tasks.is_empty(), "too small for any");
        assert_eq!(packing.unused_offer_ids(), ["c"]);
        let capped = OfferPacker::first_fit().max_tasks_per_offer(2).pack(&offers, tasks);
        assert_eq!(ids(&capped.placements[0].tasks), ["t0", "t1"]);
        assert_eq!(ids(&capped.placements[1].tasks), ["t2", "t3"]);
        assert_eq!(unplaced_ids(&capped), ["t4"]);
    }

    #[test]
    fn every_resource_limits_and_a_small_task_after_a_big_one_still_fits() {
        let mut gpu_offer = offer("g", 8.0, 1000, &[]);
        gpu_offer.resources.as_mut().unwrap().gpu = 1;
        gpu_offer.resources.as_mut().unwrap().disk_mb = 100;
        let mut gpu_task = task("gpu", 1.0, 10);
        gpu_task.resources.gpu = 1;
        let mut disk_task = task("disk", 1.0, 10);
        disk_task.resources.disk_mb = 200;
        let tasks = vec![
            task("ram", 1.0, 2000),
            disk_task,
            gpu_task.clone(),
            gpu_task.clone().port("x"),
            task("small", 1.0, 10),
        ];
        let (taken, left) = fit(&gpu_offer, tasks);
        assert_eq!(ids(&taken), ["gpu", "small"], "RAM, disk, the second GPU and a port are short");
        let left: Vec<&str> = left.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(left, ["ram", "disk", "gpu"]);
    }

    #[test]
    fn named_ports_come_from_the_free_ranges_lowest_first_and_never_twice() {
        let offers = [offer("a", 4.0, 4096, &[(9000, 9001), (8000, 8000)])];
        let web = task("web", 0.1, 10).port("http").port("admin").port("http").env("MODE", "fast");
        let tasks = vec![web, task("db", 0.1, 10).port("pg"), task("cache", 0.1, 10).port("redis")];
        let packing = OfferPacker::first_fit().pack(&offers, tasks);
        let placed = &packing.placements[0].tasks;
        assert_eq!(ids(placed), ["web", "db"]);
        assert_eq!(placed[0].ports, HashMap::from([("http".to_owned(), 8000), ("admin".to_owned(), 9000)]));
        assert_eq!(placed[0].environment, HashMap::from([("MODE".to_owned(), "fast".to_owned())]));
        assert_eq!(placed[1].ports, HashMap::from([("pg".to_owned(), 9001)]));
        assert_eq!(unplaced_ids(&packing), ["cache"], "three ports offered, three taken");
    }

    #[test]
    fn a_task_for_a_custom_executor_carries_its_command_and_data_and_no_shell_command() {
        let resources = Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 };
        let echo = TaskRequest::with_executor("echo", "/opt/bin/echo-executor --loud", resources)
            .data(b"hello".as_slice())
            .port("http")
            .env("MODE", "test");
        let (taken, _) = fit(&offer("a", 1.0, 100, &[(7000, 7000)]), vec![echo, task("plain", 0.1, 1)]);
        assert_eq!(ids(&taken), ["echo", "plain"]);
        let (custom, plain) = (&taken[0], &taken[1]);
        assert_eq!((custom.command.as_str(), custom.executor_command.as_str()), ("", "/opt/bin/echo-executor --loud"));
        assert_eq!(custom.data, b"hello");
        assert_eq!(custom.ports, HashMap::from([("http".to_owned(), 7000)]));
        assert_eq!(custom.environment, HashMap::from([("MODE".to_owned(), "test".to_owned())]));
        assert_eq!((plain.command.as_str(), plain.executor_command.as_str()), ("echo plain", ""));
        assert!(plain.data.is_empty());
    }

    #[test]
    fn cpu_is_counted_in_thousandths_so_tenths_fill_a_cpu_exactly_and_never_overfill() {
        let tasks: Vec<TaskRequest> = (0..11).map(|i| task(&format!("t{i}"), 0.1, 1)).collect();
        let (taken, left) = fit(&offer("a", 1.0, 100, &[]), tasks);
        assert_eq!((taken.len(), left.len()), (10, 1));
        let (taken, _) = fit(&offer("a", 0.3, 100, &[]), vec![task("x", 0.1, 1), task("y", 0.2, 1)]);
        assert_eq!(taken.len(), 2, "0.1 + 0.2 fills 0.3 though their f64 sum is above it");
        let (taken, _) = fit(&offer("a", 0.2999, 100, &[]), vec![task("x", 0.3, 1)]);
        assert!(taken.is_empty(), "an offer is rounded down");
    }

    #[test]
    fn an_offer_without_resources_or_with_a_backwards_range_offers_nothing() {
        let mut empty = offer("e", 0.0, 0, &[(20, 10)]);
        empty.resources = None;
        let nothing = |id: &str| TaskRequest::new(id, "true", Resources::default());
        let (taken, left) = fit(&empty, vec![nothing("t").port("p"), nothing("u")]);
        assert_eq!(ids(&taken), ["u"], "a task asking for nothing fits, one wanting a port does not");
        assert_eq!(left.len(), 1);
    }
}

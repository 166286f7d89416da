//! The frameworks' pages: every framework sharing the cluster (Atoll's own job scheduler,
//! `atoll-jobs`, first) with its role, weight, subscription, what its tasks hold, what is
//! offered to it and its dominant share; and one framework in detail, with its outstanding
//! offers and the tasks it keeps, each linked to its instance page and its live log. The same
//! views `atoll framework list` and `show` print (`ClusterState::frameworks`, `framework_view`,
//! `framework_tasks`).

use std::fmt::Write;

use atoll_model::framework::{FRAMEWORK_ENVIRONMENT, framework_task_id, is_framework_job};
use atoll_model::{JobKey, PortRange, Resources};
use atoll_state::{ClusterState, FrameworkView};

use super::{escape, instance_path, percent_encode, state_cell};

/// `/frameworks/ID`, the page of framework `id`.
fn framework_path(id: &str) -> String {
    format!("/frameworks/{}", escape(&percent_encode(id)))
}

/// A link to framework `id`'s page.
fn framework_link(id: &str) -> String {
    format!(r#"<a href="{}">{}</a>"#, framework_path(id), escape(id))
}

/// A cpu count without the noise of floating point: at most three decimals, trailing zeros
/// dropped.
fn cpus(cpu: f64) -> String {
    let fixed = format!("{cpu:.3}");
    fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// cpu and RAM, as the list shows what a framework holds.
fn cpu_and_ram(r: &Resources) -> String {
    format!("{} cpu, {} MB", cpus(r.cpu), r.ram_mb)
}

/// Every resource, as an offer or a task has them (GPUs only when there are some).
fn all_resources(r: &Resources) -> String {
    let mut text = format!("{} cpu, {} MB RAM, {} MB disk", cpus(r.cpu), r.ram_mb, r.disk_mb);
    if r.gpu > 0 {
        let _ = write!(text, ", {} GPU", r.gpu);
    }
    text
}

fn port_ranges(ports: &[PortRange]) -> String {
    if ports.is_empty() {
        return "—".to_owned();
    }
    let ranges: Vec<String> = ports
        .iter()
        .map(|p| if p.begin == p.end { p.begin.to_string() } else { format!("{}-{}", p.begin, p.end) })
        .collect();
    ranges.join(", ")
}

/// A duration in the largest unit it is a whole number of (days, hours, minutes), or seconds.
fn duration_text(ms: u64) -> String {
    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    match ms {
        0 => "0 s".to_owned(),
        ms if ms % DAY == 0 => format!("{} d", ms / DAY),
        ms if ms % HOUR == 0 => format!("{} h", ms / HOUR),
        ms if ms % MINUTE == 0 => format!("{} min", ms / MINUTE),
        ms => format!("{} s", ms as f64 / 1000.0),
    }
}

/// Subscribed (and whether suppressed), or away since when and until when its tasks wait.
fn subscription_text(f: &FrameworkView) -> String {
    let suppressed = if f.suppressed { ", suppressed" } else { "" };
    match (f.builtin, f.connected, f.disconnected_since_ms) {
        (true, _, _) => format!("built in{suppressed}"),
        (false, true, _) => format!("subscribed{suppressed}"),
        (false, false, Some(since)) => format!(
            "away since {}; torn down at {} unless it subscribes again",
            atoll_cron::format_utc(since),
            atoll_cron::format_utc(since.saturating_add(f.failover_timeout_ms))
        ),
        (false, false, None) => "away".to_owned(),
    }
}

/// The dominant share as a percentage beside a small bar (full at 100%; a share over its
/// role's weight may pass it).
fn share_cell(share: f64) -> String {
    let percent = share * 100.0;
    format!(
        r#"<span class="share" title="{percent:.1}%"><span style="width: {:.0}%"></span></span> {percent:.1}%"#,
        percent.clamp(0.0, 100.0)
    )
}

/// The frameworks page's main part: every framework, the built-in one first.
pub fn frameworks(state: &ClusterState) -> String {
    let mut out = String::from(
        "<h1>Frameworks</h1><p class=\"muted\">The schedulers sharing the cluster through offers, by weighted \
         dominant-resource fairness over roles. The dominant share counts what a framework's tasks hold and \
         what is offered to it, over its role's weight.</p>\
         <table><tr><th>Framework</th><th>Role</th><th>Weight</th><th>State</th><th>Active tasks</th>\
         <th>Allocated</th><th>Offers outstanding</th><th>Dominant share</th></tr>",
    );
    for f in state.frameworks() {
        let builtin = if f.builtin { r#" <span class="tag">built in</span>"# } else { "" };
        let _ = write!(
            out,
            r#"<tr data-framework="{id}"><td>{link}{builtin}<br><span class="muted">{name}</span></td><td>{role}</td><td>{weight}</td><td>{state}</td><td>{tasks}</td><td>{allocated}</td><td>{offers} ({offered})</td><td>{share}</td></tr>"#,
            id = escape(&f.id),
            link = framework_link(&f.id),
            name = escape(&f.name),
            role = escape(&f.role),
            weight = f.weight,
            state = escape(&subscription_text(&f)),
            tasks = f.active_tasks,
            allocated = cpu_and_ram(&f.allocated),
            offers = f.offers.len(),
            offered = cpu_and_ram(&f.offered),
            share = share_cell(f.dominant_share),
        );
    }
    out.push_str("</table>");
    out
}

/// A framework page's main part: its details, its outstanding offers and the tasks it keeps;
/// `None` for a framework the scheduler does not know.
pub fn framework(state: &ClusterState, id: &str) -> Option<String> {
    let f = state.framework_view(id)?;
    let cluster = &state.config().cluster;
    let mut out = format!(
        r#"<h1>Framework {}</h1><p><a href="/frameworks">All frameworks</a></p><table class="details">"#,
        escape(&f.id)
    );
    let mut row = |label: &str, value: String| {
        let _ = write!(out, "<tr><th>{label}</th><td>{value}</td></tr>");
    };
    let tag = if f.builtin { r#" <span class="tag">built in</span>"# } else { "" };
    row("Name", format!("{}{tag}", escape(&f.name)));
    row("Role", format!(r#"<a href="/roles/{}/{}">{}</a>"#, escape(cluster), escape(&f.role), escape(&f.role)));
    row("Weight", f.weight.to_string());
    row("State", escape(&subscription_text(&f)));
    if !f.builtin {
        row("Subscribed by", escape(if f.principal.is_empty() { "—" } else { &f.principal }));
        row("Registered", atoll_cron::format_utc(f.registered_ms));
        row("Failover timeout", duration_text(f.failover_timeout_ms));
    }
    row("Active tasks", f.active_tasks.to_string());
    row("Allocated", all_resources(&f.allocated));
    let offers = match f.offers.len() {
        1 => "1 offer".to_owned(),
        n => format!("{n} offers"),
    };
    row("Offered", format!("{} in {offers}", all_resources(&f.offered)));
    row("Dominant share", share_cell(f.dominant_share));
    out.push_str("</table><h2>Outstanding offers</h2>");
    if f.offers.is_empty() {
        out.push_str("<p class=\"muted\">No offers outstanding.</p>");
    } else {
        out.push_str("<table><tr><th>Offer</th><th>Host</th><th>Agent</th><th>Resources</th><th>Ports</th></tr>");
        for offer in &f.offers {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&offer.id),
                escape(&offer.hostname),
                escape(&offer.agent.0),
                all_resources(&offer.resources),
                port_ranges(&offer.ports),
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Tasks</h2>");
    if f.builtin {
        out.push_str(r#"<p>Its tasks are the jobs' tasks: see <a href="/">the cluster</a>.</p>"#);
        return Some(out);
    }
    let tasks = state.framework_tasks(id);
    if tasks.is_empty() {
        out.push_str("<p class=\"muted\">No tasks kept.</p>");
        return Some(out);
    }
    let _ = write!(
        out,
        "<p class=\"muted\">Atoll tasks of job key <code>{cluster}/{role}/{env}/{id}</code>, numbered as \
         instances: <code>atoll task logs {cluster}/{role}/{env}/{id}/INSTANCE</code> reads one's output.</p>\
         <table><tr><th>Task</th><th>Instance</th><th>State</th><th>Host</th><th>Resources</th><th>Message</th>\
         <th>Logs</th></tr>",
        cluster = escape(cluster),
        role = escape(&f.role),
        env = FRAMEWORK_ENVIRONMENT,
        id = escape(&f.id),
    );
    for task in tasks {
        let path = instance_path(&task.job, task.instance);
        let _ = write!(
            out,
            r#"<tr data-task="{name}"><td><a href="{path}">{name}</a></td><td>{instance}</td><td>{state}</td><td>{host}</td><td>{resources}</td><td>{message}</td><td><a href="{path}/logs?stream=stdout">stdout</a> <a href="{path}/logs?stream=stderr">stderr</a></td></tr>"#,
            name = escape(&framework_task_id(&task.id, &task.job, task.instance)),
            instance = task.instance,
            state = state_cell(task.state),
            host = escape(task.assignment.as_ref().map_or("—", |a| a.hostname.as_str())),
            resources = all_resources(&task.config.task.resources),
            message = escape(task.events.last().map_or("", |e| e.message.as_str())),
        );
    }
    out.push_str("</table>");
    Some(out)
}

/// What a "Not found" page says of an unknown framework id.
pub fn unknown_framework(id: &str) -> String {
    format!(
        "<h1>Not found</h1><p>No framework {} is known to the scheduler: it never subscribed, or it was torn \
         down, or it stayed away past its failover timeout. See <a href=\"/frameworks\">the frameworks</a>.</p>",
        escape(id)
    )
}

/// For a framework's job key, a line naming the framework (linked while the scheduler knows
/// it) and the framework's own id of the newest task of `instance`, if given; nothing for an
/// Aurora job.
pub(super) fn framework_note(state: &ClusterState, key: &JobKey, instance: Option<u32>) -> String {
    if !is_framework_job(key) {
        return String::new();
    }
    let framework = if state.framework_role(&key.name) == Some(key.role.as_str()) {
        framework_link(&key.name)
    } else {
        format!("{} (no longer known)", escape(&key.name))
    };
    let task = instance.and_then(|instance| {
        state
            .job_tasks(key, true)
            .into_iter()
            .find(|t| t.instance == instance)
            .map(|t| format!(" as its task <code>{}</code>", escape(&framework_task_id(&t.id, key, instance))))
    });
    match task {
        Some(task) => format!("<p>Launched by framework {framework}{task}.</p>"),
        None => format!("<p>The tasks of framework {framework}.</p>"),
    }
}

#[cfg(test)]
mod tests {
    use atoll_model::{AgentId, TaskState};
    use atoll_state::{Effect, FrameworkEvent, Launch, Registration, StateConfig, StatusReport, Subscription};

    use super::*;
    use crate::pages::{instance, job, logs_page};

    const FRAMEWORK: &str = "fanout-1a2b";

    /// Two agents of 2 cpus and 1024 MB; framework `fanout` (role `www-data`, subscribed by
    /// `principal`) got an offer of each, and used the first for task `shard-0`, RUNNING with
    /// `message`.
    fn state_with_framework(principal: &str, message: &str) -> ClusterState {
        let mut state = ClusterState::new(StateConfig::new("devcluster"));
        for n in 1..=2 {
            let registration = Registration {
                incarnation: None,
                id: AgentId(format!("agent-{n}")),
                hostname: format!("host-{n}"),
                resources: "cpus:2;mem:1024;disk:1024;ports:[31000-31009]".parse().expect("resources"),
                attributes: Default::default(),
                tasks: Vec::new(),
            };
            let _ = state.register_agent(registration, 0).expect("registered");
        }
        let subscription = Subscription {
            framework_id: None,
            name: "fanout".into(),
            role: "www-data".into(),
            failover_timeout_ms: Some(120_000),
            principal: principal.into(),
            suppressed: false,
        };
        let _ = state.subscribe_framework(subscription, FRAMEWORK, "stream-1", 1).expect("subscribed");
        let mut offers: Vec<_> = state
            .allocation_round(2)
            .effects
            .into_iter()
            .filter_map(|effect| match effect {
                Effect::Framework { event: FrameworkEvent::Offers(made), .. } => Some(made),
                _ => None,
            })
            .flatten()
            .collect();
        offers.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        assert_eq!(offers.len(), 2, "an offer of each agent: {offers:?}");
        let launch = Launch {
            task_id: "shard-0".into(),
            resources: Resources { cpu: 0.5, ram_mb: 64, disk_mb: 64, gpu: 0 },
            command: "sleep 60".into(),
            ports: [("http".to_owned(), 31003)].into_iter().collect(),
            environment: Default::default(),
            executor_command: String::new(),
            data: Vec::new(),
        };
        let (ids, _) = state
            .accept_offers(FRAMEWORK, "stream-1", std::slice::from_ref(&offers[0].id), vec![launch], 0.0, 3)
            .expect("accepted");
        let running =
            StatusReport { state: TaskState::Running, message: message.into(), exit_code: None, sandbox: None };
        let _ = state.update_status(&offers[0].agent, &ids[0], running, 4);
        state
    }

    fn framework_key() -> JobKey {
        JobKey::new("devcluster", "www-data", "framework", FRAMEWORK).expect("a key")
    }

    #[test]
    fn the_list_shows_the_builtin_framework_first_then_each_with_its_holdings_offers_and_share() {
        let mut state = state_with_framework("alice", "running");
        let list = frameworks(&state);
        let builtin = list.find(r#"data-framework="atoll-jobs""#).expect("the built-in framework listed");
        let row = list.find(&format!(r#"data-framework="{FRAMEWORK}""#)).expect("the framework listed");
        assert!(builtin < row, "the built-in one first: {list}");
        assert!(
            list.contains(r#"<a href="/frameworks/atoll-jobs">atoll-jobs</a> <span class="tag">built in</span>"#),
            "{list}"
        );
        let row = &list[row..];
        for expected in [
            r#"<a href="/frameworks/fanout-1a2b">fanout-1a2b</a><br><span class="muted">fanout</span>"#,
            "<td>www-data</td><td>1</td><td>subscribed</td><td>1</td><td>0.5 cpu, 64 MB</td>",
            // The other agent's offer is outstanding; (0.5 + 2) of 4 cpus is the dominant share.
            "<td>1 (2 cpu, 1024 MB)</td>",
            "62.5%",
        ] {
            assert!(row.contains(expected), "{expected} in {row}");
        }
        let _ = state.framework_disconnected(FRAMEWORK, "stream-1", 10);
        let list = frameworks(&state);
        assert!(list.contains("away since 1970-01-01"), "{list}");
    }

    #[test]
    fn a_framework_page_shows_its_offers_and_its_tasks_linked_to_their_instance_and_logs() {
        let mut state = state_with_framework("alice", "running");
        let page = framework(&state, FRAMEWORK).expect("a known framework");
        for expected in [
            "<h1>Framework fanout-1a2b</h1>",
            r#"<a href="/roles/devcluster/www-data">www-data</a>"#,
            "<th>Subscribed by</th><td>alice</td>",
            "<th>Failover timeout</th><td>2 min</td>",
            "<th>Offered</th><td>2 cpu, 1024 MB RAM, 1024 MB disk in 1 offer</td>",
            "<td>host-2</td><td>agent-2</td><td>2 cpu, 1024 MB RAM, 1024 MB disk</td><td>31000-31009</td>",
            r#"<td><a href="/jobs/devcluster/www-data/framework/fanout-1a2b/0">shard-0</a></td><td>0</td>"#,
            r#"<span class="state RUNNING">RUNNING</span></td><td>host-1</td><td>0.5 cpu, 64 MB RAM, 64 MB disk</td>"#,
            r#"<a href="/jobs/devcluster/www-data/framework/fanout-1a2b/0/logs?stream=stdout">stdout</a>"#,
            "atoll task logs devcluster/www-data/framework/fanout-1a2b/INSTANCE",
        ] {
            assert!(page.contains(expected), "{expected} in {page}");
        }
        let builtin = framework(&state, "atoll-jobs").expect("the built-in framework");
        assert!(
            builtin.contains(r#"built in</span>"#) && builtin.contains("Its tasks are the jobs' tasks"),
            "{builtin}"
        );
        assert!(!builtin.contains("Failover timeout"), "{builtin}");
        assert!(framework(&state, "nobody-1").is_none());
        // The task is an instance without a job record: its instance, logs and job pages work,
        // naming the framework.
        let key = framework_key();
        let history = instance(&state, &key, 0).expect("the task's instance page");
        assert!(
            history.contains(
                r#"Launched by framework <a href="/frameworks/fanout-1a2b">fanout-1a2b</a> as its task <code>shard-0</code>"#
            ),
            "{history}"
        );
        assert!(history.contains("Launched by framework fanout-1a2b on host-1"), "its ASSIGNED event: {history}");
        let logs = logs_page(&state, &key, 0, &Default::default()).expect("the task's logs page");
        assert!(
            logs.contains(
                "data-source=\"/ui/logs/devcluster/www-data/framework/fanout-1a2b/0?stream=stdout&amp;process=task\""
            ),
            "{logs}"
        );
        let instances = job(&state, &key, 5).expect("the framework's job key is known from its tasks");
        assert!(instances.contains("The tasks of framework <a href=\"/frameworks/fanout-1a2b\">"), "{instances}");
        // Torn down, the framework is gone; its task is kept, and names it without a link.
        let _ = state.teardown_framework(FRAMEWORK, None, "Torn down by an operator", 6).expect("torn down");
        assert!(framework(&state, FRAMEWORK).is_none());
        let history = instance(&state, &key, 0).expect("the task is kept");
        assert!(history.contains("framework fanout-1a2b (no longer known) as its task"), "{history}");
    }

    #[test]
    fn what_subscribers_and_agents_wrote_is_escaped() {
        let state = state_with_framework("<alice & bob>", "<script>alert('up')</script>");
        let page = framework(&state, FRAMEWORK).expect("a known framework");
        assert!(page.contains("<td>&lt;alice &amp; bob&gt;</td>"), "{page}");
        assert!(page.contains("<td>&lt;script&gt;alert(&#39;up&#39;)&lt;/script&gt;</td>"), "{page}");
        assert!(!page.contains("<script>") && !page.contains("<alice"), "{page}");
        let unknown = unknown_framework("<img src=x>");
        assert!(unknown.contains("No framework &lt;img src=x&gt; is known") && !unknown.contains("<img"), "{unknown}");
    }

    #[test]
    fn quantities_are_written_for_people() {
        assert_eq!((cpus(0.1 + 0.2), cpus(2.0), cpus(0.125)), ("0.3".to_owned(), "2".to_owned(), "0.125".to_owned()));
        assert_eq!(
            [0, 604_800_000, 7_200_000, 120_000, 1_500].map(duration_text),
            ["0 s", "7 d", "2 h", "2 min", "1.5 s"].map(str::to_owned)
        );
        let ports = [PortRange { begin: 31000, end: 31009 }, PortRange { begin: 31020, end: 31020 }];
        assert_eq!(port_ranges(&ports), "31000-31009, 31020");
        assert!(share_cell(1.5).contains("width: 100%") && share_cell(1.5).contains("150.0%"));
    }
}

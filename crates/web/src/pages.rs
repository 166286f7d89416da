//! The web UI's pages, rendered on the server from the state: the cluster (agents, jobs, hosts
//! in maintenance, why tasks wait), a job (its instances with state, host, config version, ports
//! and pending reason, its update under way, a cron job's next runs) and an instance (every
//! state its kept tasks went through, with times, hosts and messages), and an instance's live
//! log (followed over `/ui/logs`, as `atoll task logs -f` follows it), and the frameworks
//! sharing the cluster (`frameworks`: the list, and one framework with its offers and tasks,
//! whose instance and logs pages are these same ones). Each page is plain HTML
//! with a few lines of script and no build step: it opens the scheduler's event stream as
//! server-sent events (`/ui/events`) and, at each event of what it shows, fetches its own main
//! part again and puts it in place, so it stays current without reloading.
//!
//! The rendering is pure: each function turns the state into text.

mod frameworks;

use std::fmt::Write;

use atoll_model::{JobKey, JobKeyPrefix, MaintenanceMode, ResourceAggregate, TaskState};
use atoll_state::ClusterState;

pub use frameworks::{framework, frameworks, unknown_framework};

/// How a page's text is escaped where it holds anything a user wrote.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `main` inside the layout, watching the events of `scope` (a cluster or a job
/// key) to redraw.
pub fn page(title: &str, scope: &str, main: &str) -> String {
    layout(title, &format!(r#"<main id="main" data-scope="{}">{main}</main>"#, escape(scope)), REDRAW_SCRIPT)
}

/// The layout around `body` (the page's `main`), with `script` at its end.
fn layout(title: &str, body: &str, script: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Atoll</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }}
header {{ background: #17324d; color: #fff; padding: 8px 20px; display: flex; gap: 20px; align-items: baseline; }}
header a {{ color: #fff; text-decoration: none; }} header .brand {{ font-weight: 700; font-size: 16px; }}
main {{ padding: 16px 20px; max-width: 1200px; }}
h1 {{ font-size: 20px; margin: 0 0 12px; }} h2 {{ font-size: 16px; margin: 20px 0 8px; }}
table {{ border-collapse: collapse; background: #fff; width: 100%; }}
th, td {{ text-align: left; padding: 4px 10px; border-bottom: 1px solid #e3e6eb; vertical-align: top; }}
th {{ background: #eef1f5; font-weight: 600; }}
.state {{ font-weight: 600; }} .RUNNING, .FINISHED {{ color: #1d7a3a; }} .FAILED, .LOST, .error {{ color: #b3261e; }}
.PENDING, .THROTTLED, .ASSIGNED, .STARTING, .PARTITIONED {{ color: #8a5a00; }} .muted {{ color: #6b7280; }}
.choices a, .choices .chosen {{ margin-right: 8px; }} .choices .chosen {{ font-weight: 700; }}
#log {{ background: #10151d; color: #e6e9ef; padding: 10px 12px; white-space: pre-wrap; word-break: break-all;
  font: 12px/1.45 ui-monospace, monospace; min-height: 200px; }}
#log .note {{ color: #8fa3bf; font-style: italic; }}
#live {{ margin-left: auto; font-size: 12px; }}
.tag {{ font-size: 11px; padding: 0 5px; border-radius: 3px; background: #dbe7f3; color: #17324d; }}
.share {{ display: inline-block; width: 60px; height: 8px; background: #e3e6eb; vertical-align: middle; }}
.share span {{ display: block; height: 100%; background: #2f6fb0; }} table.details {{ width: auto; }}
</style></head>
<body><header><a class="brand" href="/">Atoll</a><a href="/">Cluster</a><a href="/hosts">Hosts</a><a href="/updates">Updates</a><a href="/frameworks">Frameworks</a><span id="live" class="muted">connecting…</span></header>
{body}
<script>
{script}
</script></body></html>
"#,
        title = escape(title),
    )
}

/// Keeps a page current: at each event of its scope, fetches its main part again.
const REDRAW_SCRIPT: &str = r#"(function () {
  var main = document.getElementById('main'), live = document.getElementById('live');
  var pending = false;
  function redraw() {
    if (pending) return; pending = true;
    setTimeout(function () {
      fetch(location.pathname + '?part=main', { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { main.innerHTML = html; pending = false; })
        .catch(function () { pending = false; });
    }, 150);
  }
  var source = new EventSource('/ui/events?scope=' + encodeURIComponent(main.dataset.scope));
  source.onopen = function () { live.textContent = 'live'; };
  source.onerror = function () { live.textContent = 'reconnecting…'; };
  source.onmessage = redraw;
})();"#;

/// Follows a log: appends each chunk from `/ui/logs/…` (its bytes decoded as UTF-8 across chunk
/// boundaries), marks a new run and bytes rotated away, keeps the view at the bottom while the
/// reader is there, stops at the log's end or a failure, and starts over after a lost
/// connection.
const LOGS_SCRIPT: &str = r#"(function () {
  var log = document.getElementById('log'), status = document.getElementById('log-status');
  var live = document.getElementById('live');
  var KEPT_NODES = 5000;
  function bytes(text) {
    var raw = atob(text), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function add(node) {
    log.appendChild(node);
    while (log.childNodes.length > KEPT_NODES) log.removeChild(log.firstChild);
  }
  function note(text) {
    var span = document.createElement('span'); span.className = 'note'; span.textContent = text; add(span);
  }
  function open() {
    var run = null, end = null, decoder = null;
    log.textContent = '';
    var source = new EventSource(log.dataset.source);
    source.onopen = function () { live.textContent = 'live'; status.textContent = 'following'; status.className = 'muted'; };
    source.addEventListener('chunk', function (event) {
      var chunk = JSON.parse(event.data);
      if (chunk.run !== run) {
        if (run !== null) note('— run ' + chunk.run + ' of ' + chunk.process + ' —\n');
        run = chunk.run; end = null; decoder = new TextDecoder();
      }
      if (end !== null && chunk.offset > end) note('[' + (chunk.offset - end) + ' bytes rotated away before they were read]\n');
      var bottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 4;
      var data = bytes(chunk.data);
      add(document.createTextNode(decoder.decode(data, { stream: true })));
      end = chunk.offset + data.length;
      if (bottom) window.scrollTo(0, document.body.scrollHeight);
    });
    source.addEventListener('end', function (event) {
      source.close(); live.textContent = 'ended'; status.textContent = event.data; status.className = 'muted';
    });
    source.addEventListener('failure', function (event) {
      source.close(); live.textContent = 'stopped'; status.textContent = event.data; status.className = 'error';
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) return;
      source.close(); live.textContent = 'reconnecting…'; setTimeout(open, 2000);
    };
  }
  open();
})();"#;

/// Which log a logs page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogView {
    /// `None`: the task's first process.
    pub process: Option<String>,
    pub stderr: bool,
    /// From the log's start rather than its last [`TAIL_LINES`] lines.
    pub from_start: bool,
}

/// How many lines a logs page starts with, unless asked for the whole log.
pub const TAIL_LINES: u32 = 1000;

impl LogView {
    /// This view's query string, `?process=…&stream=…&from=…`.
    pub fn query(&self) -> String {
        let mut query = format!("?stream={}", if self.stderr { "stderr" } else { "stdout" });
        if let Some(process) = &self.process {
            let _ = write!(query, "&process={}", percent_encode(process));
        }
        if self.from_start {
            query.push_str("&from=start");
        }
        query
    }
}

/// The live log of the newest task of `key`'s `instance` that has run: links to its processes
/// and streams, and the view that follows it (`LOGS_SCRIPT`, reading `/ui/logs/…`); `None` for
/// an instance with no tasks.
pub fn logs_page(state: &ClusterState, key: &JobKey, instance: u32, view: &LogView) -> Option<String> {
    let tasks: Vec<_> = state.job_tasks(key, true).into_iter().filter(|t| t.instance == instance).collect();
    let newest = tasks.first()?;
    let shown = tasks.iter().find(|t| t.assignment.is_some()).unwrap_or(newest);
    let processes: Vec<&str> = shown.config.task.processes.iter().map(|p| p.name.as_str()).collect();
    let process = view.process.clone().or_else(|| processes.first().map(|p| (*p).to_owned()));
    let path = instance_path(key, instance);
    let mut main = format!(
        "<h1>Logs of {}/{instance}</h1><p>Job {} · <a href=\"{path}\">instance {instance}</a> · task {} · {} · host {}</p>",
        escape(&key.to_string()),
        job_link(key),
        escape(&shown.id.0),
        state_cell(shown.state),
        escape(shown.assignment.as_ref().map_or("—", |a| a.hostname.as_str())),
    );
    let choice = |label: &str, chosen: bool, choice: LogView| {
        if chosen {
            format!(r#"<span class="chosen">{}</span>"#, escape(label))
        } else {
            format!(r#"<a href="{path}/logs{}">{}</a>"#, escape(&choice.query()), escape(label))
        }
    };
    main.push_str(r#"<p class="choices">Process: "#);
    for name in &processes {
        let chosen = process.as_deref() == Some(*name);
        main.push_str(&choice(name, chosen, LogView { process: Some((*name).to_owned()), ..view.clone() }));
    }
    main.push_str(" · Stream: ");
    main.push_str(&choice("stdout", !view.stderr, LogView { stderr: false, ..view.clone() }));
    main.push_str(&choice("stderr", view.stderr, LogView { stderr: true, ..view.clone() }));
    main.push_str(" · From: ");
    main.push_str(&choice(
        &format!("the last {TAIL_LINES} lines"),
        !view.from_start,
        LogView { from_start: false, ..view.clone() },
    ));
    main.push_str(&choice("the start", view.from_start, LogView { from_start: true, ..view.clone() }));
    let _ = write!(
        main,
        "</p><p class=\"muted\">The same from a terminal: <code>atoll task logs {}/{instance}{}{} -f</code></p>\
         <p id=\"log-status\" class=\"muted\">connecting…</p><pre id=\"log\" data-source=\"/ui/logs/{}/{instance}{}\"></pre>",
        escape(&key.to_string()),
        process.as_deref().map(|p| format!(" --process {}", escape(p))).unwrap_or_default(),
        if view.stderr { " --stderr" } else { "" },
        escape(&key_path(key)),
        escape(&LogView { process, ..view.clone() }.query()),
    );
    Some(main)
}

/// A logs page whole: `main` with the script that follows the log.
pub fn logs_layout(title: &str, main: &str) -> String {
    layout(title, &format!(r#"<main id="main">{main}</main>"#), LOGS_SCRIPT)
}

/// `CLUSTER/ROLE/ENV/NAME`, each part escaped for a URL path.
fn key_path(key: &JobKey) -> String {
    [&key.cluster, &key.role, &key.environment, &key.name].map(|part| percent_encode(part)).join("/")
}

fn instance_path(key: &JobKey, instance: u32) -> String {
    format!("/jobs/{}/{instance}", escape(&key_path(key)))
}

/// `text` with every byte but unreserved ones (RFC 3986) percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn state_cell(state: TaskState) -> String {
    format!(r#"<span class="state {0}">{0}</span>"#, state.name())
}

fn job_link(key: &JobKey) -> String {
    format!(
        r#"<a href="/jobs/{}/{}/{}/{}">{}</a>"#,
        escape(&key.cluster),
        escape(&key.role),
        escape(&key.environment),
        escape(&key.name),
        escape(&key.to_string())
    )
}

/// The cluster page's main part.
pub fn cluster(state: &ClusterState) -> String {
    let census = state.census();
    let mut out = format!("<h1>Cluster {}</h1>", escape(&state.config().cluster));
    out.push_str(
        "<h2>Agents</h2><table><tr><th>Agent</th><th>Host</th><th>CPUs</th><th>RAM (MB)</th><th>Disk (MB)</th></tr>",
    );
    for agent in state.agents() {
        let offered = agent.resources.as_ref();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&agent.id.0),
            escape(&agent.hostname),
            offered.map_or("—".to_owned(), |r| r.cpus.to_string()),
            offered.map_or("—".to_owned(), |r| r.mem_mb.to_string()),
            offered.map_or("—".to_owned(), |r| r.disk_mb.to_string()),
        );
    }
    out.push_str("</table><h2>Jobs</h2>");
    let cluster = JobKeyPrefix { cluster: state.config().cluster.clone(), role: None, environment: None };
    out.push_str(&jobs_table(state, &cluster));
    if !census.pending_by_reason.is_empty() {
        out.push_str("<h2>Waiting tasks</h2><table><tr><th>Why</th><th>Tasks</th></tr>");
        for (reason, count) in &census.pending_by_reason {
            let _ = write!(out, "<tr><td>{}</td><td>{count}</td></tr>", escape(reason));
        }
        out.push_str("</table>");
    }
    if !census.hosts_by_mode.is_empty() {
        out.push_str("<h2>Hosts in maintenance</h2><table><tr><th>Host</th><th>Mode</th></tr>");
        for host in state.maintenance(&[]) {
            let Some(mode) = host.mode.filter(|mode| *mode != MaintenanceMode::None) else { continue };
            let _ = write!(out, "<tr><td>{}</td><td>{mode}</td></tr>", escape(&host.host));
        }
        out.push_str("</table>");
    }
    out
}

/// A job page's main part, or `None` for a job the scheduler does not know.
pub fn job(state: &ClusterState, key: &JobKey, now_ms: u64) -> Option<String> {
    if !state.knows_job(key) {
        return None;
    }
    let mut out = format!(
        r#"<h1>Job {}</h1><p>Role <a href="/roles/{}/{}">{}</a></p>"#,
        escape(&key.to_string()),
        escape(&key.cluster),
        escape(&key.role),
        escape(&key.role)
    );
    out.push_str(&frameworks::framework_note(state, key, None));
    if let Some(update) = state.active_update(key) {
        let (batch, batches) = update.batch_progress();
        let _ = write!(
            out,
            "<p>Update {} <span class=\"state\">{}</span>: batch {batch} of {batches}</p>",
            update.id, update.state
        );
    }
    if let Some(cron) = state.cron_job(key, now_ms) {
        out.push_str("<h2>Cron</h2><p>Next runs: ");
        let next: Vec<String> = cron.next_ms.iter().map(|at| atoll_cron::format_utc(*at)).collect();
        out.push_str(&escape(&next.join(", ")));
        out.push_str("</p><table><tr><th>Run at</th><th>State</th><th>Message</th></tr>");
        for run in cron.record.runs.iter().rev() {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                atoll_cron::format_utc(run.at_ms),
                run.state.name(),
                escape(&run.message)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Instances</h2><table><tr><th>Instance</th><th>State</th><th>Host</th><th>Config</th><th>Ports</th><th>Why pending / last message</th></tr>");
    for task in state.job_tasks(key, false) {
        let host = task.assignment.as_ref().map_or(String::new(), |a| escape(&a.hostname));
        let ports = task.assignment.as_ref().map_or(String::new(), |a| {
            a.ports.iter().map(|(name, port)| format!("{}={port}", escape(name))).collect::<Vec<_>>().join(" ")
        });
        let note = match state.pending_reason(&task.id) {
            Some(reason) => escape(reason),
            None => escape(task.events.last().map_or("", |e| e.message.as_str())),
        };
        let _ = write!(
            out,
            r#"<tr data-instance="{i}"><td><a href="/jobs/{c}/{r}/{e}/{n}/{i}">{i}</a></td><td>{state}</td><td>{host}</td><td>{config}</td><td>{ports}</td><td>{note}</td></tr>"#,
            i = task.instance,
            c = escape(&key.cluster),
            r = escape(&key.role),
            e = escape(&key.environment),
            n = escape(&key.name),
            state = state_cell(task.state),
            config = escape(&task.config.id().short()),
        );
    }
    out.push_str("</table>");
    Some(out)
}

/// The jobs under `prefix` as a table: kind and instances by state, or "No jobs."
fn jobs_table(state: &ClusterState, prefix: &JobKeyPrefix) -> String {
    let jobs = state.list_jobs(prefix);
    if jobs.is_empty() {
        return "<p class=\"muted\">No jobs.</p>".to_owned();
    }
    let mut out = String::from(
        "<table><tr><th>Job</th><th>Kind</th><th>Instances</th><th>Pending</th><th>Active</th><th>Finished</th><th>Failed</th></tr>",
    );
    for job in jobs {
        let kind = match (&job.cron_schedule, job.service) {
            (Some(schedule), _) => format!("cron: {}", escape(schedule)),
            (None, true) => "service".to_owned(),
            (None, false) => "job".to_owned(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            job_link(&job.key),
            job.instances,
            job.pending,
            job.active,
            job.finished,
            job.failed
        );
    }
    out.push_str("</table>");
    out
}

/// A role page's main part: its jobs, and its production quota beside what its tasks take.
pub fn role(state: &ClusterState, cluster: &str, role: &str) -> String {
    let prefix = JobKeyPrefix { cluster: cluster.to_owned(), role: Some(role.to_owned()), environment: None };
    let mut out = format!("<h1>Role {}</h1><h2>Jobs</h2>", escape(role));
    out.push_str(&jobs_table(state, &prefix));
    let usage = state.quota(role);
    let resources = |r: &ResourceAggregate| {
        format!("{} CPUs, {} MB RAM, {} MB disk", r.cpu_millis as f64 / 1000.0, r.ram_mb, r.disk_mb)
    };
    out.push_str("<h2>Quota</h2><table>");
    let _ = write!(
        out,
        "<tr><th>Production quota</th><td>{}</td></tr><tr><th>Production use</th><td>{}</td></tr>\
         <tr><th>Dedicated hosts</th><td>{}</td></tr><tr><th>Other non-production</th><td>{}</td></tr></table>",
        usage.quota.as_ref().map_or("none set".to_owned(), resources),
        resources(&usage.production),
        resources(&usage.dedicated),
        resources(&usage.non_production)
    );
    out
}

/// The hosts page's main part: every host the scheduler knows, with its agent's offer and its
/// maintenance mode.
pub fn hosts(state: &ClusterState) -> String {
    let mut out = String::from("<h1>Hosts</h1><table><tr><th>Host</th><th>Mode</th><th>Agent</th><th>Offers</th></tr>");
    for host in state.maintenance(&[]) {
        let agent = state.agents().find(|a| a.hostname == host.host);
        let offer = agent
            .and_then(|a| a.resources.as_ref())
            .map_or("—".to_owned(), |r| format!("{} CPUs, {} MB RAM, {} MB disk", r.cpus, r.mem_mb, r.disk_mb));
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{offer}</td></tr>",
            escape(&host.host),
            host.mode.map_or("—".to_owned(), |m| m.to_string()),
            agent.map_or("—".to_owned(), |a| escape(&a.id.0)),
        );
    }
    out.push_str("</table>");
    out
}

/// The updates page's main part: every update kept, newest first.
pub fn updates(state: &ClusterState) -> String {
    let prefix = JobKeyPrefix { cluster: state.config().cluster.clone(), role: None, environment: None };
    let updates = state.list_updates(&prefix, None);
    let mut out = String::from("<h1>Updates</h1>");
    if updates.is_empty() {
        out.push_str("<p class=\"muted\">No updates yet.</p>");
        return out;
    }
    out.push_str("<table><tr><th>Update</th><th>Job</th><th>State</th><th>Instances</th><th>Started</th><th>Last change</th><th>Message</th></tr>");
    for update in updates {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"state\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            update.id,
            job_link(&update.job),
            update.state,
            update.instances.len(),
            atoll_cron::format_utc(update.created_ms()),
            atoll_cron::format_utc(update.updated_ms()),
            escape(update.message.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</table>");
    out
}

/// An instance page's main part, or `None` for an instance without tasks.
pub fn instance(state: &ClusterState, key: &JobKey, instance: u32) -> Option<String> {
    let tasks: Vec<_> = state.job_tasks(key, true).into_iter().filter(|t| t.instance == instance).collect();
    if tasks.is_empty() {
        return None;
    }
    let logs = format!("{}/logs", instance_path(key, instance));
    let mut out = format!(
        "<h1>Instance {}/{instance}</h1><p>Job {} · live logs of its newest task that ran: \
         <a href=\"{logs}?stream=stdout\">stdout</a> <a href=\"{logs}?stream=stderr\">stderr</a> \
         (<code>atoll task logs {}/{instance} -f</code>)</p>",
        escape(&key.to_string()),
        job_link(key),
        escape(&key.to_string()),
    );
    out.push_str(&frameworks::framework_note(state, key, Some(instance)));
    for task in tasks {
        let _ = write!(
            out,
            "<h2>Task {}</h2><p>{} · host {} · sandbox <code>{}</code></p>",
            escape(&task.id.0),
            state_cell(task.state),
            escape(task.assignment.as_ref().map_or("—", |a| a.hostname.as_str())),
            escape(task.sandbox.as_deref().unwrap_or("—")),
        );
        out.push_str("<table><tr><th>Time</th><th>State</th><th>Message</th></tr>");
        for event in &task.events {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                atoll_cron::format_utc(event.at_ms),
                state_cell(event.state),
                escape(&event.message)
            );
        }
        out.push_str("</table>");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use atoll_model::{JobSpec, ProcessSpec, Resources, TaskSpec};
    use atoll_state::StateConfig;

    use super::*;

    fn state_with(name: &str, instances: u32) -> (ClusterState, JobKey) {
        let mut state = ClusterState::new(StateConfig::new("devcluster"));
        let task =
            TaskSpec::new(vec![ProcessSpec::new("p", "true")], Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 });
        let mut spec = JobSpec::new(format!("devcluster/www-data/devel/{name}").parse().unwrap(), task);
        spec.instances = instances;
        let key = spec.key.clone();
        let _ = state.create_job(spec, 0).unwrap();
        (state, key)
    }

    #[test]
    fn pages_show_jobs_instances_and_histories_escaped() {
        assert_eq!(escape(r#"<b a="1">'&"#), "&lt;b a=&quot;1&quot;&gt;&#39;&amp;");
        let (state, key) = state_with("hello", 2);
        let cluster = cluster(&state);
        assert!(
            cluster.contains(r#"<a href="/jobs/devcluster/www-data/devel/hello">devcluster/www-data/devel/hello</a>"#),
            "{cluster}"
        );
        let job = job(&state, &key, 0).expect("a known job");
        assert_eq!(job.matches("<tr data-instance=").count(), 2, "{job}");
        assert!(job.contains(r#"<span class="state PENDING">PENDING</span>"#), "{job}");
        let history = instance(&state, &key, 1).expect("an instance");
        assert!(history.contains("Created") && history.contains("INIT"), "{history}");
        assert!(!history.contains("framework") && !job.contains("framework"), "an Aurora job names no framework");
        assert!(
            instance(&state, &key, 7).is_none()
                && super::job(&state, &"devcluster/a/b/c".parse().unwrap(), 0).is_none()
        );
        let role = role(&state, "devcluster", "www-data");
        assert!(role.contains("Role www-data") && role.contains("none set") && role.contains("hello"), "{role}");
        assert!(hosts(&state).contains("<h1>Hosts</h1>"));
        assert!(updates(&state).contains("No updates yet."));
        let whole = page("Job", &key.to_string(), &job);
        assert!(whole.starts_with("<!doctype html>") && whole.contains("new EventSource('/ui/events?scope='"));
        assert!(whole.contains(r#"<a href="/updates">Updates</a><a href="/frameworks">Frameworks</a>"#), "{whole}");
    }

    #[test]
    fn the_logs_page_names_its_task_links_each_choice_and_reads_from_the_log_events() {
        let (state, key) = state_with("hello", 1);
        assert!(logs_page(&state, &key, 5, &LogView::default()).is_none(), "an instance with no tasks");
        let main = logs_page(&state, &key, 0, &LogView::default()).expect("an instance with a task");
        assert!(main.contains("Logs of devcluster/www-data/devel/hello/0"), "{main}");
        assert!(main.contains(r#"<span class="chosen">p</span>"#), "the first process by default: {main}");
        assert!(
            main.contains(r#"<a href="/jobs/devcluster/www-data/devel/hello/0/logs?stream=stderr">stderr</a>"#),
            "{main}"
        );
        assert!(
            main.contains(r#"data-source="/ui/logs/devcluster/www-data/devel/hello/0?stream=stdout&amp;process=p""#),
            "{main}"
        );
        assert!(main.contains("atoll task logs devcluster/www-data/devel/hello/0 --process p -f"), "{main}");
        let view = LogView { process: Some("a b/c".into()), stderr: true, from_start: true };
        assert_eq!(view.query(), "?stream=stderr&process=a%20b%2Fc&from=start");
        let whole = logs_layout("Logs", &main);
        assert!(whole.contains("new EventSource(log.dataset.source)") && !whole.contains("/ui/events?scope="));
    }
}

//! Benchmark: the browser's side of the web UI with a job of 1,000 RUNNING instances (issue 14's
//! target: the page renders in well under a second).
//!
//! Starts the release binary as `atoll dev --agents 4`, creates one job of 1,000 instances of
//! `exec sleep 600`, waits until every instance runs, and loads the job's page in headless
//! Chromium (over WebDriver) ten times. From each load's Navigation Timing and Paint Timing
//! entries it takes the time to the response's first and last byte, to the first contentful
//! paint (when Chromium reports one), to DOMContentLoaded and to the load event, all from the
//! navigation's start. Then it times a live redraw as the page does it at each event (fetch
//! `?part=main`, replace the main part, lay out). Prints the median and the worst of each.
//!
//! Needs `chromium` and `chromium-driver`. Run: `cargo bench -p atoll-tests --bench
//! ui_page_load` (set ATOLL_BENCH_INSTANCES to change the 1,000).

use std::process::Command;

use atoll_tests::{Browser, build_atoll, printed, start_dev_serving_http};

const LOADS: usize = 10;

/// What a load's timing entries say, in milliseconds from the navigation's start.
const TIMINGS: &str = "var n = performance.getEntriesByType('navigation')[0];\n\
    var paint = performance.getEntriesByName('first-contentful-paint')[0];\n\
    return [n.responseStart, n.responseEnd, paint ? paint.startTime : -1, n.domContentLoadedEventEnd, n.loadEventEnd];";

const MEASURES: [&str; 5] = ["first byte", "last byte", "first contentful paint", "DOMContentLoaded", "load"];

/// One redraw as the page does it at an event, timed in the page.
const REDRAW: &str = "var main = document.getElementById('main'), started = performance.now();\n\
    return fetch(location.pathname + '?part=main').then(function (r) { return r.text(); })\n\
      .then(function (html) { main.innerHTML = html; void document.body.offsetHeight; return performance.now() - started; });";

fn main() {
    let instances: usize = std::env::var("ATOLL_BENCH_INSTANCES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let atoll = build_atoll(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("page.rhai");
    std::fs::write(
        &file,
        format!(
            "let sleeper = Process(#{{ name: \"sleeper\", cmdline: \"exec sleep 600\" }});\n\
             let task = SequentialTask(#{{ processes: [sleeper], resources: Resources(#{{ cpu: 0.001, ram: 1 * MB, disk: 1 * MB }}) }});\n\
             let jobs = [ Service(#{{ cluster: \"devcluster\", role: \"bench\", environment: \"devel\", name: \"page\", instances: {instances}, task: task }}) ];\n"
        ),
    )
    .expect("write job file");
    let (dev, url, http) = start_dev_serving_http(&atoll, dir.path(), 4);
    let key = "devcluster/bench/devel/page";
    let created = Command::new(&atoll)
        .args(["job", "create", key, file.to_str().expect("utf-8 path"), "--wait-until", "RUNNING"])
        .args(["--wait-timeout-secs", "180", "--scheduler", &url])
        .output()
        .expect("run atoll job create");
    assert!(created.status.success(), "job create failed: {}\n{}", printed(&created), dev.log());

    let browser = Browser::start();
    let page = format!("http://127.0.0.1:{http}/jobs/{key}");
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); MEASURES.len()];
    let mut redraws = Vec::new();
    for _ in 0..LOADS {
        browser.open(&page);
        let rows = browser.script("return document.querySelectorAll('tr[data-instance]').length");
        assert_eq!(rows.as_u64(), Some(instances as u64), "every instance on the page");
        let timings = browser.script(TIMINGS);
        for (kept, value) in samples.iter_mut().zip(timings.as_array().expect("an array of timings")) {
            // Chromium leaves out the paint entry of some loads (-1 here).
            kept.extend(value.as_f64().filter(|&ms| ms >= 0.0));
        }
        redraws.push(browser.script(REDRAW).as_f64().expect("a redraw time"));
    }
    let _ = Command::new(&atoll).args(["job", "killall", key, "--scheduler", &url]).output();
    drop(browser);
    dev.stop();

    println!("ui_page_load: the page of a job of {instances} RUNNING instances, {LOADS} loads in headless Chromium");
    for (name, values) in MEASURES.into_iter().zip(samples.iter_mut()).chain([("live redraw", &mut redraws)]) {
        values.sort_by(f64::total_cmp);
        match values.len() {
            0 => println!("ui_page_load: {name}: not reported by the browser"),
            n => {
                println!("ui_page_load: {name}: median {:.0} ms, worst {:.0} ms (of {n})", values[n / 2], values[n - 1])
            }
        }
    }
}

//! What the scheduler's and the agents' `/metrics` share: a registry encoded in Prometheus'
//! text exposition format, version 0.0.4, the format `promtool check metrics` reads and every
//! Prometheus scrapes.
//!
//! The metrics themselves are kept with `prometheus-client`, which writes OpenMetrics text.
//! [`exposition`] turns that into the Prometheus format: a counter's `HELP` and `TYPE` name the
//! sample (`x_total`, not `x`), and the `UNIT` and `EOF` lines, which the Prometheus format does
//! not have, go. Nothing else differs for the kinds used here (counters, gauges, histograms).

use prometheus_client::registry::Registry;

/// The content type of [`exposition`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `registry`'s metrics in Prometheus' text format.
pub fn exposition(registry: &Registry) -> String {
    let mut openmetrics = String::new();
    prometheus_client::encoding::text::encode(&mut openmetrics, registry).expect("writing to a String cannot fail");
    from_openmetrics(&openmetrics)
}

/// OpenMetrics text (of counters, gauges and histograms) in Prometheus' text format.
fn from_openmetrics(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // A family's HELP comes before its TYPE, which decides the name both carry.
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, words) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, words));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let shown = if kind == "counter" { format!("{name}_total") } else { name.to_owned() };
            if let Some((_, words)) = help.take().filter(|(helped, _)| *helped == name) {
                out.push_str(&format!("# HELP {shown} {words}\n"));
            }
            out.push_str(&format!("# TYPE {shown} {kind}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Unit;

    use super::*;

    #[test]
    fn counters_are_named_by_their_samples_and_openmetrics_lines_go() {
        let mut registry = Registry::with_prefix("atoll");
        let written = Counter::<u64>::default();
        written.inc_by(512);
        registry.register_with_unit("store_written", "Bytes written", Unit::Bytes, written);
        let unplaced = Gauge::<i64>::default();
        unplaced.set(3);
        registry.register("unplaced", "Tasks not placed", unplaced);
        let took = Histogram::new([0.1, 1.0]);
        took.observe(0.5);
        registry.register_with_unit("round", "Round time", Unit::Seconds, took);
        let text = exposition(&registry);
        assert_eq!(
            text,
            "# HELP atoll_store_written_bytes_total Bytes written.\n\
             # TYPE atoll_store_written_bytes_total counter\n\
             atoll_store_written_bytes_total 512\n\
             # HELP atoll_unplaced Tasks not placed.\n\
             # TYPE atoll_unplaced gauge\n\
             atoll_unplaced 3\n\
             # HELP atoll_round_seconds Round time.\n\
             # TYPE atoll_round_seconds histogram\n\
             atoll_round_seconds_sum 0.5\n\
             atoll_round_seconds_count 1\n\
             atoll_round_seconds_bucket{le=\"0.1\"} 0\n\
             atoll_round_seconds_bucket{le=\"1.0\"} 1\n\
             atoll_round_seconds_bucket{le=\"+Inf\"} 1\n"
        );
    }
}

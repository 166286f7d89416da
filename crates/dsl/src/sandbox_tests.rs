//! The sandbox's guarantees: a file that spins, recurses or grows a value without bound fails
//! fast (well under 2 s, even in a debug build), with a message naming the limit, and bounded
//! memory.

use std::time::{Duration, Instant};

use crate::test_support::diagnostics_of;

/// Limits must trip this fast even in a debug build.
const FAST: Duration = Duration::from_secs(2);

/// The one diagnostic of `source`, checked to have come within [`FAST`].
fn stops_fast(source: &str) -> String {
    let started = Instant::now();
    let diagnostics = diagnostics_of(source);
    let elapsed = started.elapsed();
    assert!(elapsed < FAST, "took {elapsed:?}: {diagnostics:?}");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    diagnostics[0].clone()
}

#[test]
fn an_endless_loop_stops_with_a_clear_message() {
    let diagnostic = stops_fast("let jobs = [];\nloop {}");
    assert!(diagnostic.starts_with("test.rhai:2:"), "{diagnostic}");
    assert!(diagnostic.contains("the job file ran too long: more than 1000000 operations"), "{diagnostic}");
}

#[test]
fn a_huge_string_stops_with_a_clear_message() {
    assert_eq!(
        stops_fast("let s = \"x\";\nloop { s += s; }"),
        "test.rhai:2:10: the job file built a string longer than 1048576 bytes"
    );
}

#[test]
fn a_huge_array_is_refused_before_it_is_allocated() {
    assert_eq!(
        stops_fast("let a = [];\na.pad(1_000_000_000, 0);"),
        "test.rhai:2:3: the job file built an array with more than 4096 elements (counting nested arrays)"
    );
}

#[test]
fn endless_recursion_is_a_stack_overflow() {
    let diagnostic = stops_fast("fn f(x) { f(x + 1) }\nf(0);");
    assert!(diagnostic.contains("nests function calls too deeply: more than 32 levels"), "{diagnostic}");
}

#[test]
fn growing_a_nested_array_stops() {
    assert_eq!(
        stops_fast("let a = [[]];\nloop { a[0].push(1); }"),
        "test.rhai:2:13: the job file built an array with more than 4096 elements (counting nested arrays)"
    );
}

#[test]
fn growing_a_map_by_index_stops() {
    assert_eq!(
        stops_fast("let m = #{};\nlet i = 0;\nloop { m[`k${i}`] = i; i += 1; }"),
        "test.rhai:3:8: the job file built an object map with more than 4096 entries (counting nested maps)"
    );
}

#[test]
fn growing_a_nested_map_stops() {
    assert_eq!(
        stops_fast("let m = #{ inner: #{} };\nlet i = 0;\nloop { m.inner[`k${i}`] = [i]; i += 1; }"),
        "test.rhai:3:8: the job file built an object map with more than 4096 entries (counting nested maps)"
    );
}

#[test]
fn map_keys_count_towards_the_string_limit() {
    let source =
        "let key = \"k\";\nfor i in 0..17 { key += key; }\nlet m = #{};\nlet i = 0;\nloop { m[key + i] = 0; i += 1; }";
    assert_eq!(stops_fast(source), "test.rhai:5:8: the job file built a string longer than 1048576 bytes");
}

#[test]
fn deeply_nested_values_are_refused() {
    assert_eq!(
        stops_fast("let a = [];\nloop { a = [a]; }"),
        "test.rhai:2:13: the job file built a value with arrays and maps nested more than 64 deep"
    );
}

#[test]
fn many_strings_in_one_array_count_together() {
    let diagnostic = stops_fast("let a = [];\nlet s = \"x\";\nfor i in 0..16 { s += s; }\nloop { a.push(s); }");
    assert_eq!(diagnostic, "test.rhai:4:10: the job file built a string longer than 1048576 bytes");
}

#[test]
fn the_deadline_stops_work_the_operation_count_does_not_see() {
    // Each operation sorts a large array: few operations, much time.
    let diagnostic = stops_fast("let a = [];\na.pad(2000, 1);\nloop { a.sort(); a.reverse(); }");
    assert!(diagnostic.starts_with("test.rhai:3:"), "{diagnostic}");
    assert!(
        diagnostic.contains("the job file ran too long: more than 1 s (is there an endless loop?)"),
        "{diagnostic}"
    );
}

#[test]
fn this_is_disabled() {
    let diagnostics = diagnostics_of("fn grow() { this.x = 1; }\nlet jobs = [];");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(diagnostics[0].starts_with("test.rhai:1:13: "), "{diagnostics:?}");
    assert!(diagnostics[0].contains("'this' is disabled"), "{diagnostics:?}");
}

#[test]
fn print_and_debug_do_nothing_and_the_file_still_evaluates() {
    let jobs = crate::evaluate("print(\"hello\");\ndebug(\"hello\");\nlet jobs = [];", crate::test_support::FILE);
    assert_eq!(jobs, Ok(Vec::new()));
}

//! The bench's own logic: percentiles, medians, ratio orientation, the JSON shape, arguments.
//! No timing is asserted anywhere.

use std::time::Duration;

use fnwire_bench::cli::parse;
use fnwire_bench::stats::{Better, Row, median, percentile, ratio, render_table, to_json};

fn ms(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|&x| Duration::from_millis(x)).collect()
}

#[test]
fn percentiles_are_nearest_rank() {
    let samples = ms(&(1..=100).collect::<Vec<_>>());
    assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
    assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
    assert_eq!(percentile(&samples, 100.0), Duration::from_millis(100));
    assert_eq!(percentile(&samples, 0.0), Duration::from_millis(1));
    assert_eq!(percentile(&ms(&[7]), 99.0), Duration::from_millis(7));
    assert_eq!(percentile(&[], 50.0), Duration::ZERO);
}

#[test]
fn medians_of_odd_and_even_counts_ignore_nan() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    assert!(median(&[]).is_nan());
}

#[test]
fn ratios_above_one_favour_fnwire_both_ways() {
    // Throughput: fnwire twice as fast.
    assert_eq!(ratio(200.0, 100.0, Better::Higher), 2.0);
    // Latency: fnwire takes half the time.
    assert_eq!(ratio(5.0, 10.0, Better::Lower), 2.0);
    // And worse is below one.
    assert!(ratio(50.0, 100.0, Better::Higher) < 1.0);
    assert!(ratio(20.0, 10.0, Better::Lower) < 1.0);
    assert_eq!(Row::measured("x", 5.0, 10.0, "ms", Better::Lower).ratio, Some(2.0));
}

#[test]
fn json_rows_have_exactly_the_agreed_fields() {
    let rows = vec![
        Row::measured("http-rust", 100.0, 200.0, "requests/s", Better::Higher).with_note("not in JSON"),
        Row::skipped("http-node", "no addon"),
    ];
    let value: serde_json::Value = serde_json::from_str(&to_json(&rows)).unwrap();
    let list = value.as_array().unwrap();
    let first = list[0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["baseline", "fnwire", "ratio", "scenario", "unit"]);
    assert_eq!(first["scenario"], "http-rust");
    assert_eq!(first["ratio"], 0.5);
    assert_eq!(list[1]["skipped"], "no addon");
    assert!(list[1]["ratio"].is_null());
}

#[test]
fn the_table_shows_every_row_and_skip_reasons() {
    let rows = vec![
        Row::measured("hop", 30000.0, 40000.0, "invocations/s", Better::Higher),
        Row::skipped("queue", "store missing"),
    ];
    let table = render_table(&rows);
    assert!(table.starts_with("scenario"), "{table}");
    assert!(table.contains("0.75x"), "{table}");
    assert!(table.contains("skipped") && table.contains("store missing"), "{table}");
}

#[test]
fn arguments_select_scenarios_in_canonical_order() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let o = parse(&args(&["queue", "stream-limit", "--quick", "--json", "out.json"])).unwrap();
    assert_eq!(o.scenarios, ["hop", "queue"]);
    assert!(o.quick);
    assert_eq!(o.json.unwrap().to_str(), Some("out.json"));
    assert_eq!(parse(&[]).unwrap().scenarios.len(), fnwire_bench::scenarios::ALL.len());
    let e = parse(&args(&["http-java"])).unwrap_err();
    assert!(e.contains("http-java"), "{e}");
    assert!(parse(&args(&["--json"])).unwrap_err().contains("FILE"));
}

#[test]
fn instruction_counts_take_a_row_and_a_request_count() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let o = parse(&args(&["--instructions", "http-rust", "--requests", "500"])).unwrap();
    assert_eq!((o.instructions.as_deref(), o.requests), (Some("http-rust"), Some(500)));
    assert!(parse(&args(&["--instructions", "cold-start-rust"])).unwrap_err().contains("rows with one"));
    assert!(parse(&args(&["--instructions"])).unwrap_err().contains("ROW"));
    assert!(parse(&args(&["--instructions", "queue", "--requests", "0"])).unwrap_err().contains("positive"));
}

#[test]
fn the_durable_rows_are_selectable_by_name() {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let o = parse(&args(&["durable-python", "durable-fanout", "durable-chain", "--quick"])).unwrap();
    assert_eq!(o.scenarios, ["durable-chain", "durable-fanout", "durable-python"]);
    assert!(parse(&args(&["durable-sequence"])).unwrap_err().contains("durable-sequence"));
}

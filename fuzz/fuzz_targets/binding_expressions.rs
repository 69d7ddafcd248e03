//! Binding expressions in blob paths and queue names (`{name}`, `{DateTime:format}`,
//! `{sys.randguid}`, …): checking at start and resolving per invocation, against values from
//! trigger metadata and a JSON payload a client chose. Input lines: the template, the payload,
//! then `name=value` pairs (the names are also the trigger's names).

#![no_main]

use fnwire_host::bindings::expressions::{ExpressionValues, check_template, parse_template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let template = lines.next().unwrap_or_default();
    let payload = lines.next().unwrap_or_default();
    let pairs: Vec<(&str, &str)> = lines.take(16).map(|l| l.split_once('=').unwrap_or((l, ""))).collect();
    let _ = parse_template(template);
    let names: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    let _ = check_template(template, Some(&names));
    let _ = check_template(template, None);
    let mut values = ExpressionValues::default();
    for (k, v) in &pairs {
        values.insert(k, v.to_string());
    }
    values.add_json_properties(payload.as_bytes());
    values.set_method_name("fuzzed");
    let _ = values.resolve(template);
});

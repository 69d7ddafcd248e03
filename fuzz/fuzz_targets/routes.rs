//! Route templates from function metadata and request paths from clients: parsing, matching and
//! the route table never panic. Input lines: route prefix, request path, method, then templates.

#![no_main]

use fnwire_host::routes::{Route, RouteTable, RouteTemplate, path_segments};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let prefix = lines.next().unwrap_or_default();
    let path = lines.next().unwrap_or_default();
    let method =
        http::Method::from_bytes(lines.next().unwrap_or_default().as_bytes()).unwrap_or(http::Method::GET);
    let segments = path_segments(path, prefix);
    let mut table = RouteTable::new();
    for (i, line) in lines.take(8).enumerate() {
        let Ok(template) = RouteTemplate::parse(line) else { continue };
        if let Some(segments) = &segments {
            let _ = template.matches(segments);
        }
        let _ = table.add(Route { function_name: format!("f{i}"), template, methods: None });
    }
    if let Some(segments) = &segments {
        let _ = table.find(segments, &method);
    }
});

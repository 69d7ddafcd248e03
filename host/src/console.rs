//! What `fnwire start` prints: the function table and the log format.

use std::fmt::Write as _;

use crate::lifecycle::IndexedFunction;

/// One row of the function table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRow {
    pub name: String,
    pub trigger: String,
    /// `GET,POST`, or empty for every method / non-HTTP triggers.
    pub methods: String,
    /// URL for HTTP functions; otherwise a note.
    pub target: String,
    pub error: Option<String>,
}

/// Renders the table printed when the host is ready.
pub fn function_table(rows: &[FunctionRow]) -> String {
    let mut out = String::from("\nFunctions:\n\n");
    if rows.is_empty() {
        out.push_str("        (none found: the worker reported no functions)\n");
    }
    for row in rows {
        let methods = if row.methods.is_empty() { String::new() } else { format!("[{}] ", row.methods) };
        let _ = writeln!(out, "        {}: {methods}{}", row.name, row.target);
        if row.target.starts_with("http") {
            let _ = writeln!(out, "            trigger: {}", row.trigger);
        }
        if let Some(e) = &row.error {
            let _ = writeln!(out, "            NOT AVAILABLE: {e}");
        }
    }
    let has_others = rows.iter().any(|r| !r.target.starts_with("http"));
    if has_others {
        out.push_str(
            "\n        Non-HTTP functions are indexed and loaded, but this fnwire version does not run their \
             triggers yet (timer and queue execution arrive in a later version).\n",
        );
    }
    out
}

/// The trigger type of a function, e.g. `httpTrigger`, or `(no trigger)`.
pub fn trigger_type(f: &IndexedFunction) -> String {
    f.metadata.trigger().map(|t| t.binding_type.clone()).unwrap_or_else(|| "(no trigger)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_http_urls_and_notes_other_triggers() {
        let rows = vec![
            FunctionRow {
                name: "hello".into(),
                trigger: "httpTrigger".into(),
                methods: "GET,POST".into(),
                target: "http://127.0.0.1:7071/api/hello/{name?}".into(),
                error: None,
            },
            FunctionRow {
                name: "tick".into(),
                trigger: "timerTrigger".into(),
                methods: String::new(),
                target: "timerTrigger".into(),
                error: Some("boom".into()),
            },
        ];
        let t = function_table(&rows);
        assert!(t.contains("hello: [GET,POST] http://127.0.0.1:7071/api/hello/{name?}"), "{t}");
        assert!(t.contains("tick: timerTrigger"), "{t}");
        assert!(t.contains("NOT AVAILABLE: boom"), "{t}");
        assert!(t.contains("later version"), "{t}");
    }
}

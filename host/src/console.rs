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

/// Renders the table printed when the host is ready: one row per function with its name,
/// trigger, methods and URL (or a note for triggers fnwire does not run yet).
pub fn function_table(rows: &[FunctionRow]) -> String {
    let mut out = String::from("\nFunctions:\n\n");
    if rows.is_empty() {
        out.push_str("    (none: the app reported no functions)\n");
        return out;
    }
    let methods_of = |r: &FunctionRow| {
        if !r.target.starts_with("http") {
            "-".to_string()
        } else if r.methods.is_empty() {
            "ALL".to_string()
        } else {
            r.methods.clone()
        }
    };
    let target_of = |r: &FunctionRow| {
        if r.target.starts_with("http") || r.target != r.trigger {
            r.target.clone()
        } else {
            "(indexed, not run yet)".to_string()
        }
    };
    let header = ["Name", "Trigger", "Methods", "URL"];
    let width = |i: usize, f: &dyn Fn(&FunctionRow) -> String| {
        rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0).max(header[i].len())
    };
    let w0 = width(0, &|r| r.name.clone());
    let w1 = width(1, &|r| r.trigger.clone());
    let w2 = width(2, &methods_of);
    let _ = writeln!(out, "    {:w0$}  {:w1$}  {:w2$}  {}", header[0], header[1], header[2], header[3]);
    for row in rows {
        let _ = writeln!(
            out,
            "    {:w0$}  {:w1$}  {:w2$}  {}",
            row.name,
            row.trigger,
            methods_of(row),
            target_of(row)
        );
        if let Some(e) = &row.error {
            let _ = writeln!(out, "    {:w0$}  NOT AVAILABLE: {e}", "");
        }
    }
    if rows.iter().any(|r| !r.target.starts_with("http") && r.target == r.trigger) {
        out.push_str(
            "\n    Functions marked \"indexed, not run yet\" are loaded, but fnwire does not run their trigger type; \
             it serves HTTP, timer and queue triggers.\n",
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
        assert!(t.contains("hello  httpTrigger   GET,POST  http://127.0.0.1:7071/api/hello/{name?}"), "{t}");
        assert!(t.contains("tick   timerTrigger  -         (indexed, not run yet)"), "{t}");
        assert!(t.contains("NOT AVAILABLE: boom"), "{t}");
        assert!(t.contains("does not run their trigger type"), "{t}");
        let queue = FunctionRow {
            name: "work".into(),
            trigger: "queueTrigger".into(),
            methods: String::new(),
            target: "queue jobs".into(),
            error: None,
        };
        let t = function_table(&[queue]);
        assert!(t.contains("work  queueTrigger  -        queue jobs"), "{t}");
        assert!(!t.contains("not run yet"), "{t}");
    }
}

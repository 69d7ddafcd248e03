//! Results: the table printed at the end of a run and the `--json` report.

use std::time::Duration;

use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass(String),
    Fail(String),
    Skip(String),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass(_) => "pass",
            Outcome::Fail(_) => "fail",
            Outcome::Skip(_) => "skip",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Outcome::Pass(d) | Outcome::Fail(d) | Outcome::Skip(d) => d,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: String,
    pub area: String,
    pub description: String,
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub app: String,
    pub worker_command: String,
    pub exclusions: Option<String>,
    pub results: Vec<ScenarioResult>,
}

impl Report {
    pub fn count(&self, label: &str) -> usize {
        self.results.iter().filter(|r| r.outcome.label() == label).count()
    }

    pub fn failed(&self) -> bool {
        self.count("fail") > 0
    }

    /// One line per scenario: name, area, result, the first line of the reason.
    pub fn table(&self) -> String {
        let name_width = self.results.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
        let area_width = self.results.iter().map(|r| r.area.len()).max().unwrap_or(4).max(4);
        let mut out = format!("{:name_width$}  {:area_width$}  {:6}  reason\n", "scenario", "area", "result");
        out.push_str(&format!(
            "{}  {}  {}  {}\n",
            "-".repeat(name_width),
            "-".repeat(area_width),
            "-".repeat(6),
            "-".repeat(6)
        ));
        for r in &self.results {
            out.push_str(&row(r, name_width, area_width));
        }
        out
    }

    /// The full messages of the failed scenarios, each naming its scenario.
    pub fn failures(&self) -> String {
        let mut out = String::new();
        for r in self.results.iter().filter(|r| matches!(r.outcome, Outcome::Fail(_))) {
            out.push_str(&format!("FAIL {} ({}): {}\n", r.name, r.area, r.outcome.detail()));
        }
        out
    }

    pub fn summary(&self) -> String {
        format!(
            "{} scenarios: {} passed, {} failed, {} skipped",
            self.results.len(),
            self.count("pass"),
            self.count("fail"),
            self.count("skip")
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "app": self.app,
            "worker_command": self.worker_command,
            "exclusions": self.exclusions,
            "summary": {
                "total": self.results.len(),
                "pass": self.count("pass"),
                "fail": self.count("fail"),
                "skip": self.count("skip"),
            },
            "scenarios": self.results.iter().map(|r| json!({
                "name": r.name,
                "area": r.area,
                "result": r.outcome.label(),
                "reason": r.outcome.detail(),
                "duration_ms": r.duration.as_millis() as u64,
                "description": r.description,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A table row; the reason is cut to its first line (the full text is in `failures()`).
pub fn row(r: &ScenarioResult, name_width: usize, area_width: usize) -> String {
    let first_line = r.outcome.detail().lines().next().unwrap_or_default();
    const MAX: usize = 110;
    let reason = if first_line.chars().count() > MAX {
        format!("{}…", first_line.chars().take(MAX).collect::<String>())
    } else {
        first_line.to_string()
    };
    format!("{:name_width$}  {:area_width$}  {:6}  {}\n", r.name, r.area, r.outcome.label(), reason)
}

//! Figures: percentiles, medians over rounds, result rows and their ratio orientation.

use std::time::Duration;

use serde::Serialize;

/// Which direction is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput: more is better.
    Higher,
    /// Latency, start-up time, memory: less is better.
    Lower,
}

/// The `p`-th percentile (0..=100) of sorted samples, nearest-rank. Zero for no samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of the values (mean of the middle two for an even count). NaN for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

/// Ratio oriented so that above 1 means fnwire is better.
pub fn ratio(fnwire: f64, baseline: f64, better: Better) -> f64 {
    match better {
        Better::Higher => fnwire / baseline,
        Better::Lower => baseline / fnwire,
    }
}

/// One line of the result: a figure for fnwire and for its baseline.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub scenario: String,
    pub fnwire: Option<f64>,
    pub baseline: Option<f64>,
    pub unit: String,
    pub ratio: Option<f64>,
    /// Why the scenario did not run (only for skipped scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// What the baseline is (printed under the table, not written to JSON).
    #[serde(skip)]
    pub note: Option<String>,
}

impl Row {
    pub fn measured(scenario: &str, fnwire: f64, baseline: f64, unit: &str, better: Better) -> Row {
        Row {
            scenario: scenario.to_string(),
            fnwire: Some(fnwire),
            baseline: Some(baseline),
            unit: unit.to_string(),
            ratio: Some(ratio(fnwire, baseline, better)),
            skipped: None,
            note: None,
        }
    }

    pub fn skipped(scenario: &str, reason: impl Into<String>) -> Row {
        Row {
            scenario: scenario.to_string(),
            fnwire: None,
            baseline: None,
            unit: String::new(),
            ratio: None,
            skipped: Some(reason.into()),
            note: None,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Row {
        self.note = Some(note.into());
        self
    }
}

/// Formats a figure with sensible precision for a table.
pub fn figure(value: f64) -> String {
    if !value.is_finite() {
        "-".into()
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The table printed at the end of a run.
pub fn render_table(rows: &[Row]) -> String {
    let header = ["scenario", "fnwire", "baseline", "ratio", "unit"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| match &r.skipped {
            Some(reason) => [r.scenario.clone(), "skipped".into(), "-".into(), "-".into(), reason.clone()],
            None => [
                r.scenario.clone(),
                r.fnwire.map(figure).unwrap_or_default(),
                r.baseline.map(figure).unwrap_or_default(),
                r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_default(),
                r.unit.clone(),
            ],
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        // The last column (unit or skip reason) is not padded.
        for i in 0..4 {
            widths[i] = widths[i].max(row[i].len());
        }
    }
    let line = |c: [&str; 5]| {
        format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}\n",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    let mut out = line(header);
    for row in &cells {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out
}

/// The JSON written by `--json`: a list of rows.
pub fn to_json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into())
}

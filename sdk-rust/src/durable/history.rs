//! The orchestration trigger's JSON, as the durable extension sends it to out-of-process workers:
//! `history` (PascalCase events with `EventType` numbers), `input`, `instanceId`, schema versions.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// `EventType` numbers of the Durable Task Framework's history events.
pub(crate) mod event_type {
    pub const EXECUTION_STARTED: i64 = 0;
    pub const TASK_COMPLETED: i64 = 5;
    pub const TASK_FAILED: i64 = 6;
    pub const SUB_ORCHESTRATION_COMPLETED: i64 = 8;
    pub const SUB_ORCHESTRATION_FAILED: i64 = 9;
    pub const TIMER_FIRED: i64 = 11;
    pub const ORCHESTRATOR_STARTED: i64 = 12;
    pub const EVENT_SENT: i64 = 14;
    pub const EVENT_RAISED: i64 = 15;
}

/// The orchestration trigger's value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrchestrationInput {
    pub history: Vec<HistoryEvent>,
    #[serde(default)]
    pub input: Value,
    #[serde(default)]
    pub instance_id: String,
    #[serde(default)]
    pub parent_instance_id: Option<String>,
    #[serde(default)]
    pub upper_schema_version: Option<i64>,
    #[serde(default)]
    pub upper_schema_version_new: Option<i64>,
    /// Timers longer than this (a .NET `TimeSpan`) are split into intervals (schema V3).
    #[serde(default)]
    pub maximum_short_timer_duration: Option<String>,
    /// The length of each interval of a split timer.
    #[serde(default)]
    pub long_running_timer_interval_duration: Option<String>,
}

/// One history event; only the fields replay reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HistoryEvent {
    pub event_type: i64,
    #[serde(default = "minus_one")]
    pub event_id: i64,
    #[serde(default)]
    pub is_played: bool,
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub task_scheduled_id: Option<i64>,
    #[serde(default)]
    pub timer_id: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
}

fn minus_one() -> i64 {
    -1
}

/// The replay schema the worker answers in, as the official libraries choose it:
/// `upperSchemaVersion` (V1 = 0, V2 = 1), raised by `upperSchemaVersionNew` (V3 = 2) when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ReplaySchema {
    /// Actions grouped per awaited task (a list of lists); no `schemaVersion` in the answer.
    V1 = 0,
    /// One flat list, with `WhenAll`/`WhenAny` compound actions.
    V2 = 1,
    /// V2 plus long timers split into intervals.
    V3 = 2,
}

impl ReplaySchema {
    pub fn choose(upper: Option<i64>, upper_new: Option<i64>) -> ReplaySchema {
        let base = match upper.unwrap_or(0) {
            0 => ReplaySchema::V1,
            1 => ReplaySchema::V2,
            _ => ReplaySchema::V3,
        };
        match upper_new {
            Some(new) if new > base as i64 => {
                if new >= 2 {
                    ReplaySchema::V3
                } else {
                    ReplaySchema::V2
                }
            }
            _ => base,
        }
    }
}

/// Parses a .NET `TimeSpan` text (`[-][d.]hh:mm:ss[.fffffff]`), as the extension sends timer
/// limits.
pub(crate) fn parse_timespan(text: &str) -> Option<chrono::Duration> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (days, clock) = match rest.split_once('.') {
        Some((days, clock)) if !days.contains(':') => (days.parse::<i64>().ok()?, clock),
        _ => (0, rest),
    };
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = clock.split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || fraction.len() > 7 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Seven digits of ticks (100 ns).
    let ticks: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<7}").parse().ok()? };
    let span = chrono::Duration::days(days)
        + chrono::Duration::hours(hours)
        + chrono::Duration::minutes(minutes)
        + chrono::Duration::seconds(seconds)
        + chrono::Duration::microseconds(ticks / 10);
    Some(if negative { -span } else { span })
}

/// Times in actions and GUID names are written as the official libraries write them.
pub(crate) fn format_time(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_parse_like_dotnet() {
        assert_eq!(parse_timespan("3.00:00:00"), Some(chrono::Duration::days(3)));
        assert_eq!(parse_timespan("00:05:00"), Some(chrono::Duration::minutes(5)));
        assert_eq!(parse_timespan("01:00:00.5000000"), Some(chrono::Duration::milliseconds(3_600_500)));
        assert_eq!(parse_timespan("-00:00:01"), Some(chrono::Duration::seconds(-1)));
        assert_eq!(parse_timespan("nonsense"), None);
        assert_eq!(parse_timespan("1:2"), None);
    }

    #[test]
    fn schema_follows_the_upper_versions() {
        assert_eq!(ReplaySchema::choose(None, None), ReplaySchema::V1);
        assert_eq!(ReplaySchema::choose(Some(1), None), ReplaySchema::V2);
        assert_eq!(ReplaySchema::choose(Some(1), Some(2)), ReplaySchema::V3);
        assert_eq!(ReplaySchema::choose(Some(1), Some(7)), ReplaySchema::V3);
    }
}

//! Timer trigger input ([`TimerInfo`]).

use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use serde::Deserialize;

use crate::FunctionError;
use crate::convert::{FromTypedData, kind_of};

/// When the schedule last fired and will fire next. Times are as the host formats them, e.g.
/// `2026-01-01T00:05:00` (local time of the host, no offset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScheduleStatus {
    /// When the schedule last fired.
    pub last: String,
    /// When the schedule fires next.
    pub next: String,
    /// When the host last recorded this status.
    pub last_updated: String,
}

/// What a timer trigger receives.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TimerInfo {
    /// The schedule as the host describes it, e.g. `{"AdjustForDST": true}`.
    pub schedule: serde_json::Value,
    /// Absent when the host keeps no schedule status (e.g. `useMonitor: false`).
    pub schedule_status: Option<ScheduleStatus>,
    /// True when this run is late, e.g. because the app was down at the scheduled time.
    pub is_past_due: bool,
}

impl TimerInfo {
    /// Parses the host's timer JSON.
    pub fn from_json(text: &str) -> Result<Self, FunctionError> {
        let invalid = |why: String| {
            FunctionError::new(format!(
                "the timer data is not the JSON a timer trigger sends ({why}); expected \
                 {{\"Schedule\":…,\"ScheduleStatus\":…,\"IsPastDue\":…}}, got {text}"
            ))
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if !value.is_object() {
            return Err(invalid("it is not a JSON object".to_string()));
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }
}

impl FromTypedData for TimerInfo {
    const INPUT_KIND: crate::bind::InputKind = crate::bind::InputKind::Timer;
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        match &data.data {
            Some(Data::Json(text)) | Some(Data::String(text)) => TimerInfo::from_json(text),
            Some(Data::Bytes(b)) => TimerInfo::from_json(&String::from_utf8_lossy(b)),
            _ => Err(FunctionError::new(format!(
                "expected timer data (JSON), but the host sent {}; TimerInfo parameters belong to \
                 functions with a timer trigger",
                kind_of(&data)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::typed;

    #[test]
    fn reads_the_transcript_shape() {
        let text = r#"{"Schedule": {"AdjustForDST": true}, "ScheduleStatus": {"Last": "2026-01-01T00:00:00", "Next": "2026-01-01T00:05:00", "LastUpdated": "2026-01-01T00:00:00"}, "IsPastDue": false}"#;
        let timer = TimerInfo::from_typed_data(typed(Data::Json(text.into()))).unwrap();
        assert!(!timer.is_past_due);
        assert_eq!(timer.schedule["AdjustForDST"], true);
        let status = timer.schedule_status.unwrap();
        assert_eq!(status.next, "2026-01-01T00:05:00");
        assert_eq!(status.last_updated, "2026-01-01T00:00:00");
    }

    #[test]
    fn null_schedule_status_and_errors() {
        let timer =
            TimerInfo::from_json(r#"{"Schedule":{},"ScheduleStatus":null,"IsPastDue":true}"#).unwrap();
        assert!(timer.is_past_due);
        assert_eq!(timer.schedule_status, None);
        let err = TimerInfo::from_json("[1]").unwrap_err();
        assert!(err.message.contains("not the JSON a timer trigger sends"), "{err}");
        let err = TimerInfo::from_typed_data(typed(Data::Int(1))).unwrap_err();
        assert!(err.message.contains("an integer"), "{err}");
    }
}

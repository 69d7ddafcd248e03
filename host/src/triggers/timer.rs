//! Timer triggers: NCRONTAB schedules (six fields, seconds first) and TimeSpan intervals,
//! `runOnStartup`, and `useMonitor` (schedule status kept in the embedded store, so an
//! occurrence missed while the host was down runs once at the next start, past due).
//!
//! Cron evaluation uses the `croner` crate: it parses six-field patterns with seconds first
//! and, with `dom_and_dow`, requires both day fields to match, as NCRONTAB does. croner's
//! errors do not say which field is wrong, so each field is first checked on its own.
//! Schedules are evaluated in UTC.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use fnwire_protocol::rpc::{InvocationRequest, ParameterBinding, TypedData, parameter_binding, typed_data};
use fnwire_storage::{QueueStore, ScheduleStatus};
use serde_json::json;

use super::config::{TimespanError, parse_timespan};
use crate::invoke::{Invocation, Pipeline};

/// The fields of an NCRONTAB expression, in order.
pub const NCRONTAB_FIELDS: [&str; 6] = ["second", "minute", "hour", "day", "month", "day-of-week"];

/// What the timer's `Last` is before the first run (.NET's `default(DateTime)`).
const NEVER: &str = "0001-01-01T00:00:00+00:00";

/// A parsed timer schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    Cron { expression: String, cron: Box<Cron> },
    Interval(Duration),
}

/// A timer trigger's `schedule` cannot be used; messages name the field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("the timer trigger has no `schedule`")]
    Missing,
    #[error("interval schedule: {0}")]
    Interval(TimespanError),
    #[error("interval schedule `{0}` is zero; use at least 00:00:01")]
    ZeroInterval(String),
    #[error(
        "NCRONTAB schedule `{text}` has {count} field(s); it needs six: {{second}} {{minute}} {{hour}} {{day}} \
         {{month}} {{day-of-week}}, e.g. `0 */5 * * * *` for every five minutes"
    )]
    FieldCount { text: String, count: usize },
    #[error("NCRONTAB schedule `{text}`: the {field_name} field `{field}` is not valid ({error})")]
    Field { text: String, field_name: &'static str, field: String, error: String },
    #[error("NCRONTAB schedule `{text}` is not valid: {error}")]
    Invalid { text: String, error: String },
    #[error("NCRONTAB schedule `{0}` never fires (check the day and month fields together)")]
    NeverFires(String),
}

fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Required).dom_and_dow(true).build()
}

impl Schedule {
    /// Parses `schedule`: an interval when it contains `:` (`hh:mm:ss` or `d.hh:mm:ss`),
    /// otherwise NCRONTAB. Errors name the field that is wrong.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let text = text.trim();
        if text.contains(':') {
            let d = parse_timespan(text).map_err(ScheduleError::Interval)?;
            if d.is_zero() {
                return Err(ScheduleError::ZeroInterval(text.to_string()));
            }
            return Ok(Schedule::Interval(d));
        }
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(ScheduleError::FieldCount { text: text.to_string(), count: fields.len() });
        }
        let parser = parser();
        for (i, field) in fields.iter().enumerate() {
            let mut probe = ["*"; 6];
            probe[i] = field;
            if let Err(e) = parser.parse(&probe.join(" ")) {
                return Err(ScheduleError::Field {
                    text: text.to_string(),
                    field_name: NCRONTAB_FIELDS[i],
                    field: field.to_string(),
                    error: e.to_string(),
                });
            }
        }
        let cron = parser
            .parse(text)
            .map_err(|e| ScheduleError::Invalid { text: text.to_string(), error: e.to_string() })?;
        // A pattern can be valid field by field yet never match (e.g. 30 February).
        if cron.find_next_occurrence(&Utc::now(), false).is_err() {
            return Err(ScheduleError::NeverFires(text.to_string()));
        }
        Ok(Schedule::Cron { expression: text.to_string(), cron: Box::new(cron) })
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron { cron, .. } => cron.find_next_occurrence(&t, false).ok(),
            Schedule::Interval(d) => chrono::Duration::from_std(*d).ok().map(|d| t + d),
        }
    }

    /// Time between two occurrences after `t` (for the `useMonitor` default).
    pub fn interval_near(&self, t: DateTime<Utc>) -> Option<Duration> {
        let a = self.next_after(t)?;
        let b = self.next_after(a)?;
        (b - a).to_std().ok()
    }

    /// How the console shows it.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Cron { expression, .. } => format!("schedule {expression} (UTC)"),
            Schedule::Interval(d) => format!("every {}", humanize(*d)),
        }
    }

    /// The `Schedule` object of `TimerInfo`.
    pub fn info_json(&self) -> serde_json::Value {
        match self {
            Schedule::Cron { .. } => json!({ "AdjustForDST": true }),
            Schedule::Interval(_) => json!({}),
        }
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// ISO-8601 as `TimerInfo` carries times.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// A timer function as the host runs it.
#[derive(Debug, Clone)]
pub struct TimerFunction {
    pub name: String,
    pub function_id: String,
    pub trigger_name: String,
    pub schedule: Schedule,
    pub run_on_startup: bool,
    pub use_monitor: bool,
}

impl TimerFunction {
    /// Reads the trigger's settings; `useMonitor` defaults to true when occurrences are at
    /// least a minute apart, as in Azure.
    pub fn from_binding(
        name: &str,
        function_id: &str,
        trigger: &fnwire_metadata::Binding,
    ) -> Result<TimerFunction, ScheduleError> {
        let text = trigger.str_property("schedule").ok_or(ScheduleError::Missing)?;
        let schedule = Schedule::parse(text)?;
        let use_monitor = trigger.bool_property("useMonitor").unwrap_or_else(|| {
            schedule.interval_near(Utc::now()).is_some_and(|d| d >= Duration::from_secs(60))
        });
        Ok(TimerFunction {
            name: name.to_string(),
            function_id: function_id.to_string(),
            trigger_name: trigger.name.clone(),
            schedule,
            run_on_startup: trigger.bool_property("runOnStartup").unwrap_or(false),
            use_monitor,
        })
    }

    /// The `TimerInfo` JSON a run receives.
    pub fn timer_info(&self, status: Option<&ScheduleStatus>, is_past_due: bool) -> String {
        let status = status
            .filter(|_| self.use_monitor)
            .map(|s| json!({ "Last": s.last, "Next": s.next, "LastUpdated": s.last_updated }));
        json!({
            "Schedule": self.schedule.info_json(),
            "ScheduleStatus": status,
            "IsPastDue": is_past_due,
        })
        .to_string()
    }

    /// The invocation request for one run.
    pub fn invocation(&self, invocation_id: &str, timer_info: String) -> InvocationRequest {
        let data = TypedData { data: Some(typed_data::Data::Json(timer_info)) };
        InvocationRequest {
            invocation_id: invocation_id.to_string(),
            function_id: self.function_id.clone(),
            input_data: vec![ParameterBinding {
                name: self.trigger_name.clone(),
                rpc_data: Some(parameter_binding::RpcData::Data(data.clone())),
            }],
            trigger_metadata: [(self.trigger_name.clone(), data)].into(),
            trace_context: None,
            retry_context: None,
        }
    }

    /// Whether the recorded status says an occurrence passed while nobody ran it.
    pub fn is_past_due(&self, status: Option<&ScheduleStatus>, now: DateTime<Utc>) -> bool {
        self.use_monitor && status.and_then(|s| parse_timestamp(&s.next)).is_some_and(|next| next <= now)
    }
}

/// Runs a timer function for as long as the task lives.
/// Ends at the next wait after `stop` is raised; an occurrence already running finishes first.
pub(super) async fn run(
    timer: TimerFunction,
    store: Arc<dyn QueueStore>,
    pipeline: Pipeline,
    stop: crate::drain::StopSignal,
) {
    let timer = Arc::new(timer);
    let mut status = if timer.use_monitor { read_status(&timer, &store).await } else { None };
    let now = Utc::now();
    let past_due = timer.is_past_due(status.as_ref(), now);
    if past_due || timer.run_on_startup {
        let reason =
            if past_due { "past due (the host was down at its scheduled time)" } else { "runOnStartup" };
        tracing::info!("timer `{}`: running now ({reason})", timer.name);
        status = fire(&timer, &store, &pipeline, status, now, past_due).await;
    } else if timer.use_monitor && status.is_none() {
        // First start: record when it is due, so a later restart can tell it was missed.
        let next = timer.schedule.next_after(now).map(timestamp).unwrap_or_default();
        let fresh = ScheduleStatus { last: NEVER.into(), next, last_updated: timestamp(now) };
        save(&timer, &store, fresh.clone()).await;
        status = Some(fresh);
    }
    loop {
        let Some(next) = timer.schedule.next_after(Utc::now()) else {
            tracing::warn!("timer `{}`: its schedule has no further occurrence; it stops", timer.name);
            return;
        };
        if timer.use_monitor
            && let Some(s) = status.as_mut()
            && s.next != timestamp(next)
        {
            s.next = timestamp(next);
            s.last_updated = timestamp(Utc::now());
            save(&timer, &store, s.clone()).await;
        }
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.stopped() => return,
        }
        // Sleep may wake a hair early; never run before the occurrence.
        while Utc::now() < next {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Hosts sharing a store each wake for the occurrence; the one that claims it runs it.
        if !claim(&timer, &store, next).await {
            continue;
        }
        status = fire(&timer, &store, &pipeline, status, next, false).await;
        finish(&timer, &store, next).await;
    }
}

/// How long a claimed occurrence stays with its host before another may run it (the host
/// died before finishing).
const OCCURRENCE_LEASE: Duration = Duration::from_secs(60);

/// Claims the occurrence for this host. A store that cannot be reached claims nothing: the
/// occurrence is skipped rather than run by every host at once.
async fn claim(timer: &Arc<TimerFunction>, store: &Arc<dyn QueueStore>, due: DateTime<Utc>) -> bool {
    let (t, s) = (timer.clone(), store.clone());
    let owner = super::backend::host_instance_id();
    let claimed =
        tokio::task::spawn_blocking(move || s.claim_timer_occurrence(&t.name, due, owner, OCCURRENCE_LEASE))
            .await;
    match claimed {
        Ok(Ok(true)) => true,
        Ok(Ok(false)) => {
            tracing::debug!("timer `{}`: occurrence {} runs on another host", timer.name, timestamp(due));
            false
        }
        Ok(Err(e)) => {
            tracing::warn!(
                "timer `{}`: skipped the occurrence at {}: could not claim it in the store: {e}",
                timer.name,
                timestamp(due)
            );
            false
        }
        Err(_) => false,
    }
}

async fn finish(timer: &Arc<TimerFunction>, store: &Arc<dyn QueueStore>, due: DateTime<Utc>) {
    let (t, s) = (timer.clone(), store.clone());
    let owner = super::backend::host_instance_id();
    let done = tokio::task::spawn_blocking(move || s.finish_timer_occurrence(&t.name, due, owner)).await;
    if let Ok(Err(e)) = done {
        tracing::warn!(
            "timer `{}`: could not mark the occurrence at {} done: {e}",
            timer.name,
            timestamp(due)
        );
    }
}

/// Reads the schedule status on the blocking pool (store calls block).
async fn read_status(timer: &Arc<TimerFunction>, store: &Arc<dyn QueueStore>) -> Option<ScheduleStatus> {
    let (timer, store) = (timer.clone(), store.clone());
    let read = tokio::task::spawn_blocking(move || match store.schedule_status(&timer.name) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("timer `{}`: could not read its schedule status: {e}", timer.name);
            None
        }
    });
    read.await.ok().flatten()
}

/// Saves the schedule status on the blocking pool (monitored timers only).
async fn save(timer: &Arc<TimerFunction>, store: &Arc<dyn QueueStore>, status: ScheduleStatus) {
    if !timer.use_monitor {
        return;
    }
    let (timer, store) = (timer.clone(), store.clone());
    let saved = tokio::task::spawn_blocking(move || {
        if let Err(e) = store.set_schedule_status(&timer.name, &status) {
            tracing::warn!("timer `{}`: could not save its schedule status: {e}", timer.name);
        }
    });
    let _ = saved.await;
}

async fn fire(
    timer: &Arc<TimerFunction>,
    store: &Arc<dyn QueueStore>,
    pipeline: &Pipeline,
    status: Option<ScheduleStatus>,
    occurrence: DateTime<Utc>,
    past_due: bool,
) -> Option<ScheduleStatus> {
    let now = Utc::now();
    let next = timer.schedule.next_after(now.max(occurrence)).map(timestamp).unwrap_or_default();
    let shown = ScheduleStatus {
        last: status.as_ref().map(|s| s.last.clone()).unwrap_or_else(|| NEVER.into()),
        next: next.clone(),
        last_updated: timestamp(now),
    };
    let info = timer.timer_info(Some(&shown), past_due);
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let invocation = Invocation {
        function: timer.name.clone(),
        reason: if past_due { "Timer fired (past due)" } else { "Timer fired" }.into(),
        request: timer.invocation(&invocation_id, info),
        held: None,
    };
    // Recorded whatever the outcome (the pipeline logged it): Azure does not re-run a failed
    // occurrence either.
    let _ = pipeline.run(invocation).await;
    let recorded = ScheduleStatus { last: timestamp(occurrence), next, last_updated: timestamp(Utc::now()) };
    save(timer, store, recorded.clone()).await;
    Some(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, 10, h, m, s).unwrap()
    }

    #[test]
    fn ncrontab_has_seconds_first() {
        let s = Schedule::parse("*/5 * * * * *").unwrap();
        assert_eq!(s.next_after(at(10, 0, 1)).unwrap(), at(10, 0, 5));
        let s = Schedule::parse("0 30 9 * * *").unwrap();
        assert_eq!(s.next_after(at(10, 0, 0)).unwrap(), Utc.with_ymd_and_hms(2027, 3, 11, 9, 30, 0).unwrap());
        assert_eq!(s.interval_near(at(10, 0, 0)), Some(Duration::from_secs(86_400)));
        // 2027-03-10 is a Wednesday; 1-5 with NCRONTAB's 0 = Sunday.
        let weekdays = Schedule::parse("0 0 12 * * 1-5").unwrap();
        assert_eq!(
            weekdays.next_after(Utc.with_ymd_and_hms(2027, 3, 12, 13, 0, 0).unwrap()).unwrap(),
            Utc.with_ymd_and_hms(2027, 3, 15, 12, 0, 0).unwrap(),
            "Friday afternoon → Monday noon"
        );
        let sunday = Schedule::parse("0 0 0 * * 0").unwrap();
        assert_eq!(
            sunday.next_after(at(0, 0, 0)).unwrap(),
            Utc.with_ymd_and_hms(2027, 3, 14, 0, 0, 0).unwrap()
        );
        // Day of month AND day of week, as NCRONTAB: the 13th that is a Friday.
        let friday13 = Schedule::parse("0 0 0 13 * 5").unwrap();
        assert_eq!(
            friday13.next_after(at(0, 0, 0)).unwrap(),
            Utc.with_ymd_and_hms(2027, 8, 13, 0, 0, 0).unwrap()
        );
        assert!(Schedule::parse("0 0 9 * JAN MON").is_ok());
    }

    #[test]
    fn malformed_ncrontab_names_the_field() {
        for (text, field) in [
            ("61 * * * * *", "second"),
            ("0 60 * * * *", "minute"),
            ("0 0 25 * * *", "hour"),
            ("0 0 0 32 * *", "day"),
            ("0 0 0 * 13 *", "month"),
            ("0 0 0 * * 9", "day-of-week"),
            ("0 x * * * *", "minute"),
        ] {
            let e = Schedule::parse(text).unwrap_err().to_string();
            assert!(e.contains(&format!("the {field} field")), "{text}: {e}");
        }
        let e = Schedule::parse("* * * * *").unwrap_err().to_string();
        assert!(e.contains("5 field(s)") && e.contains("six"), "{e}");
        assert!(Schedule::parse("0 0 0 30 2 *").unwrap_err().to_string().contains("never fires"));
    }

    #[test]
    fn interval_schedules() {
        let s = Schedule::parse("00:00:02").unwrap();
        assert_eq!(s.next_after(at(1, 0, 0)).unwrap(), at(1, 0, 2));
        assert_eq!(
            Schedule::parse("1.00:00:00").unwrap().interval_near(at(0, 0, 0)),
            Some(Duration::from_secs(86_400))
        );
        assert!(Schedule::parse("00:00:00").is_err());
        assert!(Schedule::parse("00:61:00").unwrap_err().to_string().contains("interval schedule"));
        assert_eq!(s.describe(), "every 00:00:02");
    }

    fn binding(props: serde_json::Value) -> fnwire_metadata::Binding {
        let mut b = fnwire_metadata::Binding::new("timer", "timerTrigger", fnwire_metadata::Direction::In);
        for (k, v) in props.as_object().unwrap() {
            b.properties.insert(k.clone(), v.clone());
        }
        b
    }

    #[test]
    fn use_monitor_defaults_by_interval_and_past_due_needs_it() {
        let fast =
            TimerFunction::from_binding("t", "id", &binding(json!({"schedule": "*/2 * * * * *"}))).unwrap();
        assert!(!fast.use_monitor);
        let slow =
            TimerFunction::from_binding("t", "id", &binding(json!({"schedule": "0 */5 * * * *"}))).unwrap();
        assert!(slow.use_monitor);
        let forced = TimerFunction::from_binding(
            "t",
            "id",
            &binding(json!({"schedule": "*/2 * * * * *", "useMonitor": true, "runOnStartup": true})),
        )
        .unwrap();
        assert!(forced.use_monitor && forced.run_on_startup);

        let status = ScheduleStatus {
            last: NEVER.into(),
            next: timestamp(at(10, 5, 0)),
            last_updated: timestamp(at(10, 0, 0)),
        };
        assert!(slow.is_past_due(Some(&status), at(10, 5, 0)));
        assert!(slow.is_past_due(Some(&status), at(12, 0, 0)));
        assert!(!slow.is_past_due(Some(&status), at(10, 4, 59)));
        assert!(!slow.is_past_due(None, at(12, 0, 0)));
        assert!(!fast.is_past_due(Some(&status), at(12, 0, 0)), "no monitor, no past due");

        let info: serde_json::Value = serde_json::from_str(&slow.timer_info(Some(&status), true)).unwrap();
        assert_eq!(info["IsPastDue"], true);
        assert_eq!(info["Schedule"]["AdjustForDST"], true);
        assert_eq!(info["ScheduleStatus"]["Next"], "2027-03-10T10:05:00.000+00:00");
        assert_eq!(info["ScheduleStatus"]["Last"], NEVER);
        let info: serde_json::Value = serde_json::from_str(&fast.timer_info(Some(&status), false)).unwrap();
        assert!(info["ScheduleStatus"].is_null());

        let e = TimerFunction::from_binding("t", "id", &binding(json!({"schedule": "0 0 99 * * *"})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("hour"), "{e}");
    }
}

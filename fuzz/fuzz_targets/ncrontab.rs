//! Timer schedules (six-field NCRONTAB and TimeSpan intervals) from function metadata: parsing
//! and computing the next occurrence never panic or loop, and the next occurrence is later.

#![no_main]

use chrono::{DateTime, Utc};
use fnwire_host::triggers::timer::Schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(schedule) = Schedule::parse(&text) else { return };
    for seconds in [0, 1_800_000_000, 4_102_444_799] {
        let now = DateTime::<Utc>::from_timestamp(seconds, 0).unwrap_or_default();
        if let Some(next) = schedule.next_after(now) {
            assert!(next > now, "`{text}`: next occurrence {next} is not after {now}");
        }
        let _ = schedule.interval_near(now);
    }
    let _ = schedule.describe();
    let _ = schedule.info_json();
});

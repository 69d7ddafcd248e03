//! Timer schedule status: when each timer function last ran and is next due, so a host that
//! was down past an occurrence can tell on restart.

use rusqlite::{OptionalExtension, params};

use crate::{StorageError, Store};

/// A timer function's schedule status, times as ISO-8601 text (what `TimerInfo` carries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleStatus {
    pub last: String,
    pub next: String,
    pub last_updated: String,
}

impl Store {
    /// The stored status of a timer function, if it ever ran with monitoring.
    pub fn schedule_status(&self, function: &str) -> Result<Option<ScheduleStatus>, StorageError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT last, next, last_updated FROM timer_status WHERE function = ?1",
            params![function],
            |r| Ok(ScheduleStatus { last: r.get(0)?, next: r.get(1)?, last_updated: r.get(2)? }),
        )
        .optional()
        .map_err(|e| self.sql_error("reading timer status", e))
    }

    /// Stores a timer function's status.
    pub fn set_schedule_status(&self, function: &str, status: &ScheduleStatus) -> Result<(), StorageError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO timer_status (function, last, next, last_updated) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (function) DO UPDATE SET last = ?2, next = ?3, last_updated = ?4",
            params![function, status.last, status.next, status.last_updated],
        )
        .map(|_| ())
        .map_err(|e| self.sql_error("writing timer status", e))
    }
}

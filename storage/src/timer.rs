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

    /// Claims one timer occurrence: inserts its row, or takes over one whose claim expired
    /// before it was done. One host per embedded store makes this uncontended, but the rule
    /// is the same as on a shared store.
    pub fn claim_timer_occurrence(
        &self,
        function: &str,
        due: chrono::DateTime<chrono::Utc>,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, StorageError> {
        let now = crate::millis(self.now());
        let expires = now.saturating_add(crate::duration_ms(lease));
        let conn = self.lock();
        conn.execute(
            "INSERT INTO timer_occurrences (function, due_ms, owner, expires_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (function, due_ms) DO UPDATE SET owner = ?3, expires_ms = ?4
             WHERE done = 0 AND expires_ms <= ?5",
            params![function, crate::millis(due), owner, expires, now],
        )
        .map(|n| n == 1)
        .map_err(|e| self.sql_error("claiming a timer occurrence", e))
    }

    /// Marks a claimed occurrence done, and forgets occurrences a day older than it.
    pub fn finish_timer_occurrence(
        &self,
        function: &str,
        due: chrono::DateTime<chrono::Utc>,
        owner: &str,
    ) -> Result<(), StorageError> {
        let due = crate::millis(due);
        let conn = self.lock();
        let run = || -> rusqlite::Result<()> {
            conn.execute(
                "UPDATE timer_occurrences SET done = 1 WHERE function = ?1 AND due_ms = ?2 AND owner = ?3",
                params![function, due, owner],
            )?;
            conn.execute(
                "DELETE FROM timer_occurrences WHERE function = ?1 AND due_ms < ?2",
                params![function, due - 86_400_000],
            )?;
            Ok(())
        };
        run().map_err(|e| self.sql_error("finishing a timer occurrence", e))
    }
}

//! Warnings that clients or stray processes can trigger at will (refused keys, refused worker
//! streams, connections closed for a limit) are logged at most once per interval, with the
//! number left out since, so a flood cannot fill the console or the disk.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kind of repeatable warning.
#[derive(Debug)]
pub struct RateLimitedLog {
    interval: Duration,
    state: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    pub fn new(interval: Duration) -> Self {
        RateLimitedLog { interval, state: Mutex::default() }
    }

    /// Returns the suffix to append ("" or " (and N more like it since the last one)") when a
    /// line is due now, else counts the event and returns `None`.
    pub fn admit(&self) -> Option<String> {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if s.last.is_some_and(|last| now.duration_since(last) < self.interval) {
            s.suppressed += 1;
            return None;
        }
        s.last = Some(now);
        let suppressed = std::mem::take(&mut s.suppressed);
        Some(if suppressed == 0 {
            String::new()
        } else {
            format!(" (and {suppressed} more like it since the last such line)")
        })
    }

    /// Logs a warning built by `line` from the suffix, if one is due.
    pub fn warn(&self, line: impl FnOnce(&str) -> String) {
        if let Some(suffix) = self.admit() {
            tracing::warn!("{}", line(&suffix));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_then_the_count_of_the_rest() {
        let log = RateLimitedLog::new(Duration::from_millis(200));
        assert_eq!(log.admit().as_deref(), Some(""));
        for _ in 0..1000 {
            assert_eq!(log.admit(), None);
        }
        std::thread::sleep(Duration::from_millis(250));
        let next = log.admit().unwrap();
        assert!(next.contains("1000 more"), "{next}");
    }
}

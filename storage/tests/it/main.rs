//! Integration tests of the embedded store, on real SQLite files.

mod blob;
mod group_commit;
mod open;
mod queue;
mod timer;
mod topic;
pub mod topic_behaviour;
mod topic_delivery_cost;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fnwire_storage::{Store, StoreOptions};

/// A clock the test moves by hand, so no test depends on wall-clock time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock(Arc::new(Mutex::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap())))
    }
}

impl ManualClock {
    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }

    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap();
        *t += chrono::Duration::from_std(d).unwrap();
    }
}

pub fn store_with_clock(dir: &std::path::Path) -> (Store, ManualClock) {
    let clock = ManualClock::default();
    let c = clock.clone();
    let options = StoreOptions { clock: Arc::new(move || *c.0.lock().unwrap()), ..StoreOptions::default() };
    (Store::open_with(dir, options).unwrap(), clock)
}

//! Group commit of completions: callers that complete messages at the same time share one
//! SQLite transaction.
//!
//! Each commit writes the same handful of pages (the table's and indexes' leaves, the
//! `sqlite_sequence` row) to the WAL whether it carries one completion or twenty, and the
//! connection is one `Mutex`: committing one completion at a time makes every caller queue
//! behind the others' page writes. Instead, a caller appends its completion to a list; if no
//! commit is running it becomes the leader: it takes the whole list, commits it in one
//! transaction and hands every caller its own result. Callers that arrive meanwhile wait for
//! the next group, whose leader is one of them. Nobody waits for a timer: a group is whatever
//! arrived while the previous commit ran, so a lone caller commits at once.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::queue::Completion;
use crate::{StorageError, Store};

/// At most this many completions share a transaction, so one group's commit (and the wait of
/// its first caller) stays short however many callers pile up.
const MAX_GROUP: usize = 256;

#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    /// Completions no leader has taken yet, in arrival order, each with its caller's turn.
    queued: Vec<(Arc<Turn>, Completion)>,
    /// Whether a caller is leading (committing a group, or about to).
    leading: bool,
}

/// What one waiting caller is told. Each caller waits on its own, so a commit wakes exactly
/// the callers it concerns and the next leader, not every waiting thread.
#[derive(Default)]
struct Turn {
    told: Mutex<Told>,
    changed: Condvar,
}

#[derive(Default)]
enum Told {
    #[default]
    Wait,
    /// Commit the next group (it starts with this caller's completion).
    Lead,
    Done(Result<(), StorageError>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Turn {
    fn tell(&self, told: Told) {
        *lock(&self.told) = told;
        self.changed.notify_one();
    }

    /// Waits until told to lead or given a result.
    fn wait(&self) -> Told {
        let mut told = lock(&self.told);
        loop {
            match std::mem::take(&mut *told) {
                Told::Wait => told = self.changed.wait(told).unwrap_or_else(PoisonError::into_inner),
                other => return other,
            }
        }
    }
}

impl GroupCommit {
    /// Commits `completion` together with whatever other callers submit meanwhile, and
    /// returns this completion's own result.
    pub(crate) fn submit(&self, store: &Store, completion: Completion) -> Result<(), StorageError> {
        let turn = Arc::new(Turn::default());
        let lead_now = {
            let mut state = lock(&self.state);
            state.queued.push((turn.clone(), completion));
            // Nobody leading means nothing else is queued: this caller commits at once.
            !std::mem::replace(&mut state.leading, true)
        };
        if lead_now {
            self.lead(store);
        }
        loop {
            match turn.wait() {
                Told::Lead => self.lead(store),
                Told::Done(result) => return result,
                Told::Wait => {}
            }
        }
    }

    /// Commits the queued completions (the leader's own comes first), gives every caller of
    /// the group its result, then hands leadership to the first caller still queued.
    fn lead(&self, store: &Store) {
        let group: Vec<(Arc<Turn>, Completion)> = {
            let mut state = lock(&self.state);
            let take = state.queued.len().min(MAX_GROUP);
            state.queued.drain(..take).collect()
        };
        let (turns, completions): (Vec<Arc<Turn>>, Vec<Completion>) = group.into_iter().unzip();
        // Results come back in order, one per completion, whatever happens; if the commit
        // panicked, every caller of the group learns it rather than waiting forever.
        let results =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.complete_many(&completions)))
                .unwrap_or_else(|_| completions.iter().map(|_| Err(StorageError::CompletionBug)).collect());
        for (turn, result) in turns.iter().zip(results) {
            turn.tell(Told::Done(result));
        }
        let mut state = lock(&self.state);
        match state.queued.first() {
            Some((next, _)) => next.tell(Told::Lead),
            None => state.leading = false,
        }
    }
}

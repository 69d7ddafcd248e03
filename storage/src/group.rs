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

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::queue::Completion;
use crate::{StorageError, Store};

/// At most this many completions share a transaction, so one group's commit (and the wait of
/// its first caller) stays short however many callers pile up.
const MAX_GROUP: usize = 256;

#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<Waiting>,
    /// Signalled whenever a group's results are in (and leadership is free again).
    done: Condvar,
}

#[derive(Default)]
struct Waiting {
    next_ticket: u64,
    /// Completions no leader has taken yet, in arrival order.
    queued: Vec<(u64, Completion)>,
    /// Whether a leader is committing a group now.
    leading: bool,
    /// Results of committed groups not yet picked up by their callers.
    results: HashMap<u64, Result<(), StorageError>>,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits `completion` together with whatever other callers submit meanwhile, and
    /// returns this completion's own result.
    pub(crate) fn submit(&self, store: &Store, completion: Completion) -> Result<(), StorageError> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queued.push((ticket, completion));
        loop {
            if let Some(result) = state.results.remove(&ticket) {
                return result;
            }
            if !state.leading {
                // No result and no leader: this completion is still queued (a leader stores
                // the results of everything it took before it gives up leadership).
                state.leading = true;
                let take = state.queued.len().min(MAX_GROUP);
                let group: Vec<(u64, Completion)> = state.queued.drain(..take).collect();
                drop(state);
                let (tickets, completions): (Vec<u64>, Vec<Completion>) = group.into_iter().unzip();
                // Results come back in order, one per completion, whatever happens; if the
                // commit panicked, every caller of the group learns it rather than waiting forever.
                let results = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    store.complete_many(&completions)
                }))
                .unwrap_or_else(|_| completions.iter().map(|_| Err(StorageError::CommitPanicked)).collect());
                state = self.lock();
                state.results.extend(tickets.into_iter().zip(results));
                state.leading = false;
                self.done.notify_all();
                continue;
            }
            state = self.done.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

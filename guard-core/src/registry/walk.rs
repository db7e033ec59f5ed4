//! [`Walk`]: one running `for_each` pass, which leases a batch at a time and records it
//! with its [`PassState`] (see `pass.rs` for the protocol with removers).

use super::key::Key;
use super::lease::Lease;
use super::pass::{BATCH, PassRecord, PassState};
use super::store::Store;
use crate::census::Origin;
use crate::loom::Arc;
use std::mem::ManuallyDrop;

/// One running pass over a store: its batch and its record in the table. Dropping it (at
/// the end, or while a callback's panic unwinds) ends the batch's leases and removes the
/// record.
pub(super) struct Walk<'r, T: Copy + Send + 'static> {
    store: &'r Store<T>,
    state: Arc<PassState>,
    /// The pass's record in the table, once it has one.
    id: Option<usize>,
    batch: Vec<(Key, T, &'static Origin)>,
    cursor: usize,
}

impl<'r, T: Copy + Send + 'static> Walk<'r, T> {
    pub(super) fn new(store: &'r Store<T>) -> Self {
        Walk {
            store,
            state: Arc::new(PassState::default()),
            id: None,
            batch: Vec::with_capacity(BATCH),
            cursor: 0,
        }
    }

    /// Calls `f` on every live entry, a batch at a time (see the module docs).
    pub(super) fn run(mut self, mut f: impl FnMut(&Lease<'_, T>)) {
        // The first pass registers the process for `membarrier`, so that `light` costs no
        // fence from then on (loom models the fences themselves, not the registration).
        #[cfg(not(guard_loom))]
        if !crate::barrier::is_expedited() {
            crate::barrier::heavy();
        }
        while self.next_batch() {
            // The claims as of the last settle: the slots not to visit.
            let mut settled = 0u64;
            for j in 0..self.batch.len() {
                if self.state.step(j, settled) {
                    settled = self.settle();
                }
                if settled & (1 << j) == 0 {
                    let (key, value, origin) = self.batch[j];
                    // Not dropped: the lease ends through the pass, not `Lease::drop`.
                    let lease = ManuallyDrop::new(Lease::new(self.store, key, value, origin));
                    f(&lease);
                }
            }
            self.end_batch();
        }
    }

    /// Leases the next batch (and records it); false when there is none (the record is
    /// then removed).
    fn next_batch(&mut self) -> bool {
        let mut table = self.store.table.lock();
        let table = &mut *table;
        let end = table.rows.capacity();
        while self.cursor < end && self.batch.len() < BATCH {
            if let Some(row) = table.rows.get_mut(self.cursor)
                && row.lease.acquire()
            {
                let key = Key {
                    index: self.cursor as u32,
                    generation: row.generation,
                };
                self.batch.push((key, row.value, row.origin));
            }
            self.cursor += 1;
        }
        let id = match (self.id, self.batch.is_empty()) {
            (None, true) => return false,
            (Some(id), true) => {
                table.passes.remove(id);
                self.id = None;
                return false;
            }
            (Some(id), false) => id,
            (None, false) => {
                let id = table.passes.insert(PassRecord::new(self.state.clone()));
                self.id = Some(id);
                id
            }
        };
        table.passes[id].start_batch(self.batch.iter().map(|(key, ..)| *key));
        true
    }

    /// Settles the claims removers made on the batch: ends the leases whose removal met
    /// their visit (their release runs now) and returns the claimed slots.
    fn settle(&self) -> u64 {
        let mut finished = Vec::new();
        let claimed = {
            let mut table = self.store.table.lock();
            let id = self.id.expect("a pass with a batch has a record");
            let (deferred, claimed) = table.passes[id].settle();
            Store::end_leases_in(&mut table, self.keys(deferred), &mut finished);
            claimed
        };
        self.store.run_releases(finished);
        claimed
    }

    /// The keys of the batch's slots in `mask` (bit `j` for slot `j`).
    fn keys(&self, mask: u32) -> impl Iterator<Item = Key> + '_ {
        self.batch
            .iter()
            .enumerate()
            .filter(move |(j, _)| mask & (1 << j) != 0)
            .map(|(_, (key, ..))| *key)
    }

    /// Ends the visits and the leases the pass still holds in its batch.
    fn end_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.state.finish();
        let mut finished = Vec::new();
        {
            let mut table = self.store.table.lock();
            let ends = match self.id {
                Some(id) => table.passes[id].end_batch(),
                None => u32::MAX,
            };
            Store::end_leases_in(&mut table, self.keys(ends), &mut finished);
        }
        self.batch.clear();
        self.store.run_releases(finished);
    }
}

impl<T: Copy + Send + 'static> Drop for Walk<'_, T> {
    fn drop(&mut self) {
        // Only on unwinding from a callback has the batch leases left to end.
        self.end_batch();
        if let Some(id) = self.id.take() {
            self.store.table.lock().passes.remove(id);
        }
    }
}

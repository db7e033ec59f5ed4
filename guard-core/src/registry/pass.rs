//! [`Pass`]: the state of one [`Registry::for_each`](super::Registry::for_each) pass, shared
//! with removers, so that a removal waits only for the visit of its own entry.
//!
//! A pass leases its entries a batch at a time (one lock acquisition per batch), and the
//! batch's rows are recorded in the table. A removal that meets a pass's lease on a row
//! looks at the pass's [`PassState`]:
//!
//! - the pass is not visiting that row (not reached yet, or already visited): the remover
//!   takes the lease over (the slot's *given-up* bit) and, unless another lease holds the
//!   row, releases the value at once; the pass skips the slot and does not end its lease;
//! - the pass is visiting it: the removal is deferred (the *deferred* bit), and the pass
//!   ends that lease, running the release, as soon as the visit returns.
//!
//! Both sides change the state word with one compare-and-swap each, so exactly one of them
//! sees the other. The pass's cost per visit is that one CAS, on a word only it and rare
//! removers touch.

use super::key::Key;
use super::lease::Lease;
use super::store::Store;
use crate::census::Origin;
use crate::loom::{Arc, AtomicU64, Ordering};
use std::mem::ManuallyDrop;

/// How many entries a pass leases under one lock acquisition.
pub(super) const BATCH: usize = 32;

/// Bits 0..32: slot `j`'s lease is given up (taken over by a remover, or ended by the pass
/// after a deferred visit); the pass must neither visit the slot nor end its lease.
const GIVEN_UP: u64 = (1 << 32) - 1;
/// Bits 32..40: the slot under visit, plus one (0: none).
const VISITING_SHIFT: u32 = 32;
const VISITING: u64 = 0xff << VISITING_SHIFT;
/// Bit 40: a removal met the visit of the slot under visit; its lease ends after the visit.
const DEFERRED: u64 = 1 << 40;

const _: () = assert!(BATCH <= 32, "one given-up bit per slot in a u32");

/// The state word of one pass (see the module docs).
#[derive(Debug, Default)]
pub(super) struct PassState {
    word: AtomicU64,
}

/// What a remover did with a pass's lease on the row it removes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Met {
    /// The pass holds no lease on the row (not in its batch, or given up already).
    Nothing,
    /// The remover took the pass's lease over: one lease fewer on the row.
    TookOver,
    /// The row is under visit: its release waits for the visit to end.
    Deferred,
}

/// One live pass, as the table records it: its state and its batch's rows.
#[derive(Debug)]
pub(super) struct PassRecord {
    state: Arc<PassState>,
    /// The slab index of each slot's row in the current batch (`len` of them).
    rows: [u32; BATCH],
    len: usize,
}

impl PassRecord {
    pub(super) fn new(state: Arc<PassState>) -> Self {
        PassRecord {
            state,
            rows: [0; BATCH],
            len: 0,
        }
    }

    /// Records a new batch, under the table lock (no remover can run): every slot leased,
    /// none under visit.
    pub(super) fn start_batch(&mut self, rows: impl Iterator<Item = u32>) {
        self.len = 0;
        for (slot, row) in self.rows.iter_mut().zip(rows) {
            *slot = row;
            self.len += 1;
        }
        self.state.word.store(0, Ordering::Release);
    }

    /// Forgets the batch, under the table lock; returns the mask of its slots whose lease
    /// the pass gave up (bit `j` for slot `j`): the pass ends the others.
    pub(super) fn end_batch(&mut self) -> u64 {
        self.len = 0;
        self.state.word.load(Ordering::Acquire) & GIVEN_UP
    }

    /// Called by a remover, under the table lock, for the row at slab index `row`.
    pub(super) fn meet_removal(&self, row: u32) -> Met {
        let mut met = Met::Nothing;
        for j in (0..self.len).filter(|&j| self.rows[j] == row) {
            let bit = 1u64 << j;
            let mut s = self.state.word.load(Ordering::Acquire);
            loop {
                if s & bit != 0 {
                    break; // this slot's lease is gone: the row at this index is not its row
                }
                let visiting = (s & VISITING) >> VISITING_SHIFT == j as u64 + 1;
                let new = if visiting { s | DEFERRED } else { s | bit };
                match self.state.word.compare_exchange_weak(
                    s,
                    new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        met = if visiting {
                            Met::Deferred
                        } else {
                            Met::TookOver
                        };
                        break;
                    }
                    Err(now) => s = now,
                }
            }
        }
        met
    }
}

impl PassState {
    /// The pass moves on to slot `next` (`None`: the batch is done). Returns whether `next`
    /// is to be visited (its lease not given up), and the slot just visited if a removal
    /// met its visit (the pass must end that lease now).
    #[inline]
    pub(super) fn advance(&self, next: Option<usize>) -> (bool, Option<usize>) {
        let mut s = self.word.load(Ordering::Acquire);
        loop {
            let given_up = s & GIVEN_UP;
            let visit = next.is_some_and(|j| given_up & (1 << j) == 0);
            let visiting = match next {
                Some(j) if visit => (j as u64 + 1) << VISITING_SHIFT,
                _ => 0,
            };
            let new = given_up | visiting;
            match self
                .word
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    let done = ((s & VISITING) >> VISITING_SHIFT) as usize;
                    let deferred = (s & DEFERRED != 0 && done > 0).then(|| done - 1);
                    return (visit, deferred);
                }
                Err(now) => s = now,
            }
        }
    }

    /// Marks `slot`'s lease as ended by the pass (after a deferred visit), so that neither
    /// a remover nor the end of the batch touches it again. Called under the table lock.
    pub(super) fn give_up(&self, slot: usize) {
        self.word.fetch_or(1 << slot, Ordering::AcqRel);
    }
}

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
        while self.next_batch() {
            for j in 0..self.batch.len() {
                let (visit, deferred) = self.state.advance(Some(j));
                if let Some(done) = deferred {
                    self.end_deferred(done);
                }
                if visit {
                    let (key, value, origin) = self.batch[j];
                    // Not dropped: the lease ends through the pass's state, not `Lease::drop`.
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
        table.passes[id].start_batch(self.batch.iter().map(|(key, ..)| key.index));
        true
    }

    /// Ends the lease of `slot`, whose visit a removal met: the release runs now.
    fn end_deferred(&self, slot: usize) {
        // Before the lease ends (and the row's index can be reused): a remover of a later
        // row at that index must not take it for this slot's.
        self.state.give_up(slot);
        self.store.end_leases(std::iter::once(self.batch[slot].0));
    }

    /// Ends the visits and the leases the pass still holds in its batch.
    fn end_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let (_, deferred) = self.state.advance(None);
        if let Some(done) = deferred {
            self.end_deferred(done);
        }
        let mut finished = Vec::new();
        {
            let mut table = self.store.table.lock();
            let given_up = match self.id {
                Some(id) => table.passes[id].end_batch(),
                None => 0,
            };
            let held = self
                .batch
                .iter()
                .enumerate()
                .filter(|(j, _)| given_up & (1 << j) == 0)
                .map(|(_, (key, ..))| *key);
            Store::end_leases_in(&mut table, held, &mut finished);
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

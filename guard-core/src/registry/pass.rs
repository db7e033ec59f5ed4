//! [`PassState`] and [`PassRecord`]: the state of one [`Registry::for_each`](super::Registry::for_each) pass, shared
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

use crate::loom::{Arc, AtomicU64, Ordering};

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

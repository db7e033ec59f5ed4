//! [`PassState`] and [`PassRecord`]: the state of one [`Registry::for_each`](super::Registry::for_each) pass, shared
//! with removers, so that a removal waits only for the visit of its own entry.
//!
//! A pass leases its entries a batch at a time (one lock acquisition per batch), and the
//! batch's keys are recorded in the table. A removal that meets a pass's lease on an entry
//! *claims* that lease and then looks at where the pass is:
//!
//! - the pass is not visiting the entry (not reached yet, or already visited): the remover
//!   takes the lease over and, unless another lease holds the entry, releases the value at
//!   once; the pass skips the slot and does not end its lease;
//! - the pass is visiting it: the removal is deferred (the slot's *deferred* bit), and the
//!   pass ends that lease, running the release, as soon as the visit returns.
//!
//! The pass's step to slot `j` is a plain store of `at = j + 1`, [`barrier::light`] (a
//! compiler fence once the process is registered for `membarrier`) and a plain load of the
//! claims; only a claim it has not settled yet sends it to the table lock. The remover's
//! side is the claim, [`barrier::heavy`] and a load of `at`. This is a store-buffering pair:
//! at least one side sees the other's store. If the pass misses the claim, the remover sees
//! `at = j + 1` (or later: the visit is over) and defers; if the remover misses the step,
//! the pass sees the claim and skips the slot. The pass's step after its visit of `j`
//! pairs the same way with a remover that deferred: the pass sees the claim and ends the
//! lease. Every decision is made and read under the table lock, so a pass that sees a
//! claim settles it there, after the remover has decided.
//!
//! A remover pays the barrier only when the pass may still be about to visit the slot (it
//! is at or before it) and runs on another thread: the pass's own thread (a callback, a
//! release the pass runs) is not in the middle of a step.

use super::key::Key;
use crate::barrier;
use crate::loom::{Arc, AtomicU32, AtomicU64, Ordering, thread};

/// How many entries a pass leases under one lock acquisition.
pub(super) const BATCH: usize = 32;

/// Bits 0..32 of the claims: slot `j`'s lease is claimed by a remover (the pass must not
/// visit the slot, nor end its lease unless the slot is deferred too).
const CLAIMED: u64 = (1 << 32) - 1;
/// Bits 32..64: slot `j`'s removal met its visit; the pass ends its lease.
const DEFERRED_SHIFT: u32 = 32;
/// `at` once the pass is past its batch's last slot.
const DONE: u32 = u32::MAX;

const _: () = assert!(
    BATCH <= 32,
    "one claimed and one deferred bit per slot in a u64"
);

/// The state of one pass that removers read and write (see the module docs).
#[derive(Debug, Default)]
pub(super) struct PassState {
    /// The slot the pass is at, plus one: 0 before its first step in the batch, [`DONE`]
    /// after its last. Written only by the pass's thread; grows within a batch.
    at: AtomicU32,
    /// [`CLAIMED`] and deferred bits. Written only under the table lock.
    claims: AtomicU64,
}

impl PassState {
    /// The pass steps to `slot` (ending its visit of the previous slot, if any). True if a
    /// claim appeared that `settled` (the claims as of the pass's last settle) lacks: the
    /// pass must settle under the table lock before it visits `slot`.
    #[inline(always)]
    pub(super) fn step(&self, slot: usize, settled: u64) -> bool {
        // Release: a remover that reads this (or a later step) finds the previous visit over.
        self.at.store(slot as u32 + 1, Ordering::Release);
        barrier::light();
        self.claims.load(Ordering::Relaxed) != settled
    }

    /// The pass is past its batch's last slot (its last visit is over).
    pub(super) fn finish(&self) {
        self.at.store(DONE, Ordering::Release);
    }
}

/// What a remover did with a pass's lease on the entry it removes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Met {
    /// The pass holds no lease on the entry (not in its batch).
    Nothing,
    /// The remover took the pass's lease over: one lease fewer on the entry.
    TookOver,
    /// The entry is under visit: its release waits for the visit to end.
    Deferred,
}

/// One live pass, as the table records it: its state, its thread and its batch's keys.
/// Read and written under the table lock only.
#[derive(Debug)]
pub(super) struct PassRecord {
    state: Arc<PassState>,
    thread: thread::ThreadId,
    /// The key of each slot's entry in the current batch (`len` of them).
    keys: [Key; BATCH],
    len: usize,
    /// The slot a remover claimed and has yet to decide on (between `claim` and `decide`).
    pending: Option<usize>,
}

impl PassRecord {
    /// The record of a pass run by the calling thread.
    pub(super) fn new(state: Arc<PassState>) -> Self {
        PassRecord {
            state,
            thread: thread::current().id(),
            keys: [Key {
                index: 0,
                generation: 0,
            }; BATCH],
            len: 0,
            pending: None,
        }
    }

    /// Records a new batch: every slot leased, none claimed, the pass before its first step.
    pub(super) fn start_batch(&mut self, keys: impl Iterator<Item = Key>) {
        self.len = 0;
        for (slot, key) in self.keys.iter_mut().zip(keys) {
            *slot = key;
            self.len += 1;
        }
        self.state.claims.store(0, Ordering::Relaxed);
        self.state.at.store(0, Ordering::Relaxed);
    }

    /// The pass settles the claims: returns the slots whose removal met their visit (bit
    /// `j` for slot `j`; the pass ends their leases now, and is not told again) and the
    /// claimed slots (which it must not visit).
    pub(super) fn settle(&self) -> (u32, u64) {
        let claims = self.state.claims.load(Ordering::Relaxed);
        let deferred = (claims >> DEFERRED_SHIFT) as u32;
        if deferred != 0 {
            self.state.claims.store(claims & CLAIMED, Ordering::Relaxed);
        }
        (deferred, claims & CLAIMED)
    }

    /// Forgets the batch (the pass is past its last slot); returns the slots whose lease the
    /// pass ends now: the unclaimed ones and the deferred ones.
    pub(super) fn end_batch(&mut self) -> u32 {
        let (deferred, claimed) = self.settle();
        self.len = 0;
        deferred | !(claimed as u32)
    }

    /// A remover's first step for the entry `key`: claims the pass's lease on it, if the
    /// batch holds one. Returns `None` if not, else whether the claim needs
    /// [`barrier::heavy`] before [`decide`](Self::decide) (the pass may be about to visit
    /// the entry on another thread).
    pub(super) fn claim(&mut self, key: Key, remover: thread::ThreadId) -> Option<bool> {
        let slot = self.keys[..self.len].iter().position(|&k| k == key)?;
        let bit = 1u64 << slot;
        let claims = self.state.claims.load(Ordering::Relaxed);
        debug_assert_eq!(claims & bit, 0, "an entry is removed once");
        self.state.claims.store(claims | bit, Ordering::Relaxed);
        self.pending = Some(slot);
        // `at` only grows within a batch: a pass past the slot never looks at it again
        // outside the table lock, and its visit of it is over (Acquire: it happened before).
        let behind = self.state.at.load(Ordering::Acquire) > slot as u32 + 1;
        Some(!behind && remover != self.thread)
    }

    /// A remover's second step, after the barrier `claim` asked for: defers the removal if
    /// the pass is at the claimed slot, else takes the lease over.
    pub(super) fn decide(&mut self) -> Met {
        let Some(slot) = self.pending.take() else {
            return Met::Nothing;
        };
        if self.state.at.load(Ordering::Acquire) == slot as u32 + 1 {
            let claims = self.state.claims.load(Ordering::Relaxed);
            let deferred = 1u64 << (DEFERRED_SHIFT + slot as u32);
            self.state
                .claims
                .store(claims | deferred, Ordering::Relaxed);
            Met::Deferred
        } else {
            Met::TookOver
        }
    }
}

#[cfg(all(test, not(guard_loom)))]
mod tests {
    use super::*;

    fn key(index: u32) -> Key {
        Key {
            index,
            generation: u64::from(index),
        }
    }

    /// A record of a batch of keys 0..4 for a pass on this thread, or on another one.
    fn batch_of_four(other_thread: bool) -> (Arc<PassState>, PassRecord) {
        let state = Arc::new(PassState::default());
        let mut record = if other_thread {
            let state = state.clone();
            std::thread::spawn(move || PassRecord::new(state))
                .join()
                .unwrap()
        } else {
            PassRecord::new(state.clone())
        };
        record.start_batch((0..4).map(key));
        (state, record)
    }

    #[test]
    fn a_claim_ahead_of_the_pass_is_taken_over_and_skipped() {
        let (state, mut record) = batch_of_four(true);
        assert!(!state.step(0, 0), "no claim yet");
        assert_eq!(record.claim(key(2), thread::current().id()), Some(true));
        assert_eq!(record.decide(), Met::TookOver);
        assert!(state.step(1, 0), "the pass sees the claim");
        assert_eq!(record.settle(), (0, 1 << 2));
        assert_eq!(
            record.end_batch() & 0b1111,
            0b1011,
            "the pass ends 0, 1 and 3"
        );
    }

    #[test]
    fn a_claim_on_the_visit_is_deferred_and_ended_by_the_pass() {
        let (state, mut record) = batch_of_four(true);
        state.step(1, 0);
        assert_eq!(record.claim(key(1), thread::current().id()), Some(true));
        assert_eq!(record.decide(), Met::Deferred);
        assert!(state.step(2, 0), "the pass sees the claim after its visit");
        assert_eq!(
            record.settle(),
            (1 << 1, 1 << 1),
            "the pass ends slot 1's lease"
        );
        assert_eq!(record.settle(), (0, 1 << 1), "and is told once");
        assert_eq!(record.end_batch() & 0b1111, 0b1101);
    }

    #[test]
    fn no_barrier_behind_the_pass_or_on_its_own_thread() {
        let (state, mut record) = batch_of_four(true);
        state.step(2, 0);
        assert_eq!(record.claim(key(0), thread::current().id()), Some(false));
        assert_eq!(record.decide(), Met::TookOver);
        assert_eq!(record.claim(key(9), thread::current().id()), None);
        assert_eq!(record.decide(), Met::Nothing);

        let (state, mut record) = batch_of_four(false);
        state.step(1, 0);
        assert_eq!(record.claim(key(1), thread::current().id()), Some(false));
        assert_eq!(
            record.decide(),
            Met::Deferred,
            "the visitor removes its own entry"
        );
        state.finish();
        assert_eq!(record.claim(key(3), thread::current().id()), Some(false));
        assert_eq!(
            record.decide(),
            Met::TookOver,
            "the pass is done with the batch"
        );
    }
}

//! The lock word and the acquisition protocol, apart from the protected value.
//!
//! `state` holds four bits and a count: `LOCKED`; `WAITING`, set while the queue is not
//! empty; `RESERVED`, set while a starving waiter has reserved the next release (see
//! [`queue`](super::queue)); `WOKEN`, set while a release's wake is outstanding (its waiter
//! has not come to try yet); above them, the releases since the last wake (it wraps).
//! `WAITING`, `RESERVED` and the setting of `WOKEN` change only under the queue's lock.
//!
//! An unlock is one RMW on the word (clear `LOCKED`, count a release). It takes the queue's
//! lock only if the release is reserved, or waiters are queued and no wake is outstanding, or
//! the outstanding one is stale: every [`STALE_CHECK`] releases an unlock reads the clock,
//! and a woken waiter that has not come within the lock's grace
//! ([`GRACE`](super::queue::GRACE) by default; it may never be polled again) no longer
//! keeps the next waiter from being woken. A woken waiter clears `WOKEN` when it
//! comes: in the RMW that takes the lock, or, finding the lock held, so that the holder's
//! unlock (a later RMW on the same word) wakes again. A waiter that was not woken and finds
//! the lock held returns without the queue's lock. No lost wake: a waiter sets `WAITING`
//! before it retries, and a wake is skipped only while `WOKEN` promises a waiter coming.

use super::holder::{Holder, HolderCell};
use super::loom::{Arc, AtomicUsize, Ordering, lock};
use super::queue::{Key, Queue, Wakes};
use super::shared::Shared;
use std::panic::Location;
use std::time::Instant;

pub(super) const LOCKED: usize = 1;
pub(super) const WAITING: usize = 2;
pub(super) const RESERVED: usize = 4;
pub(super) const WOKEN: usize = 8;
/// One release in the count above the flags.
const RELEASE: usize = 16;
const FLAGS: usize = RELEASE - 1;

/// Every this many releases (a power of two) while a wake is outstanding, an unlock checks
/// how long it has been: a woken waiter that has not come within the grace may never be
/// polled again, and the next waiter is woken too.
const STALE_CHECK: usize = 64;

/// Whether the release that found `prev` must take the queue's lock to wake a waiter.
#[inline]
fn needs_wake(prev: usize) -> bool {
    prev & RESERVED != 0 || prev & (WAITING | WOKEN) == WAITING
}

/// Whether the release that found `prev` is one that checks the outstanding wake's age.
#[inline]
fn checks_stale(prev: usize) -> bool {
    prev & (WAITING | WOKEN) == WAITING | WOKEN && (prev / RELEASE) % STALE_CHECK == STALE_CHECK - 1
}

pub(super) enum Try {
    Acquired,
    Held,
    /// Free, but reserved for a starving waiter still within its grace.
    Reserved,
}

/// The lock without its value.
#[derive(Debug)]
pub(crate) struct RawLock {
    pub(super) state: AtomicUsize,
    holder: HolderCell,
    pub(crate) shared: Arc<Shared>,
}

impl RawLock {
    pub(crate) fn new(type_name: &'static str, site: &'static Location<'static>) -> Self {
        RawLock {
            state: AtomicUsize::new(0),
            holder: HolderCell::new(),
            shared: Arc::new(Shared::new(type_name, site)),
        }
    }

    /// Takes the lock if nobody holds or reserved it (others may be waiting: whoever is
    /// polled while the lock is free takes it).
    #[inline]
    pub(super) fn try_lock_fast(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        s & (LOCKED | RESERVED) == 0
            && self
                .state
                .compare_exchange(s, s | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Records the new holder (for reports).
    #[inline]
    pub(super) fn note_holder(&self, site: &'static Location<'static>) {
        self.holder.note(site);
    }

    /// Who holds the lock now (racy: for reports only).
    pub(crate) fn holder(&self) -> Holder {
        self.holder.get()
    }

    /// Gives the lock back and, if need be, wakes a waiter to come and try (it is not
    /// handed the lock).
    #[inline]
    pub(crate) fn unlock(&self) {
        self.holder.clear();
        // `LOCKED` is set: adding `RELEASE - LOCKED` clears it and counts the release.
        let prev = self.state.fetch_add(RELEASE - LOCKED, Ordering::Release);
        if needs_wake(prev) || (checks_stale(prev) && self.shared.wake_is_stale()) {
            self.release_slow(prev);
        }
    }

    #[cold]
    fn release_slow(&self, prev: usize) {
        let mut wakes = Wakes::default();
        {
            let mut q = lock(&self.shared.queue);
            // An RMW, to read the word as it is now, not as this thread last saw it.
            let s = self.state.fetch_or(0, Ordering::Relaxed);
            if s & RESERVED != 0 {
                // The reserved waiter, and the next one, which takes the lock if the
                // reserved one is not polled within the grace.
                let reserved = q.reserved;
                self.set_woken();
                if let Some(key) = reserved {
                    q.free_since = Some(Instant::now());
                    wakes.extend(q.notify(key));
                }
                self.wake_one(&mut q, reserved, &mut wakes);
            } else if prev & WOKEN != 0 {
                // The outstanding wake is stale: the next waiter comes too.
                self.set_woken();
                self.wake_one(&mut q, None, &mut wakes);
            } else if s & (LOCKED | WOKEN) == 0 {
                self.set_woken();
                self.wake_one(&mut q, None, &mut wakes);
            }
            // Else a barger took the lock since (its unlock finds no wake outstanding, and
            // wakes), or another release woke a waiter since.
        }
        wakes.run();
    }

    /// Under the queue's lock, after [`set_woken`](Self::set_woken): wakes the first waiter
    /// not already woken (other than `skip`); if every waiter is woken, `WOKEN` stays set
    /// (each clears it when it comes); if nobody waits, clears `WAITING` and `WOKEN`.
    pub(super) fn wake_one(&self, q: &mut Queue, skip: Option<Key>, wakes: &mut Wakes) {
        match q.wake_idle(skip) {
            Some(waker) => wakes.push(waker),
            None if q.is_empty() => {
                self.state.fetch_and(!(WAITING | WOKEN), Ordering::Relaxed);
            }
            None => {}
        }
    }

    /// Sets `WOKEN` and restarts the release count and the stale check. Before the
    /// waiters' flags are read: a waiter clears its flag, then `WOKEN` (a release RMW), so
    /// either this RMW comes first and that clear undoes it, or it reads the clear and the
    /// flag's clearing is seen (acquire).
    pub(super) fn set_woken(&self) {
        self.shared.restart_stale_clock();
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some((s & FLAGS) | WOKEN)
            });
    }

    /// One try, as `try_lock`: a free lock is taken unless a starving waiter reserved it.
    pub(crate) fn try_lock(&self, site: &'static Location<'static>) -> bool {
        if self.try_lock_fast() {
            self.holder.note(site);
            return true;
        }
        if self.state.load(Ordering::Relaxed) & LOCKED != 0 {
            return false;
        }
        let taken = matches!(
            self.try_acquire(&mut lock(&self.shared.queue), None, 0),
            Try::Acquired
        );
        if taken {
            self.holder.note(site);
        }
        taken
    }

    /// Takes the lock if it is free and not reserved for another waiter (or its reservation
    /// lapsed), clearing the bits `clear` in the same RMW. `me` is the caller's queue key,
    /// if it is queued. Under the queue's lock.
    pub(super) fn try_acquire(&self, q: &mut Queue, me: Option<Key>, clear: usize) -> Try {
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & LOCKED != 0 {
                return Try::Held;
            }
            let mut next = (s | LOCKED) & !clear;
            if s & RESERVED != 0 {
                let mine = me.is_some() && q.reserved == me;
                let lapsed = q.reserved.is_none()
                    || q.free_since
                        .is_some_and(|t| t.elapsed() >= self.shared.grace());
                if !mine && !lapsed {
                    return Try::Reserved;
                }
                next &= !RESERVED;
            }
            if self
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                if s & RESERVED != 0 {
                    q.reserved = None;
                    q.free_since = None;
                }
                return Try::Acquired;
            }
        }
    }
}

//! [`Table`]: the resources an async scope holds, each in a slot a guard points at.

use super::release::AsyncRelease;
use super::releases::{Job, Releases};
use guard_core::census::Live;
use std::cell::UnsafeCell;
use std::collections::{BTreeMap, VecDeque};
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One entered resource: its value (until taken) and its census count.
pub(super) struct Slot<T> {
    value: UnsafeCell<Option<T>>,
    live: Live,
}

/// A slot with its type erased, as the table holds it.
trait Erased: Send {
    /// The slot's resource as a release job (its census count goes with it).
    fn into_job(self: Box<Self>) -> Option<Job>;
}

impl<T: AsyncRelease> Erased for Slot<T> {
    fn into_job(self: Box<Self>) -> Option<Job> {
        let Slot { value, live } = *self;
        Some(Job::new(value.into_inner()?, live))
    }
}

impl<T> Slot<T> {
    /// The value, for a guard.
    ///
    /// # Safety
    ///
    /// `slot` is live (in its table, or owned by the caller), and no `&mut` to its value is
    /// alive.
    pub(super) unsafe fn get<'a>(slot: NonNull<Self>) -> &'a T {
        // SAFETY: the caller guarantees the slot is live and not mutably borrowed.
        match unsafe { &*slot.as_ref().value.get() } {
            Some(value) => value,
            None => unreachable!("a slot's value stays until its guard takes it"),
        }
    }

    /// The value, for a guard, mutably.
    ///
    /// # Safety
    ///
    /// `slot` is live, and no other reference to its value is alive.
    pub(super) unsafe fn get_mut<'a>(slot: NonNull<Self>) -> &'a mut T {
        // SAFETY: the caller guarantees the slot is live and its value not borrowed.
        match unsafe { &mut *slot.as_ref().value.get() } {
            Some(value) => value,
            None => unreachable!("a slot's value stays until its guard takes it"),
        }
    }
}

/// A slot leaked from its `Box` while the table holds it: freed once, by whoever removes
/// it from the table (its guard, or the scope's end).
struct SlotPtr(NonNull<dyn Erased>);

// SAFETY: the pointer owns a `Box<dyn Erased>` (moved out of the table at most once), and
// `Erased: Send`.
unsafe impl Send for SlotPtr {}

/// The live slots of a scope, by order of entry. Invariant: a slot is in `slots` exactly
/// while its value is there to release; it leaves once, by its guard's `take` (while the
/// body runs) or by `drain` (after the body is gone, when no guard is left to use it).
pub(super) struct Table {
    inner: Mutex<Inner>,
}

struct Inner {
    next: u64,
    slots: BTreeMap<u64, SlotPtr>,
    /// Releases started by guards dropped while the body runs, in order of drop, until the
    /// scope's future picks them up to run beside the body.
    dropped: Vec<Job>,
    /// Drained: the body has ended.
    closed: bool,
}

impl Table {
    pub(super) fn new() -> Self {
        Table {
            inner: Mutex::new(Inner {
                next: 0,
                slots: BTreeMap::new(),
                dropped: Vec::new(),
                closed: false,
            }),
        }
    }

    /// The lock is held only for map operations, never while user code runs, so a poisoned
    /// lock only means a panic (an allocation failure) between two consistent states.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `value` in a new slot, the newest; returns its key and where it lives.
    pub(super) fn insert<T: AsyncRelease>(&self, value: T, live: Live) -> (u64, NonNull<Slot<T>>) {
        let slot = NonNull::from(Box::leak(Box::new(Slot {
            value: UnsafeCell::new(Some(value)),
            live,
        })));
        let erased: NonNull<dyn Erased> = slot;
        let mut inner = self.lock();
        let key = inner.next;
        inner.next += 1;
        inner.slots.insert(key, SlotPtr(erased));
        (key, slot)
    }

    /// Takes a guard's resource back out of the table, and frees its slot.
    ///
    /// # Safety
    ///
    /// `key` and `slot` came from one `insert` into this table, and the caller (the slot's
    /// guard) has not taken it before and holds no reference into it.
    pub(super) unsafe fn take<T>(&self, key: u64, slot: NonNull<Slot<T>>) -> (T, Live) {
        let removed = self.lock().slots.remove(&key);
        match removed {
            Some(_) => {
                // SAFETY: the slot was in the table, which held its `Box` (leaked by
                // `insert`), and it just left it: this is its only free. No reference into
                // it is alive (the caller's guarantee).
                let Slot { value, live } = *unsafe { Box::from_raw(slot.as_ptr()) };
                match value.into_inner() {
                    Some(value) => (value, live),
                    None => unreachable!("a slot's value stays until its guard takes it"),
                }
            }
            None => unreachable!("a guard's slot stays in the table until the guard takes it"),
        }
    }

    /// Queues the release of a dropped guard's resource, for the scope's future to run.
    pub(super) fn push_dropped(&self, job: Job) {
        self.lock().dropped.push(job);
    }

    /// The releases dropped guards started, in order of drop.
    pub(super) fn take_dropped(&self) -> Vec<Job> {
        std::mem::take(&mut self.lock().dropped)
    }

    /// Empties the table into release jobs: those dropped guards started, in order of
    /// drop, then every resource still held, newest first.
    ///
    /// # Safety
    ///
    /// No guard of this table will use its slot again (the body's future is gone).
    pub(super) unsafe fn drain(&self) -> VecDeque<Job> {
        let (dropped, slots) = {
            let mut inner = self.lock();
            inner.closed = true;
            (
                std::mem::take(&mut inner.dropped),
                std::mem::take(&mut inner.slots),
            )
        };
        let held = slots.into_values().rev().filter_map(|SlotPtr(slot)| {
            // SAFETY: the slot left the table (its only owner) here, once; no guard
            // touches it again (the caller's guarantee).
            unsafe { Box::from_raw(slot.as_ptr()) }.into_job()
        });
        dropped.into_iter().chain(held).collect()
    }
}

impl Drop for Table {
    /// The scope's future was dropped while the body ran (the body's future, declared after
    /// the scope, went first): every resource left goes to the cleanup, as its releases do.
    fn drop(&mut self) {
        if !self.lock().closed {
            // SAFETY: the scope is being dropped, so every guard (a borrow of it) is gone or
            // forgotten where no code can reach it.
            drop(Releases::new(unsafe { self.drain() }));
        }
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("held", &self.lock().slots.len())
            .finish()
    }
}

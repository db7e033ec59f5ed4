//! [`Held`]: one resource held by a scope; [`HeldRef`]: a guard's access to it.

use super::outcome::Outcome;
use super::releasable::Releasable;
use super::state::ScopeState;
use crate::census::SiteCount;
use crate::resource::Resource;
use std::cell::UnsafeCell;
use std::ptr::NonNull;

/// One resource held by a scope: the link to the one entered before it, the value (until
/// taken), and its census count.
pub(crate) struct Held<'scope, T> {
    prev: Option<NonNull<dyn Releasable<'scope> + 'scope>>,
    value: UnsafeCell<Option<T>>,
    count: &'static SiteCount,
}

impl<'scope, T> Held<'scope, T> {
    /// A resource just entered, on top of `prev`.
    pub(super) fn new(
        prev: Option<NonNull<dyn Releasable<'scope> + 'scope>>,
        value: T,
        count: &'static SiteCount,
    ) -> Self {
        Held {
            prev,
            value: UnsafeCell::new(Some(value)),
            count,
        }
    }
}

impl<T: Resource> Held<'_, T> {
    /// Takes the resource out; `None` if it was already taken.
    ///
    /// # Safety
    ///
    /// No reference into `value` may be alive (the guard's `Deref` borrows end before this).
    unsafe fn take(&self) -> Option<T> {
        // SAFETY: the caller guarantees exclusive access to `value`.
        let value = unsafe { (*self.value.get()).take() };
        if value.is_some() {
            self.count.leave();
        }
        value
    }
}

impl<'scope, T: Resource + 'scope> Releasable<'scope> for Held<'scope, T> {
    fn release_now(&self) -> Option<Outcome> {
        // SAFETY: called by the scope only after the body returned; no borrow from a guard
        // is alive across this call (see `release_all`).
        let value = unsafe { self.take() }?;
        Some(Outcome::of(value))
    }

    fn prev(&self) -> Option<NonNull<dyn Releasable<'scope> + 'scope>> {
        self.prev
    }
}

/// A guard's access to its slot. Invariant: while `slot` is `Some`, it points to a live
/// `Held<T>` on the scope's stack, and only this `HeldRef` touches it while the body runs.
/// Slots are freed only by their own `HeldRef::take` (during the body) or after every
/// resource has been released (when no guard can be left). The value is `Some` until
/// `take`, or until the scope's closing phase releases it (possible only for a guard kept
/// inside another resource: then `get` panics, it never reads freed memory).
pub(crate) struct HeldRef<'scope, T: Resource + 'scope> {
    slot: Option<NonNull<Held<'scope, T>>>,
    scope: &'scope ScopeState<'scope>,
}

impl<'scope, T: Resource + 'scope> HeldRef<'scope, T> {
    /// The guard's access to `held`, just pushed onto `scope`.
    pub(super) fn new(held: NonNull<Held<'scope, T>>, scope: &'scope ScopeState<'scope>) -> Self {
        HeldRef {
            slot: Some(held),
            scope,
        }
    }

    pub(crate) fn get(&self) -> &T {
        let Some(slot) = self.slot else {
            unreachable!("a guard is used only until it is consumed")
        };
        // SAFETY: the slot is live (type invariant); nothing else borrows its value while the
        // shared borrow of `self` keeps `take`/`get_mut` away for the reference's lifetime
        // (the scope's own `take` runs only between releases, never during this borrow).
        match unsafe { &*slot.as_ref().value.get() } {
            Some(v) => v,
            None => panic!("{RELEASED_UNDER_GUARD}"),
        }
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        let Some(slot) = self.slot else {
            unreachable!("a guard is used only until it is consumed")
        };
        // SAFETY: as in `get`, with `&mut self` making the access exclusive.
        match unsafe { &mut *slot.as_ref().value.get() } {
            Some(v) => v,
            None => panic!("{RELEASED_UNDER_GUARD}"),
        }
    }

    /// Takes the resource out of the scope (deregistering it) and frees the slot if it is
    /// the newest. `None` if it was already taken.
    pub(crate) fn take(&mut self) -> Option<T> {
        let slot = self.slot.take()?;
        // SAFETY: the slot is live (type invariant); `&mut self` excludes borrows from `get`.
        let value = unsafe { slot.as_ref().take() };
        let erased: NonNull<dyn Releasable<'scope> + 'scope> = slot;
        self.scope.free_if_last(erased);
        value
    }

    /// The scope, to record an outcome in.
    pub(crate) fn scope(&self) -> &'scope ScopeState<'scope> {
        self.scope
    }
}

/// Only reachable by keeping a guard inside an older resource and using it from that
/// resource's release, after the scope released the guard's (newer) resource.
const RELEASED_UNDER_GUARD: &str = "the scope already released this guard's resource: a guard \
     kept inside another resource was used after the end of the scope's body";

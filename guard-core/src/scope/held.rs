//! [`Held`]: one resource held by a scope; [`HeldRef`]: a guard's access to it.

use super::link::{Link, Ops};
use super::outcome::Outcome;
use super::state::ScopeState;
use crate::census::ThreadCount;
use crate::resource::Resource;
use std::cell::UnsafeCell;
use std::ptr::NonNull;

/// One resource held by a scope: its link in the scope's list, its census count, and the
/// value (until taken). `#[repr(C)]` with the link first, so that a pointer to the slot is
/// a pointer to its link.
#[repr(C)]
pub(crate) struct Held<T> {
    link: Link,
    count: &'static ThreadCount,
    value: UnsafeCell<Option<T>>,
}

impl<T: Resource> Held<T> {
    /// The type-erased operations on a `Held<T>`.
    const OPS: &'static Ops = &Ops {
        release: Self::release_erased,
        free: Self::free_erased,
    };

    /// A slot for a resource just entered (not yet linked).
    pub(super) fn new(value: T, count: &'static ThreadCount) -> Self {
        Held {
            link: Link::new(Self::OPS),
            count,
            value: UnsafeCell::new(Some(value)),
        }
    }

    /// Takes the resource out (and out of the census); `None` if it was already taken.
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

    /// [`Ops::release`] for `Held<T>`.
    ///
    /// # Safety
    ///
    /// `link` is the link of a live `Held<T>`, and no reference into its value is alive.
    unsafe fn release_erased(link: NonNull<Link>) -> Option<Outcome> {
        // SAFETY: the caller guarantees `link` heads a live `Held<T>` (`repr(C)`, link first,
        // so the cast gives back the slot's own pointer) and that `take` is exclusive.
        let value = unsafe { link.cast::<Held<T>>().as_ref().take() }?;
        Some(Outcome::of(value))
    }

    /// [`Ops::free`] for `Held<T>`.
    ///
    /// # Safety
    ///
    /// `link` is the link of a live `Held<T>` leaked from a `Box` by `place`, not used again.
    unsafe fn free_erased(link: NonNull<Link>) {
        // SAFETY: the caller guarantees the slot came from `Box::leak` and is freed once.
        drop(unsafe { Box::from_raw(link.cast::<Held<T>>().as_ptr()) });
    }
}

/// A guard's access to its slot. Invariant: while `slot` is `Some`, it points to a live
/// `Held<T>`, and only this `HeldRef` touches its value while the body runs. A slot is
/// freed by its own `HeldRef::take` while the body runs (it then leaves the scope's list at
/// once, wherever it is in it), or, once the body has returned, only after every resource
/// has been released. The value is `Some` until `take`, or until the scope's closing phase
/// releases it (possible only for a guard kept inside another resource: then `get` panics,
/// it never reads freed memory).
pub(crate) struct HeldRef<'scope, T: Resource + 'scope> {
    slot: Option<NonNull<Held<T>>>,
    scope: &'scope ScopeState<'scope>,
}

impl<'scope, T: Resource + 'scope> HeldRef<'scope, T> {
    /// The guard's access to `held`, just pushed onto `scope`.
    pub(super) fn new(held: NonNull<Held<T>>, scope: &'scope ScopeState<'scope>) -> Self {
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
        match unsafe { &*(*slot.as_ptr()).value.get() } {
            Some(v) => v,
            None => panic!("{RELEASED_UNDER_GUARD}"),
        }
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        let Some(slot) = self.slot else {
            unreachable!("a guard is used only until it is consumed")
        };
        // SAFETY: as in `get`, with `&mut self` making the access exclusive.
        match unsafe { &mut *(*slot.as_ptr()).value.get() } {
            Some(v) => v,
            None => panic!("{RELEASED_UNDER_GUARD}"),
        }
    }

    /// Takes the resource out of the scope (and out of the census) and, while the body
    /// runs, frees its slot. `None` if it was already taken.
    pub(crate) fn take(&mut self) -> Option<T> {
        let slot = self.slot.take()?;
        // SAFETY: the slot is live (type invariant); `&mut self` excludes borrows from `get`.
        let value = unsafe { slot.as_ref().take() };
        // SAFETY: the slot is live and linked (type invariant), and this guard, its only
        // user besides the scope, never touches it again (`self.slot` is now `None`).
        unsafe { self.scope.remove(slot.cast::<Link>()) };
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

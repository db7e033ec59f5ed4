//! Scopes: the place unique resources live. Modelled on `std::thread::scope`: soundness
//! comes from a function, not from `Drop`. [`scope`] owns every resource entered in it,
//! and releases each one exactly once, in reverse order of entry, before it returns, on
//! every exit path (normal, `?`, panic).
//!
//! Invariants (design S1-S3):
//!
//! - **S1** Every entered resource is released exactly once, in reverse order of entry, on
//!   normal exit, early return and panic (the panic resumes after every release ran).
//! - **S2** Release errors are returned, never dropped: [`ScopeError`] holds the body's error
//!   and every release error.
//! - **S3** A [`Guard`] cannot outlive its scope (lifetimes), and `mem::forget` on a guard
//!   leaks nothing (the scope still owns the resource).

use crate::census::{self, Tally};
use crate::error::{ReleaseFailure, ScopeError};
use crate::event::{self, Event};
use crate::guard::Guard;
use crate::registry::Origin;
use crate::resource::{Kind, Resource};
use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr::NonNull;

/// Runs `body` with a [`Scope`] in which resources can be entered, then releases every
/// resource still in the scope, in reverse order of entry, and returns the body's value.
///
/// # Errors
///
/// If the body returned an error, or any release failed, the [`ScopeError`] carries the
/// body's error (if any) and every release failure, each with its resource's type name.
///
/// # Panics
///
/// If the body panics, every resource is released first, then the panic resumes (release
/// errors that can no longer be returned go to the [event hook](crate::event::set_hook)).
/// If a release panics, the other releases still run, then that panic resumes.
///
/// # Examples
///
/// ```
/// use guard_core::{scope, Resource, UniqueResource};
/// use std::cell::RefCell;
///
/// struct Step<'a>(&'static str, &'a RefCell<Vec<&'static str>>);
/// impl Resource for Step<'_> {
///     type Error = std::convert::Infallible;
///     fn release(self) -> Result<(), Self::Error> {
///         self.1.borrow_mut().push(self.0);
///         Ok(())
///     }
/// }
/// impl UniqueResource for Step<'_> {}
///
/// let log = RefCell::new(Vec::new());
/// let n = scope(|s| {
///     let _a = s.enter(Step("a", &log));
///     let _b = s.enter(Step("b", &log));
///     Ok::<_, std::convert::Infallible>(2)
/// })
/// .unwrap();
/// assert_eq!(n, 2);
/// assert_eq!(*log.borrow(), ["b", "a"]); // reverse order of entry
/// ```
///
/// # Lifetimes
///
/// A guard borrows the scope, so it cannot escape the closure:
///
/// ```compile_fail
/// # use guard_core::{scope, Resource, UniqueResource};
/// # struct R;
/// # impl Resource for R { type Error = std::convert::Infallible; fn release(self) -> Result<(), Self::Error> { Ok(()) } }
/// # impl UniqueResource for R {}
/// let mut escaped = None;
/// let _ = scope(|s| {
///     escaped = Some(s.enter(R)); // error: borrowed data escapes the closure
///     Ok::<_, std::convert::Infallible>(())
/// });
/// ```
pub fn scope<'env, F, T, E>(body: F) -> Result<T, ScopeError<E>>
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> Result<T, E>,
{
    let scope = Scope {
        inner: Inner::new(),
        _env: PhantomData,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&scope)));
    scope.inner.release_all();
    let (failures, release_panic) = scope.inner.finish();
    match (outcome, release_panic) {
        (Err(body_panic), release_panic) => {
            if let Some(p) = release_panic {
                drop_payload(p);
            }
            report_lost(&failures);
            resume_unwind(body_panic)
        }
        (Ok(_), Some(release_panic)) => {
            report_lost(&failures);
            resume_unwind(release_panic)
        }
        (Ok(Ok(value)), None) if failures.is_empty() => Ok(value),
        (Ok(Ok(_)), None) => Err(ScopeError::new(None, failures)),
        (Ok(Err(e)), None) => Err(ScopeError::new(Some(e), failures)),
    }
}

/// A scope to enter resources in, borrowed by the closure given to [`scope`].
///
/// `'scope` is the scope's own lifetime (guards borrow it); `'env` is what entered
/// resources may borrow from. Both are invariant.
pub struct Scope<'scope, 'env: 'scope> {
    inner: Inner<'scope>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope> Scope<'scope, '_> {
    /// Moves `resource` into the scope and returns a guard to use it through. The resource
    /// is released when the guard is dropped or [released](Guard::release), or at the end
    /// of the scope if the guard was forgotten, and it is counted as live in the
    /// [report](crate::report()) (by type and this call's site) until then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use guard_core::{scope, Resource, UniqueResource};
    /// struct Buf(Vec<u8>);
    /// impl Resource for Buf {
    ///     type Error = std::convert::Infallible;
    ///     fn release(self) -> Result<(), Self::Error> { Ok(()) }
    /// }
    /// impl UniqueResource for Buf {}
    ///
    /// scope(|s| {
    ///     let mut buf = s.enter(Buf(Vec::new()));
    ///     buf.0.push(1); // Deref/DerefMut reach the resource
    ///     assert_eq!(buf.0, [1]);
    ///     Ok::<_, std::convert::Infallible>(())
    /// })
    /// .unwrap();
    /// ```
    #[track_caller]
    pub fn enter<T: Resource + 'scope>(&'scope self, resource: T) -> Guard<'scope, T> {
        let tally = census::enter(Origin::here::<T>(Kind::Unique));
        let slot = Box::new(Slot {
            prev: self.inner.head.get(),
            value: UnsafeCell::new(Some(resource)),
            tally,
        });
        let slot = NonNull::from(Box::leak(slot));
        self.inner.head.set(Some(slot));
        self.inner.entered.set(self.inner.entered.get() + 1);
        Guard::new(SlotRef {
            slot: Some(slot),
            scope: &self.inner,
        })
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("entered", &self.inner.entered.get())
            .field("failures", &self.inner.failures.borrow().len())
            .finish()
    }
}

/// The non-generic part of a scope that guards refer to.
pub(crate) struct Inner<'scope> {
    /// The newest slot entered and not yet freed; each slot links to the one entered
    /// before it (an intrusive stack: entering allocates nothing but the slot). Each was
    /// leaked from a `Box` by `enter` and is freed (once) by `free_if_last` or `release_all`.
    /// Only the newest slot is ever freed while the body runs, so every `prev` link stays
    /// valid.
    head: Cell<Option<NonNull<dyn Entry<'scope> + 'scope>>>,
    /// How many resources were entered (for `Debug`).
    entered: Cell<usize>,
    /// Set when the body has returned: from then on no slot is freed until every resource
    /// has been released, because a guard kept inside another resource may still point at
    /// its slot until that resource is released.
    closing: Cell<bool>,
    failures: RefCell<Vec<ReleaseFailure>>,
    panic: Cell<Option<Box<dyn Any + Send>>>,
    _invariant: PhantomData<&'scope mut &'scope ()>,
}

impl<'scope> Inner<'scope> {
    fn new() -> Self {
        Inner {
            head: Cell::new(None),
            entered: Cell::new(0),
            closing: Cell::new(false),
            failures: RefCell::new(Vec::new()),
            panic: Cell::new(None),
            _invariant: PhantomData,
        }
    }

    /// Records how one release went.
    pub(crate) fn record(&self, outcome: Outcome) {
        match outcome {
            Outcome::Released => {}
            Outcome::Failed(f) => self.failures.borrow_mut().push(f),
            Outcome::Panicked(p) => match self.panic.take() {
                None => self.panic.set(Some(p)),
                Some(first) => {
                    self.panic.set(Some(first));
                    drop_payload(p);
                }
            },
        }
    }

    /// Frees `slot` if it is the most recently entered one (the common LIFO case), so that
    /// a loop entering and dropping guards runs in constant memory. Does nothing once the
    /// scope is closing.
    fn free_if_last(&self, slot: NonNull<dyn Entry<'scope> + 'scope>) {
        if self.closing.get() {
            return;
        }
        if self
            .head
            .get()
            .is_some_and(|head| head.cast::<()>() == slot.cast::<()>())
        {
            // SAFETY: `slot` is the live head (slots are freed only here, as the head, or
            // after the body). Reading its link before freeing it.
            self.head.set(unsafe { slot.as_ref() }.prev());
            // SAFETY: `slot` came from `Box::leak` in `enter` and just left the stack, its
            // only other owner, so it is freed exactly once. Its guard is being consumed by
            // the caller and never touches it again; no other guard points to it.
            drop(unsafe { Box::from_raw(slot.as_ptr()) });
        }
    }

    /// Releases every resource still held, newest first, then frees every slot.
    ///
    /// Two phases, because a guard may live inside another entered resource (kept there by
    /// the body) and point at its slot until that resource is released: first every value
    /// is taken out and released, with slots kept allocated; only then are slots freed. A
    /// release may enter new resources (through a captured `&Scope`); the loop repeats until
    /// a pass releases nothing. No `RefCell` borrow is held while a release runs.
    fn release_all(&self) {
        self.closing.set(true);
        loop {
            let mut released_any = false;
            let mut next = self.head.get();
            while let Some(slot) = next {
                // SAFETY: slots are not freed while closing, so `slot` is live. The body has
                // returned: a guard can only still exist inside a resource not yet released,
                // and it touches its slot only through `SlotRef`, never during this call.
                let entry = unsafe { slot.as_ref() };
                if let Some(outcome) = entry.release_now() {
                    self.record(outcome);
                    released_any = true;
                }
                next = entry.prev();
            }
            if !released_any {
                break;
            }
        }
        let mut next = self.head.take();
        while let Some(slot) = next {
            // SAFETY: every slot came from `Box::leak` in `enter`, is reached once on this
            // walk (read its link, then free it), and all resources are released, so no
            // guard is left anywhere.
            let slot = unsafe { Box::from_raw(slot.as_ptr()) };
            next = slot.prev();
        }
    }

    fn finish(&self) -> (Vec<ReleaseFailure>, Option<Box<dyn Any + Send>>) {
        (self.failures.take(), self.panic.take())
    }
}

/// One entered resource, type-erased so the scope can release it.
trait Entry<'scope> {
    /// Releases the resource if it is still here.
    fn release_now(&self) -> Option<Outcome>;
    /// The slot entered before this one.
    fn prev(&self) -> Option<NonNull<dyn Entry<'scope> + 'scope>>;
}

struct Slot<'scope, T> {
    prev: Option<NonNull<dyn Entry<'scope> + 'scope>>,
    value: UnsafeCell<Option<T>>,
    tally: &'static Tally,
}

impl<T: Resource> Slot<'_, T> {
    /// Takes the resource out; `None` if it was already taken.
    ///
    /// # Safety
    ///
    /// No reference into `value` may be alive (the guard's `Deref` borrows end before this).
    unsafe fn take(&self) -> Option<T> {
        // SAFETY: the caller guarantees exclusive access to `value`.
        let value = unsafe { (*self.value.get()).take() };
        if value.is_some() {
            self.tally.leave();
        }
        value
    }
}

impl<'scope, T: Resource + 'scope> Entry<'scope> for Slot<'scope, T> {
    fn release_now(&self) -> Option<Outcome> {
        // SAFETY: called by the scope only after the body returned; no borrow from a guard
        // is alive across this call (see `release_all`).
        let value = unsafe { self.take() }?;
        Some(Outcome::of(value))
    }

    fn prev(&self) -> Option<NonNull<dyn Entry<'scope> + 'scope>> {
        self.prev
    }
}

/// How one release went.
pub(crate) enum Outcome {
    Released,
    Failed(ReleaseFailure),
    Panicked(Box<dyn Any + Send>),
}

impl Outcome {
    /// Releases `value`, catching a panic.
    pub(crate) fn of<T: Resource>(value: T) -> Outcome {
        match catch_unwind(AssertUnwindSafe(|| value.release())) {
            Ok(Ok(())) => Outcome::Released,
            Ok(Err(e)) => Outcome::Failed(ReleaseFailure::new(std::any::type_name::<T>(), e)),
            Err(payload) => Outcome::Panicked(payload),
        }
    }
}

/// A guard's access to its slot. Invariant: while `slot` is `Some`, it points to a live
/// `Slot<T>` on the scope's stack, and only this `SlotRef` touches it while the body runs.
/// Slots are freed only by their own `SlotRef::take` (during the body) or after every
/// resource has been released (when no guard can be left). The value is `Some` until
/// `take`, or until the scope's closing phase releases it (possible only for a guard kept
/// inside another resource: then `get` panics, it never reads freed memory).
pub(crate) struct SlotRef<'scope, T: Resource + 'scope> {
    slot: Option<NonNull<Slot<'scope, T>>>,
    scope: &'scope Inner<'scope>,
}

impl<'scope, T: Resource + 'scope> SlotRef<'scope, T> {
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
        let erased: NonNull<dyn Entry<'scope> + 'scope> = slot;
        self.scope.free_if_last(erased);
        value
    }

    /// The scope, to record an outcome in.
    pub(crate) fn scope(&self) -> &'scope Inner<'scope> {
        self.scope
    }
}

/// Only reachable by keeping a guard inside an older resource and using it from that
/// resource's release, after the scope released the guard's (newer) resource.
const RELEASED_UNDER_GUARD: &str = "the scope already released this guard's resource: a guard \
     kept inside another resource was used after the end of the scope's body";

/// Drops a panic payload whose own `Drop` may panic.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
}

/// Release failures that cannot be returned (a panic is propagating) go to the hook.
fn report_lost(failures: &[ReleaseFailure]) {
    for f in failures {
        event::emit(&Event::ReleaseFailed {
            resource: f.resource(),
            kind: Kind::Unique,
            error: f.error(),
        });
    }
}

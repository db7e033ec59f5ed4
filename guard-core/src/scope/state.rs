//! [`ScopeState`]: the non-generic part of a scope, which guards refer to: the stack of
//! held resources and what their releases returned.

use super::outcome::Outcome;
use super::releasable::Releasable;
use crate::error::ReleaseFailure;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The non-generic part of a scope that guards refer to.
pub(crate) struct ScopeState<'scope> {
    /// The newest slot entered and not yet freed; each slot links to the one entered
    /// before it (an intrusive stack: entering allocates nothing but the slot). Each was
    /// leaked from a `Box` by `enter` and is freed (once) by `free_if_last` or `release_all`.
    /// Only the newest slot is ever freed while the body runs, so every `prev` link stays
    /// valid.
    head: Cell<Option<NonNull<dyn Releasable<'scope> + 'scope>>>,
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

impl<'scope> ScopeState<'scope> {
    pub(super) fn new() -> Self {
        ScopeState {
            head: Cell::new(None),
            entered: Cell::new(0),
            closing: Cell::new(false),
            failures: RefCell::new(Vec::new()),
            panic: Cell::new(None),
            _invariant: PhantomData,
        }
    }

    /// Puts a newly entered resource on top of the stack.
    pub(super) fn push(&self, held: NonNull<dyn Releasable<'scope> + 'scope>) {
        self.head.set(Some(held));
        self.entered.set(self.entered.get() + 1);
    }

    /// The newest resource entered and not yet freed.
    pub(super) fn head(&self) -> Option<NonNull<dyn Releasable<'scope> + 'scope>> {
        self.head.get()
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
                    crate::panic::drop_payload(p);
                }
            },
        }
    }

    /// Frees `slot` if it is the most recently entered one (the common LIFO case), so that
    /// a loop entering and dropping guards runs in constant memory. Does nothing once the
    /// scope is closing.
    pub(super) fn free_if_last(&self, slot: NonNull<dyn Releasable<'scope> + 'scope>) {
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
    pub(super) fn release_all(&self) {
        self.closing.set(true);
        loop {
            let mut released_any = false;
            let mut next = self.head.get();
            while let Some(slot) = next {
                // SAFETY: slots are not freed while closing, so `slot` is live. The body has
                // returned: a guard can only still exist inside a resource not yet released,
                // and it touches its slot only through `HeldRef`, never during this call.
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

    pub(super) fn finish(&self) -> (Vec<ReleaseFailure>, Option<Box<dyn Any + Send>>) {
        (self.failures.take(), self.panic.take())
    }
}

impl std::fmt::Debug for ScopeState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("entered", &self.entered.get())
            .field("failures", &self.failures.borrow().len())
            .finish()
    }
}

//! [`Link`]: the non-generic head of every slot, by which the scope's list holds it.

use super::outcome::Outcome;
use std::cell::Cell;
use std::ptr::NonNull;

/// The head of every slot (`Held<T>` starts with it, `#[repr(C)]`): its place in the
/// scope's list and the functions that release and free it without knowing `T`.
///
/// While the body runs, the live list links exactly the slots whose value is still there,
/// in order of entry, both ways, so that any slot can leave it in O(1) whatever the order
/// guards are dropped in. Once the scope is closing, a slot leaves the live list when the
/// scope releases it and waits, chained through `older`, in the scope's list of slots to
/// free.
#[repr(C)]
pub(super) struct Link {
    /// The slot entered before this one (or the next slot to free, once released).
    pub(super) older: Cell<Option<NonNull<Link>>>,
    /// The slot entered after this one.
    pub(super) newer: Cell<Option<NonNull<Link>>>,
    pub(super) ops: &'static Ops,
}

/// How to handle a slot whose value type is erased.
pub(super) struct Ops {
    /// Takes the value out of the slot and releases it; `None` if it was already taken.
    ///
    /// Safety: the slot is live, and no reference into its value is alive.
    pub(super) release: unsafe fn(NonNull<Link>) -> Option<Outcome>,
    /// Frees a slot on the heap (dropping nothing but the slot: its value was taken).
    ///
    /// Safety: the slot is live, was leaked from a `Box` by `ScopeState::place`, and
    /// nothing will use it again.
    pub(super) free: unsafe fn(NonNull<Link>),
}

impl Link {
    pub(super) fn new(ops: &'static Ops) -> Self {
        Link {
            older: Cell::new(None),
            newer: Cell::new(None),
            ops,
        }
    }
}

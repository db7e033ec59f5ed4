//! [`ScopeState`]: the non-generic part of a scope, which guards refer to: the list of
//! held resources and what their releases returned.

use super::link::Link;
use super::outcome::{Ended, Outcome};
use crate::error::Panicked;
use crate::panic::drop_payload;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// Room inside the scope for one slot, so that a scope whose guards come one at a time
/// (a lock acquisition, a file written then closed) allocates nothing.
#[repr(C, align(16))]
struct Room([MaybeUninit<u8>; 64]);

/// The non-generic part of a scope that guards refer to.
///
/// Memory: while the body runs, the list holds exactly the resources not yet taken out
/// (each guard's `take` unlinks and frees its slot, in whatever order guards go), so a
/// scope holds no more slots than it has live guards, and the closing pass walks only
/// those.
pub(crate) struct ScopeState<'scope> {
    /// The newest slot of the live list (see [`Link`]). Each slot was placed by `place`
    /// (in `room` or leaked from a `Box`) and is freed once, by `remove` or at the end of
    /// `release_all`.
    newest: Cell<Option<NonNull<Link>>>,
    /// Where `place` puts a slot that fits while the room is vacant.
    room: UnsafeCell<MaybeUninit<Room>>,
    /// A slot occupies `room`.
    room_taken: Cell<bool>,
    /// Slots in the live list.
    live: Cell<usize>,
    /// How many resources were entered (for `Debug`).
    entered: Cell<usize>,
    /// Set when the body has returned: from then on no slot is freed until every resource
    /// has been released, because a guard kept inside another resource may still point at
    /// its slot until that resource is released.
    closing: Cell<bool>,
    /// Slots released by the closing pass, chained through `older`, freed at its end.
    released: Cell<Option<NonNull<Link>>>,
    /// What failed or panicked so far; `None` while every release succeeded (the common
    /// case, which then costs one word).
    trouble: Cell<Option<Box<Ended>>>,
    _invariant: PhantomData<&'scope mut &'scope ()>,
}

impl<'scope> ScopeState<'scope> {
    pub(super) fn new() -> Self {
        ScopeState {
            newest: Cell::new(None),
            room: UnsafeCell::new(MaybeUninit::uninit()),
            room_taken: Cell::new(false),
            live: Cell::new(0),
            entered: Cell::new(0),
            closing: Cell::new(false),
            released: Cell::new(None),
            trouble: Cell::new(None),
            _invariant: PhantomData,
        }
    }

    /// Puts `held` (a slot for a resource being entered, `#[repr(C)]` with its [`Link`]
    /// first) in the scope's room if it fits and is vacant, else on the heap, and links it
    /// as the newest.
    pub(super) fn place<H>(&self, held: H) -> NonNull<H> {
        let fits = size_of::<H>() <= size_of::<Room>() && align_of::<H>() <= align_of::<Room>();
        let slot = if fits && !self.room_taken.get() {
            self.room_taken.set(true);
            let room = self.room.get().cast::<H>();
            // SAFETY: the room is vacant (no slot in it, so no pointer into it is used),
            // large and aligned enough for `H`, and lives as long as the scope.
            unsafe {
                room.write(held);
                NonNull::new_unchecked(room)
            }
        } else {
            NonNull::from(Box::leak(Box::new(held)))
        };
        // SAFETY: `slot` was just placed, is live and in no list; `H` starts with its link.
        unsafe { self.push(slot.cast::<Link>()) };
        slot
    }

    /// Frees a slot that left every list, and whose value was taken.
    ///
    /// # Safety
    ///
    /// `slot` was placed by `place`, is freed once, and nothing uses it again.
    unsafe fn free(&self, slot: NonNull<Link>) {
        if std::ptr::eq(slot.as_ptr().cast::<u8>(), self.room.get().cast::<u8>()) {
            // Nothing to drop: the link and count have no drop glue, and the value was
            // taken (it is `None`).
            self.room_taken.set(false);
        } else {
            // SAFETY: not in the room, so leaked from a `Box` by `place`; the caller
            // guarantees it is freed once.
            unsafe {
                let free = slot.as_ref().ops.free;
                free(slot);
            }
        }
    }

    /// Links a newly placed slot as the newest.
    ///
    /// # Safety
    ///
    /// `slot` is a live slot placed by `place`, in no list yet.
    unsafe fn push(&self, slot: NonNull<Link>) {
        let older = self.newest.get();
        // SAFETY: the caller guarantees `slot` is live; `older`, in the list, is live too.
        unsafe {
            slot.as_ref().older.set(older);
            if let Some(older) = older {
                older.as_ref().newer.set(Some(slot));
            }
        }
        self.newest.set(Some(slot));
        self.live.set(self.live.get() + 1);
        self.entered.set(self.entered.get() + 1);
    }

    /// A guard's resource was taken out: while the body runs, unlinks its slot and frees
    /// it. Does nothing once the scope is closing (the closing pass frees every slot).
    ///
    /// # Safety
    ///
    /// `slot` is a live slot of this scope, and its guard will not use it again.
    pub(super) unsafe fn remove(&self, slot: NonNull<Link>) {
        if self.closing.get() {
            return;
        }
        // SAFETY: while the body runs the live list holds every slot not yet taken out,
        // so `slot` and its neighbours are live; only this thread touches the list.
        unsafe {
            let link = slot.as_ref();
            let (older, newer) = (link.older.get(), link.newer.get());
            if let Some(older) = older {
                older.as_ref().newer.set(newer);
            }
            match newer {
                Some(newer) => newer.as_ref().older.set(older),
                None => self.newest.set(older),
            }
            self.live.set(self.live.get() - 1);
            // SAFETY: the slot left the list, its only other owner, and its guard is done
            // with it (and took its value): it is freed exactly once.
            self.free(slot);
        }
    }

    /// Records how one release went.
    pub(crate) fn record(&self, outcome: Outcome) {
        let mut dropped = None;
        let mut trouble = match outcome {
            Outcome::Released => return,
            _ => self.trouble.take().unwrap_or_default(),
        };
        match outcome {
            Outcome::Released => {}
            Outcome::Failed(f) => trouble.failures.push(f),
            Outcome::Panicked { resource, payload } if trouble.panic.is_none() => {
                trouble.panic = Some((resource, payload));
            }
            Outcome::Panicked { resource, payload } => {
                trouble
                    .more_panics
                    .push((resource, Panicked::from_payload(&*payload)));
                dropped = Some(payload);
            }
        }
        self.trouble.set(Some(trouble));
        // Last: a payload's `Drop` is user code, which may drop a guard and record again.
        if let Some(payload) = dropped {
            drop_payload(payload);
        }
    }

    /// Releases every resource still held, newest first, then frees every slot.
    ///
    /// Each slot leaves the live list as it is released, but stays allocated until the
    /// end: a guard may live inside another entered resource (kept there by the body) and
    /// point at its slot until that resource is released. A release may enter new
    /// resources (through a captured `&Scope`): they are the newest, so they are released
    /// next. No `RefCell` borrow is held while a release runs.
    pub(super) fn release_all(&self) {
        self.closing.set(true);
        while let Some(slot) = self.newest.get() {
            // SAFETY: slots are not freed while closing, so `slot` and its older neighbour
            // are live. The body has returned: a guard can only still exist inside a
            // resource not yet released, and it touches its slot's link never, its value
            // only through `HeldRef`, never during this call.
            let ops = unsafe {
                let link = slot.as_ref();
                let older = link.older.get();
                self.newest.set(older);
                if let Some(older) = older {
                    older.as_ref().newer.set(None);
                }
                link.older.set(self.released.get());
                link.ops
            };
            self.released.set(Some(slot));
            self.live.set(self.live.get() - 1);
            // SAFETY: the slot is live, and no reference into its value is alive (above).
            if let Some(outcome) = unsafe { (ops.release)(slot) } {
                self.record(outcome);
            }
        }
        let mut next = self.released.take();
        while let Some(slot) = next {
            // SAFETY: every slot on this chain was placed by `place`, is reached once (read
            // its link, then free it), and all resources are released (every value taken),
            // so no guard is left anywhere.
            unsafe {
                next = slot.as_ref().older.get();
                self.free(slot);
            }
        }
    }

    /// What the releases left to report: `None` if every release succeeded.
    pub(super) fn finish(&self) -> Option<Box<Ended>> {
        self.trouble.take()
    }
}

impl std::fmt::Debug for ScopeState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("entered", &self.entered.get())
            .field("held", &self.live.get())
            .field("troubled", &{
                let trouble = self.trouble.take();
                let troubled = trouble.is_some();
                self.trouble.set(trouble);
                troubled
            })
            .finish()
    }
}

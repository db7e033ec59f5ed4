//! Recycled allocations for counted handles. A counted value is allocated on the thread
//! that creates it and freed on the finalizer's; the finalizer gives each allocation back
//! to a pool per size class (multiples of 16 bytes up to 512, alignment up to 16) instead
//! of to the allocator, and `Counted::new` takes from the pool. That keeps the allocator's
//! cross-thread free path off both sides: see `counted/new_and_last_drop` in
//! `benches/counted.rs`.
//!
//! Returning is a CAS push onto a shared stack. Taking empties the whole shared stack with
//! one swap (ABA-free: nobody pops single nodes from a shared stack), keeps what fits in
//! the taking thread's own list, and pushes the rest back whole (one swap, plus a push of
//! whatever arrived meanwhile). A thread then pops from its own list without atomics.
//!
//! Bounded: a thread's list holds at most [`LOCAL_CAP`] nodes per class and
//! [`LOCAL_BYTES`] in all, and everything pooled (the shared stacks plus the room every
//! thread's list may fill, reserved once per thread) stays under the pool limit
//! ([`set_pool_limit`], default 4 MiB); beyond that, memory goes back to the allocator. A thread's list goes back to the shared stacks
//! when the thread exits, and its room to the total.
//!
//! Not part of any loom model (a cache, not a protocol): std atomics under both backends.

use crate::loom::{StdAtomicPtr, StdAtomicUsize, StdOrdering};
use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::{self, NonNull};

const GRAIN: usize = 16;
const CLASSES: usize = 32;

/// Nodes a thread keeps on its own list per class, at most.
const LOCAL_CAP: u32 = 64;
/// Bytes a thread keeps on its own lists, at most (reserved from [`TOTAL_BYTES`] the
/// first time it keeps one).
const LOCAL_BYTES: usize = 32 * 1024;
/// Bytes pooled in total, at most, unless [`set_pool_limit`] says otherwise: the shared
/// stacks plus every thread's reserved room.
pub const DEFAULT_POOL_LIMIT: usize = 4 * 1024 * 1024;
static TOTAL_BYTES: StdAtomicUsize = StdAtomicUsize::new(DEFAULT_POOL_LIMIT);

/// A pooled allocation's first word, while it is in a pool.
struct Free {
    next: *mut Free,
}

static SHARED: [StdAtomicPtr<Free>; CLASSES] =
    [const { StdAtomicPtr::new(ptr::null_mut()) }; CLASSES];
/// Bytes on the shared stacks plus the room reserved by threads' own lists.
static POOLED: StdAtomicUsize = StdAtomicUsize::new(0);

/// A thread's own lists; given back to the shared stacks when the thread exits.
struct Local {
    heads: [Cell<*mut Free>; CLASSES],
    lens: [Cell<u32>; CLASSES],
    /// Bytes on this thread's lists.
    bytes: Cell<usize>,
    /// Bytes of [`TOTAL_BYTES`] reserved for this thread's lists: 0 or [`LOCAL_BYTES`].
    room: Cell<usize>,
}

impl Local {
    /// Pops a node of `class` from this thread's list.
    fn pop(&self, class: usize) -> Option<NonNull<Free>> {
        let node = NonNull::new(self.heads[class].get())?;
        // SAFETY: the node is on this thread's list, which owns it.
        self.heads[class].set(unsafe { node.as_ref() }.next);
        self.lens[class].set(self.lens[class].get() - 1);
        self.bytes.set(self.bytes.get() - class_size(class));
        Some(node)
    }

    /// Nodes of `class` this list may still take.
    fn space(&self, class: usize) -> usize {
        if self.room.get() == 0 && reserve(LOCAL_BYTES) {
            self.room.set(LOCAL_BYTES);
        }
        let by_bytes = (self.room.get() - self.bytes.get()) / class_size(class);
        by_bytes.min((LOCAL_CAP - self.lens[class].get()) as usize)
    }

    /// Makes the chain at `head` (`len` nodes of `class`, null-terminated) this thread's
    /// list of `class`, which is empty.
    fn install(&self, class: usize, head: *mut Free, len: usize) {
        debug_assert!(self.heads[class].get().is_null());
        self.heads[class].set(head);
        self.lens[class].set(len as u32);
        self.bytes.set(self.bytes.get() + len * class_size(class));
    }

    /// Pushes `node` onto this thread's list of `class`.
    ///
    /// # Safety
    ///
    /// `node` is a class-`class` allocation the caller gives up; [`space`](Self::space) said
    /// there was room.
    unsafe fn push(&self, class: usize, node: NonNull<Free>) {
        // SAFETY: the caller gives the node up; it joins this thread's list.
        unsafe {
            node.as_ptr().write(Free {
                next: self.heads[class].get(),
            })
        };
        self.heads[class].set(node.as_ptr());
        self.lens[class].set(self.lens[class].get() + 1);
        self.bytes.set(self.bytes.get() + class_size(class));
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // The room first, so the nodes given back below may fill it on the shared stacks.
        POOLED.fetch_sub(self.room.replace(0), StdOrdering::Relaxed);
        for class in 0..CLASSES {
            while let Some(node) = self.pop(class) {
                // SAFETY: `pop` hands over a class-`class` node nobody else references.
                unsafe { give_back(class, node) };
            }
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            heads: [const { Cell::new(ptr::null_mut()) }; CLASSES],
            lens: [const { Cell::new(0) }; CLASSES],
            bytes: Cell::new(0),
            room: Cell::new(0),
        }
    };
}

/// Reserves `bytes` of [`TOTAL_BYTES`]; false if they do not fit.
fn reserve(bytes: usize) -> bool {
    POOLED
        .fetch_update(StdOrdering::Relaxed, StdOrdering::Relaxed, |pooled| {
            (pooled + bytes <= pool_limit()).then_some(pooled + bytes)
        })
        .is_ok()
}

/// Sets how many bytes of freed counted allocations may be kept for reuse, in all (default
/// [`DEFAULT_POOL_LIMIT`], 4 MiB): the shared pool plus the room each thread that reuses
/// allocations reserves for its own list (32 KiB, given back when the thread exits). `0`
/// turns pooling off. Lowering the limit does not free what is pooled now; it stops more
/// from being kept until the pool is below it.
///
/// # Examples
///
/// ```
/// guard_core::set_pool_limit(1 << 20); // keep at most 1 MiB for reuse
/// assert_eq!(guard_core::pool_limit(), 1 << 20);
/// # guard_core::set_pool_limit(guard_core::DEFAULT_POOL_LIMIT);
/// ```
pub fn set_pool_limit(bytes: usize) {
    TOTAL_BYTES.store(bytes, StdOrdering::Relaxed);
}

/// The limit [`set_pool_limit`] set (default [`DEFAULT_POOL_LIMIT`]).
///
/// # Examples
///
/// ```
/// assert!(guard_core::pool_limit() <= usize::MAX);
/// ```
pub fn pool_limit() -> usize {
    TOTAL_BYTES.load(StdOrdering::Relaxed)
}

/// The size class of `layout`, if it is pooled.
fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= GRAIN && layout.size() <= GRAIN * CLASSES && layout.size() > 0)
        .then(|| layout.size().div_ceil(GRAIN) - 1)
}

fn class_size(class: usize) -> usize {
    GRAIN * (class + 1)
}

fn class_layout(class: usize) -> Layout {
    match Layout::from_size_align(class_size(class), GRAIN) {
        Ok(layout) => layout,
        Err(_) => unreachable!("class layouts are small powers-of-two aligned sizes"),
    }
}

/// Uninitialised memory for a value of `layout`.
pub(crate) fn alloc(layout: Layout) -> NonNull<u8> {
    let Some(class) = class_of(layout) else {
        return fresh(layout);
    };
    let pooled = LOCAL.try_with(|local| local.pop(class).or_else(|| refill(local, class)));
    match pooled {
        Ok(Some(node)) => node.cast(),
        Ok(None) => fresh(class_layout(class)),
        // This thread's lists are gone (it is exiting): one node from the shared stack.
        Err(_) => match take_shared(class, |_| false) {
            Some(node) => node.cast(),
            None => fresh(class_layout(class)),
        },
    }
}

/// Takes one node of `class` from the shared stack and fills this thread's (empty) list
/// from it: the nodes after the first, up to the list's room, stay linked as they are
/// (their links are read, not rewritten: each was freed moments ago on the finalizer's
/// core, and writing it would cost a second cross-core transfer), and the rest goes back.
fn refill(local: &Local, class: usize) -> Option<NonNull<Free>> {
    let space = local.space(class);
    let shared = &SHARED[class];
    if shared.load(StdOrdering::Relaxed).is_null() {
        return None;
    }
    let first = NonNull::new(shared.swap(ptr::null_mut(), StdOrdering::Acquire))?;
    // SAFETY: the whole list was just taken by this thread, which owns it.
    let chain = unsafe { first.as_ref() }.next;
    let mut rest = chain;
    let mut tail: Option<NonNull<Free>> = None;
    let mut kept = 0;
    while kept < space {
        let Some(node) = NonNull::new(rest) else {
            break;
        };
        // SAFETY: as above.
        rest = unsafe { node.as_ref() }.next;
        tail = Some(node);
        kept += 1;
    }
    if let Some(tail) = tail {
        if !rest.is_null() {
            // SAFETY: as above; the kept chain ends here.
            unsafe { (*tail.as_ptr()).next = ptr::null_mut() };
        }
        local.install(class, chain, kept);
    }
    POOLED.fetch_sub((1 + kept) * class_size(class), StdOrdering::Relaxed);
    if let Some(rest) = NonNull::new(rest) {
        // Back whole: the stack is ours again in one swap; whatever was pushed meanwhile
        // (usually little) is pushed on top of it.
        let arrived = shared.swap(rest.as_ptr(), StdOrdering::AcqRel);
        if let Some(arrived) = NonNull::new(arrived) {
            // SAFETY: the swap handed this thread the list pushed meanwhile, owned whole.
            unsafe { push_chain(shared, arrived) };
        }
    }
    Some(first)
}

/// Takes the shared stack of `class`: returns its first node, offers the next ones to
/// `keep` until it refuses one, and pushes the rest back.
fn take_shared(class: usize, mut keep: impl FnMut(NonNull<Free>) -> bool) -> Option<NonNull<Free>> {
    let shared = &SHARED[class];
    if shared.load(StdOrdering::Relaxed).is_null() {
        return None;
    }
    let first = NonNull::new(shared.swap(ptr::null_mut(), StdOrdering::Acquire))?;
    // SAFETY: the whole list was just taken by this thread, which owns it.
    let mut rest = unsafe { first.as_ref() }.next;
    let mut taken = 1;
    while let Some(node) = NonNull::new(rest) {
        // SAFETY: as above; the link is read before `keep` may overwrite it.
        let next = unsafe { node.as_ref() }.next;
        if !keep(node) {
            break;
        }
        taken += 1;
        rest = next;
    }
    POOLED.fetch_sub(taken * class_size(class), StdOrdering::Relaxed);
    if !rest.is_null() {
        // Back whole: the stack is ours again in one swap; whatever was pushed meanwhile
        // (usually little) is pushed on top of it.
        let arrived = shared.swap(rest, StdOrdering::AcqRel);
        if let Some(arrived) = NonNull::new(arrived) {
            // SAFETY: the swap handed this thread the list pushed meanwhile, owned whole.
            unsafe { push_chain(shared, arrived) };
        }
    }
    Some(first)
}

/// Takes back memory from [`alloc`] whose value has been moved out or dropped.
///
/// # Safety
///
/// `ptr` came from `alloc(layout)` with this `layout`, and nothing uses it any more.
pub(crate) unsafe fn free(ptr: NonNull<u8>, layout: Layout) {
    match class_of(layout) {
        Some(class) => {
            let node = ptr.cast::<Free>();
            let kept_here = LOCAL.try_with(|local| {
                if local.space(class) == 0 {
                    return false;
                }
                // SAFETY: the caller gives the node up; `space` said there was room.
                unsafe { local.push(class, node) };
                true
            });
            if kept_here != Ok(true) {
                // SAFETY: a class allocation; the caller gives it up.
                unsafe { give_back(class, node) };
            }
        }
        // SAFETY: unpooled layouts come from `fresh(layout)`, i.e. `std::alloc::alloc`.
        None => unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) },
    }
}

/// Pushes a class allocation onto the shared stack, or frees it if the pool is full.
///
/// # Safety
///
/// `node` is a class-`class` allocation owned by the caller, who gives it up.
unsafe fn give_back(class: usize, node: NonNull<Free>) {
    if !reserve(class_size(class)) {
        // SAFETY: class allocations are made with `class_layout(class)`.
        unsafe { std::alloc::dealloc(node.as_ptr().cast(), class_layout(class)) };
        return;
    }
    // SAFETY: the caller owns `node`, a one-node list.
    unsafe {
        node.as_ptr().write(Free {
            next: ptr::null_mut(),
        })
    };
    // SAFETY: as above.
    unsafe { push_chain(&SHARED[class], node) };
}

/// Pushes a list onto a shared stack, whole.
///
/// # Safety
///
/// The caller owns the list headed by `head` (already counted in [`POOLED`]).
unsafe fn push_chain(shared: &StdAtomicPtr<Free>, head: NonNull<Free>) {
    let mut tail = head;
    // SAFETY: the caller owns the list.
    while let Some(next) = NonNull::new(unsafe { tail.as_ref() }.next) {
        tail = next;
    }
    let mut top = shared.load(StdOrdering::Relaxed);
    loop {
        // SAFETY: the caller owns the list until the CAS publishes it.
        unsafe { (*tail.as_ptr()).next = top };
        match shared.compare_exchange_weak(
            top,
            head.as_ptr(),
            StdOrdering::Release,
            StdOrdering::Relaxed,
        ) {
            Ok(_) => return,
            Err(actual) => top = actual,
        }
    }
}

fn fresh(layout: Layout) -> NonNull<u8> {
    // SAFETY: every layout here has a non-zero size (`Inner<T>` holds at least a node).
    let ptr = unsafe { std::alloc::alloc(layout) };
    NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_small_layouts_and_round_up() {
        assert_eq!(class_of(Layout::new::<[u8; 1]>()), Some(0));
        assert_eq!(class_of(Layout::new::<[u64; 2]>()), Some(0));
        assert_eq!(class_of(Layout::new::<[u64; 3]>()), Some(1));
        assert_eq!(class_of(Layout::new::<[u8; 512]>()), Some(31));
        assert_eq!(class_of(Layout::new::<[u8; 513]>()), None);
        assert_eq!(class_of(Layout::from_size_align(64, 64).unwrap()), None);
    }

    #[test]
    fn freed_memory_is_reused_by_the_next_alloc() {
        let layout = Layout::new::<[u64; 5]>();
        let a = alloc(layout);
        // SAFETY: `a` came from `alloc(layout)` and is not used again.
        unsafe { free(a, layout) };
        let b = alloc(layout);
        assert_eq!(a, b, "the freed node came back");
        // SAFETY: as above.
        unsafe { free(b, layout) };
    }
}

//! Recycled allocations for counted handles. A counted value is allocated on the thread
//! that creates it and freed on the finalizer's; the finalizer gives each allocation back
//! to a pool per size class (multiples of 16 bytes up to 512, alignment up to 16) instead
//! of to the allocator, and `Counted::new` takes from the pool. That keeps the allocator's
//! cross-thread free path off both sides: see `counted/new_and_last_drop` in
//! `benches/counted.rs`.
//!
//! Memory moves between threads in *batches*: a thread frees onto its own list, and once
//! that list is full it goes to the shared stack of its class whole, as one batch (one
//! CAS); a thread whose own list is empty takes one batch and makes it its list (no node of
//! it is touched until it is used). The shared stack is taken whole with one swap, its top
//! batch kept, and the rest put back (one swap, plus a push of whatever arrived
//! meanwhile): ABA-free, since nobody pops single batches from a shared stack. A thread
//! pops from and pushes onto its own list without atomics.
//!
//! Bounded: a thread's list holds at most [`LOCAL_CAP`] nodes per class and
//! [`LOCAL_BYTES`] in all, and everything pooled (the shared stacks plus the room every
//! thread's list may fill, reserved once per thread) stays under the pool limit
//! ([`set_pool_limit`], default 4 MiB); beyond that, memory goes back to the allocator. A
//! thread's lists go back to the shared stacks when the thread exits, and its room to the
//! total.
//!
//! Not part of any loom model (a cache, not a protocol): std atomics under both backends.

use crate::loom::{StdAtomicPtr, StdAtomicUsize, StdOrdering};
use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::{self, NonNull};

const GRAIN: usize = 16;
const CLASSES: usize = 32;

/// Nodes a thread keeps on its own list per class, at most (and so the largest batch).
const LOCAL_CAP: usize = 64;
/// Bytes a thread keeps on its own lists, at most (reserved from [`TOTAL_BYTES`] the
/// first time it keeps one).
const LOCAL_BYTES: usize = 32 * 1024;
/// Bytes pooled in total, at most, unless [`set_pool_limit`] says otherwise: the shared
/// stacks plus every thread's reserved room.
pub const DEFAULT_POOL_LIMIT: usize = 4 * 1024 * 1024;
static TOTAL_BYTES: StdAtomicUsize = StdAtomicUsize::new(DEFAULT_POOL_LIMIT);

/// A pooled allocation's first words, while it is in a pool (every class holds them).
struct Free {
    /// The next node of its list or batch.
    next: *mut Free,
    /// In a batch's first node: the next batch on the shared stack.
    next_batch: *mut Free,
    /// In a batch's first node: the number of nodes in the batch.
    len: usize,
}

/// A null-terminated list of `len` nodes of one class, owned by whoever holds it.
struct Batch {
    head: NonNull<Free>,
    len: usize,
}

static SHARED: [StdAtomicPtr<Free>; CLASSES] =
    [const { StdAtomicPtr::new(ptr::null_mut()) }; CLASSES];
/// Bytes on the shared stacks plus the room reserved by threads' own lists.
static POOLED: StdAtomicUsize = StdAtomicUsize::new(0);

/// A thread's own lists; given back to the shared stacks when the thread exits.
struct Local {
    heads: [Cell<*mut Free>; CLASSES],
    lens: [Cell<usize>; CLASSES],
    /// Bytes on this thread's lists.
    bytes: Cell<usize>,
    /// Bytes of [`TOTAL_BYTES`] reserved for this thread's lists: 0 or [`LOCAL_BYTES`].
    room: Cell<usize>,
}

impl Local {
    /// Pops a node of `class` from this thread's list.
    #[inline]
    fn pop(&self, class: usize) -> Option<NonNull<Free>> {
        let node = NonNull::new(self.heads[class].get())?;
        // SAFETY: the node is on this thread's list, which owns it.
        self.heads[class].set(unsafe { node.as_ref() }.next);
        self.lens[class].set(self.lens[class].get() - 1);
        self.bytes.set(self.bytes.get() - class_size(class));
        Some(node)
    }

    /// Reserves this thread's room in the total, once; false if it has none.
    fn has_room(&self) -> bool {
        if self.room.get() == 0 && reserve(LOCAL_BYTES) {
            self.room.set(LOCAL_BYTES);
        }
        self.room.get() != 0
    }

    /// True if one more node of `class` fits on this thread's list.
    #[inline]
    fn fits_one(&self, class: usize) -> bool {
        self.lens[class].get() < LOCAL_CAP
            && self.bytes.get() + class_size(class) <= self.room.get()
    }

    /// Nodes of `class` this list may still take.
    fn space(&self, class: usize) -> usize {
        if !self.has_room() {
            return 0;
        }
        let by_bytes = (self.room.get() - self.bytes.get()) / class_size(class);
        by_bytes.min(LOCAL_CAP - self.lens[class].get())
    }

    /// Makes `batch` this thread's list of `class`, which is empty and has room for it.
    fn install(&self, class: usize, batch: Batch) {
        debug_assert!(self.heads[class].get().is_null());
        self.heads[class].set(batch.head.as_ptr());
        self.lens[class].set(batch.len);
        self.bytes
            .set(self.bytes.get() + batch.len * class_size(class));
    }

    /// Takes this thread's whole list of `class`, if it is not empty.
    fn take_list(&self, class: usize) -> Option<Batch> {
        let head = NonNull::new(self.heads[class].replace(ptr::null_mut()))?;
        let len = self.lens[class].replace(0);
        self.bytes.set(self.bytes.get() - len * class_size(class));
        Some(Batch { head, len })
    }

    /// Pushes `node` onto this thread's list of `class`.
    ///
    /// # Safety
    ///
    /// `node` is a class-`class` allocation the caller gives up; [`fits_one`](Self::fits_one)
    /// said there was room.
    #[inline]
    unsafe fn push(&self, class: usize, node: NonNull<Free>) {
        // SAFETY: the caller gives the node up; it joins this thread's list (only `next`
        // matters on a list).
        unsafe { (*node.as_ptr()).next = self.heads[class].get() };
        self.heads[class].set(node.as_ptr());
        self.lens[class].set(self.lens[class].get() + 1);
        self.bytes.set(self.bytes.get() + class_size(class));
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // The room first, so the lists given back below may fill it on the shared stacks.
        POOLED.fetch_sub(self.room.replace(0), StdOrdering::Relaxed);
        for class in 0..CLASSES {
            if let Some(batch) = self.take_list(class) {
                give_back(class, batch);
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

/// The size class of `layout`, if it is pooled. Every class holds a [`Free`].
fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= GRAIN && layout.size() <= GRAIN * CLASSES && layout.size() > 0)
        .then(|| layout.size().max(size_of::<Free>()).div_ceil(GRAIN) - 1)
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
        // This thread's lists are gone (it is exiting): one node of a shared batch.
        Err(_) => match take_batch(class) {
            Some(batch) => {
                let (first, rest) = split_first(batch);
                if let Some(rest) = rest {
                    give_back(class, rest);
                }
                first.cast()
            }
            None => fresh(class_layout(class)),
        },
    }
}

/// Takes a batch of `class` from the shared stack: returns its first node, and makes the
/// rest this thread's (empty) list, as far as it has room (the nodes stay as they are:
/// each was freed moments ago on another core, and is touched only when it is used).
#[cold]
fn refill(local: &Local, class: usize) -> Option<NonNull<Free>> {
    let space = local.space(class);
    let (first, rest) = split_first(take_batch(class)?);
    if let Some(rest) = rest {
        if rest.len <= space {
            local.install(class, rest);
        } else {
            let (kept, over) = split_at(rest, space);
            if let Some(kept) = kept {
                local.install(class, kept);
            }
            give_back(class, over);
        }
    }
    Some(first)
}

/// The first node of `batch`, and the rest of it.
fn split_first(batch: Batch) -> (NonNull<Free>, Option<Batch>) {
    // SAFETY: the caller owns the batch.
    let next = unsafe { batch.head.as_ref() }.next;
    let rest = NonNull::new(next).map(|head| Batch {
        head,
        len: batch.len - 1,
    });
    (batch.head, rest)
}

/// Cuts `batch` after its first `n` nodes (fewer than its length): the first part (if `n`
/// is not 0) and the rest.
fn split_at(batch: Batch, n: usize) -> (Option<Batch>, Batch) {
    debug_assert!(n < batch.len);
    let Some(last) = n.checked_sub(1) else {
        return (None, batch);
    };
    let mut tail = batch.head;
    for _ in 0..last {
        // SAFETY: the caller owns the batch, which has more than `n` nodes.
        tail = unsafe { NonNull::new_unchecked(tail.as_ref().next) };
    }
    // SAFETY: as above: `tail` is the `n`th node, and a next one follows it.
    let rest = unsafe { NonNull::new_unchecked(tail.as_ref().next) };
    // SAFETY: as above; the first part ends here.
    unsafe { (*tail.as_ptr()).next = ptr::null_mut() };
    let first = Batch {
        head: batch.head,
        len: n,
    };
    let rest = Batch {
        head: rest,
        len: batch.len - n,
    };
    (Some(first), rest)
}

/// Takes the top batch of the shared stack of `class`: the whole stack in one swap, and
/// the batches under the top one back in another (what was pushed between the two goes on
/// top of them).
fn take_batch(class: usize) -> Option<Batch> {
    let shared = &SHARED[class];
    if shared.load(StdOrdering::Relaxed).is_null() {
        return None;
    }
    let head = NonNull::new(shared.swap(ptr::null_mut(), StdOrdering::Acquire))?;
    // SAFETY: the whole stack was just taken by this thread, which owns it; its batches
    // were published by `push_batches` (Release), acquired by the swap.
    let (len, below) = unsafe { (head.as_ref().len, head.as_ref().next_batch) };
    POOLED.fetch_sub(len * class_size(class), StdOrdering::Relaxed);
    if !below.is_null() {
        let arrived = shared.swap(below, StdOrdering::AcqRel);
        if let Some(arrived) = NonNull::new(arrived) {
            // SAFETY: the swap handed this thread the batches pushed meanwhile, owned whole.
            unsafe { push_batches(shared, arrived) };
        }
    }
    Some(Batch { head, len })
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
                if !local.fits_one(class) {
                    // Full: this thread's list of the class goes to the shared stack whole.
                    if let Some(batch) = local.take_list(class) {
                        give_back(class, batch);
                    }
                    if !local.has_room() || !local.fits_one(class) {
                        return false;
                    }
                }
                // SAFETY: the caller gives the node up; `fits_one` said there was room.
                unsafe { local.push(class, node) };
                true
            });
            if kept_here != Ok(true) {
                // SAFETY: a class allocation the caller gives up: a batch of one.
                unsafe { (*node.as_ptr()).next = ptr::null_mut() };
                give_back(class, Batch { head: node, len: 1 });
            }
        }
        // SAFETY: unpooled layouts come from `fresh(layout)`, i.e. `std::alloc::alloc`.
        None => unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) },
    }
}

/// Pushes a batch onto the shared stack of `class`, or frees its nodes if the pool is full.
fn give_back(class: usize, batch: Batch) {
    if !reserve(batch.len * class_size(class)) {
        let mut node = batch.head.as_ptr();
        while let Some(n) = NonNull::new(node) {
            // SAFETY: the batch's nodes are owned by the caller; each link is read before
            // its node is freed. Class allocations are made with `class_layout(class)`.
            unsafe {
                node = n.as_ref().next;
                std::alloc::dealloc(n.as_ptr().cast(), class_layout(class));
            }
        }
        return;
    }
    // SAFETY: the caller owns the batch; its first node becomes a one-batch stack.
    unsafe {
        let head = &mut *batch.head.as_ptr();
        head.len = batch.len;
        head.next_batch = ptr::null_mut();
        push_batches(&SHARED[class], batch.head);
    }
}

/// Pushes a stack of batches (linked by `next_batch`) onto a shared stack, whole.
///
/// # Safety
///
/// The caller owns the batches headed by `top` (already counted in [`POOLED`]).
unsafe fn push_batches(shared: &StdAtomicPtr<Free>, top: NonNull<Free>) {
    let mut bottom = top;
    // SAFETY: the caller owns the batches.
    while let Some(next) = NonNull::new(unsafe { bottom.as_ref() }.next_batch) {
        bottom = next;
    }
    let mut old = shared.load(StdOrdering::Relaxed);
    loop {
        // SAFETY: the caller owns the batches until the CAS publishes them.
        unsafe { (*bottom.as_ptr()).next_batch = old };
        match shared.compare_exchange_weak(
            old,
            top.as_ptr(),
            StdOrdering::Release,
            StdOrdering::Relaxed,
        ) {
            Ok(_) => return,
            Err(actual) => old = actual,
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
        // The smallest class holds a `Free` (three words).
        assert_eq!(class_of(Layout::new::<[u8; 1]>()), Some(1));
        assert_eq!(class_of(Layout::new::<[u64; 2]>()), Some(1));
        assert_eq!(class_of(Layout::new::<[u64; 4]>()), Some(1));
        assert_eq!(class_of(Layout::new::<[u64; 5]>()), Some(2));
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

    #[test]
    fn a_full_list_moves_to_another_thread_whole() {
        // A class no other test uses; 64 nodes of it fit in a thread's room.
        let layout = Layout::from_size_align(464, 16).unwrap();
        let (freed_tx, freed_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        // The freeing thread stays alive (its own list is not given back by its exit).
        let freer = std::thread::spawn(move || {
            let nodes: Vec<_> = (0..=LOCAL_CAP).map(|_| alloc(layout)).collect();
            let addrs: Vec<usize> = nodes.iter().map(|p| p.as_ptr() as usize).collect();
            for node in nodes {
                // SAFETY: each came from `alloc(layout)` and is not used again.
                unsafe { free(node, layout) };
            }
            freed_tx.send(addrs).unwrap();
            done_rx.recv().unwrap();
        });
        let freed = freed_rx.recv().unwrap();
        let taken: Vec<_> = (0..LOCAL_CAP).map(|_| alloc(layout)).collect();
        let reused = taken
            .iter()
            .filter(|p| freed.contains(&(p.as_ptr() as usize)))
            .count();
        done_tx.send(()).unwrap();
        freer.join().unwrap();
        for node in taken {
            // SAFETY: as above.
            unsafe { free(node, layout) };
        }
        assert_eq!(
            reused, LOCAL_CAP,
            "the other thread's full list came over whole"
        );
    }
}

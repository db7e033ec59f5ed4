//! Recycled allocations for counted handles. A counted value is allocated on the thread
//! that creates it and freed on the finalizer's; the finalizer gives each allocation back
//! to a pool per size class (multiples of 16 bytes up to 512, alignment up to 16) instead
//! of to the allocator, and `Counted::new` takes from the pool. That keeps the allocator's
//! cross-thread free path off both sides: see `counted/new_and_last_drop` in
//! `benches/counted.rs`.
//!
//! Returning is a CAS push onto a shared stack; taking empties the whole shared stack into
//! the taking thread's own list with one swap (ABA-free: nobody pops single nodes from a
//! shared stack), then pops locally without atomics. A class keeps at most `CAP` nodes
//! pooled; beyond that, allocations go back to the allocator.
//!
//! Not part of any loom model (a cache, not a protocol): std atomics under both backends.

use crate::loom::{StdAtomicPtr, StdAtomicUsize, StdOrdering};
use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::{self, NonNull};

const GRAIN: usize = 16;
const CLASSES: usize = 32;
/// Nodes kept per class, at most (pooled memory stays under 8 MiB per class).
const CAP: usize = 16 * 1024;

/// A pooled allocation's first word, while it is in a pool.
struct Free {
    next: *mut Free,
}

static SHARED: [StdAtomicPtr<Free>; CLASSES] =
    [const { StdAtomicPtr::new(ptr::null_mut()) }; CLASSES];
static POOLED: [StdAtomicUsize; CLASSES] = [const { StdAtomicUsize::new(0) }; CLASSES];

/// Nodes a thread keeps on its own list when it frees them itself (more go to the shared
/// stack): so a value created and released on one thread (`try_release`) recycles its
/// memory without atomics, and the finalizer, which frees everything, keeps only a few.
const LOCAL_CAP: u32 = 64;

/// A thread's own lists and their lengths; given back to the shared stacks when the thread
/// exits.
struct Local {
    heads: [Cell<*mut Free>; CLASSES],
    /// Nodes this thread freed onto its own list and has not reused yet (capped).
    kept: [Cell<u32>; CLASSES],
}

impl Drop for Local {
    fn drop(&mut self) {
        for (class, head) in self.heads.iter().enumerate() {
            let mut node = head.replace(ptr::null_mut());
            while let Some(n) = NonNull::new(node) {
                // SAFETY: nodes on a local list are owned by it; read the link, then hand
                // the node over (`give_back` owns it from there).
                node = unsafe { n.as_ref() }.next;
                // SAFETY: `n` is a class-`class` allocation nobody else references.
                unsafe { give_back(class, n) };
            }
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            heads: [const { Cell::new(ptr::null_mut()) }; CLASSES],
            kept: [const { Cell::new(0) }; CLASSES],
        }
    };
}

/// The size class of `layout`, if it is pooled.
fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= GRAIN && layout.size() <= GRAIN * CLASSES && layout.size() > 0)
        .then(|| layout.size().div_ceil(GRAIN) - 1)
}

fn class_layout(class: usize) -> Layout {
    match Layout::from_size_align(GRAIN * (class + 1), GRAIN) {
        Ok(layout) => layout,
        Err(_) => unreachable!("class layouts are small powers-of-two aligned sizes"),
    }
}

/// Uninitialised memory for a value of `layout`.
pub(crate) fn alloc(layout: Layout) -> NonNull<u8> {
    let Some(class) = class_of(layout) else {
        return fresh(layout);
    };
    let local = LOCAL.try_with(|local| {
        let head = &local.heads[class];
        let kept = &local.kept[class];
        kept.set(kept.get().saturating_sub(1));
        if head.get().is_null() {
            let taken = SHARED[class].swap(ptr::null_mut(), StdOrdering::Acquire);
            POOLED[class].fetch_sub(count(taken), StdOrdering::Relaxed);
            head.set(taken);
        }
        let node = NonNull::new(head.get())?;
        // SAFETY: the node is on this thread's list, which owns it.
        head.set(unsafe { node.as_ref() }.next);
        Some(node.cast::<u8>())
    });
    match local {
        Ok(Some(node)) => node,
        _ => fresh(class_layout(class)),
    }
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
                let kept = &local.kept[class];
                if kept.get() >= LOCAL_CAP {
                    return false;
                }
                kept.set(kept.get() + 1);
                let head = &local.heads[class];
                // SAFETY: the caller gives the node up; it joins this thread's list.
                unsafe { node.as_ptr().write(Free { next: head.get() }) };
                head.set(node.as_ptr());
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

/// Pushes a class allocation onto the shared stack, or frees it if the class is full.
///
/// # Safety
///
/// `node` is a class-`class` allocation owned by the caller, who gives it up.
unsafe fn give_back(class: usize, node: NonNull<Free>) {
    if POOLED[class].load(StdOrdering::Relaxed) >= CAP {
        // SAFETY: class allocations are made with `class_layout(class)`.
        unsafe { std::alloc::dealloc(node.as_ptr().cast(), class_layout(class)) };
        return;
    }
    POOLED[class].fetch_add(1, StdOrdering::Relaxed);
    let shared = &SHARED[class];
    let mut head = shared.load(StdOrdering::Relaxed);
    loop {
        // SAFETY: the caller owns `node` until the CAS publishes it.
        unsafe { node.as_ptr().write(Free { next: head }) };
        match shared.compare_exchange_weak(
            head,
            node.as_ptr(),
            StdOrdering::Release,
            StdOrdering::Relaxed,
        ) {
            Ok(_) => return,
            Err(actual) => head = actual,
        }
    }
}

/// The length of a list taken from a shared stack.
fn count(mut node: *mut Free) -> usize {
    let mut n = 0;
    while let Some(nn) = NonNull::new(node) {
        // SAFETY: the list was just taken whole by this thread, which owns it.
        node = unsafe { nn.as_ref() }.next;
        n += 1;
    }
    n
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

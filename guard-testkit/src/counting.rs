//! [`Counting`]: the system allocator, counting the bytes live on the heap, for tests that
//! measure memory. A test binary installs it as its global allocator and reads
//! [`Counting::live`] around what it measures; alone in its binary, with one test, nothing
//! else allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes live on the heap.
///
/// # Examples
///
/// ```
/// use guard_testkit::Counting;
///
/// #[global_allocator]
/// static ALLOC: Counting = Counting::new();
///
/// let before = ALLOC.live();
/// let v = vec![0u8; 1000];
/// assert!(ALLOC.live() - before >= 1000);
/// drop(v);
/// ```
#[derive(Debug)]
pub struct Counting {
    live: AtomicIsize,
}

impl Counting {
    /// A counter at zero (for a `static`).
    pub const fn new() -> Self {
        Counting {
            live: AtomicIsize::new(0),
        }
    }

    /// Bytes allocated through this allocator and not yet freed.
    pub fn live(&self) -> isize {
        self.live.load(Ordering::Relaxed)
    }
}

impl Default for Counting {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded to `System` with the same arguments; the counter does not
// affect what is returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.live
            .fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.live
            .fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.live.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

//! [`CachePadded`]: a value on cache lines of its own, for data that different threads
//! write (the finalizer queue's head, its counters, per-thread counts, census counts).

/// Keeps a value on cache lines of its own (128 bytes: two lines, for the adjacent-line
/// prefetcher), so that threads writing neighbouring values do not invalidate each
/// other's lines.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

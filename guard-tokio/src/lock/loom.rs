//! The lock's synchronization types, from one place (as guard-core's `loom` module): the
//! lock's code takes `Arc`, atomics and the queue's mutex only from here.

pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{Arc, Condvar, Mutex as StdMutex, MutexGuard as StdGuard, Weak};

/// Locks `m`, ignoring poison: the queue's invariants hold between statements (no user code
/// runs under it), so a panic elsewhere cannot leave it torn.
pub(crate) fn lock<T>(m: &StdMutex<T>) -> StdGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

//! The lock's synchronization types, from one place (as guard-core's `loom` module): the
//! lock's code takes `Arc`, atomics and the queue's mutex only from here; under
//! `--cfg guard_loom` they are loom's, so loom explores the wake protocol's interleavings.

#[cfg(guard_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
#[cfg(guard_loom)]
pub(crate) use loom::sync::{Arc, Mutex as StdMutex, MutexGuard as StdGuard};
#[cfg(not(guard_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(guard_loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex as StdMutex, MutexGuard as StdGuard, Weak};

/// The `Arc` of the public API (`lock_owned`): always std's.
pub(crate) use std::sync::Arc as StdArc;
/// Process-wide settings, outside the protocol loom models: always std's.
pub(crate) use std::sync::atomic::AtomicU64 as StdAtomicU64;

/// Locks `m`, ignoring poison: the queue's invariants hold between statements (no user code
/// runs under it), so a panic elsewhere cannot leave it torn.
pub(crate) fn lock<T>(m: &StdMutex<T>) -> StdGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

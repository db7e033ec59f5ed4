//! Leases: what keeps a registry entry's value valid while someone outside the registry
//! lock looks at it (.NET `SafeHandle`'s refcount, Go's `fdMutex`).
//!
//! Each slot carries a lease count and a closing bit, both guarded by the registry lock.
//! Taking a lease fails on a closing slot. Removing a leased slot sets the closing bit and
//! leaves the slot (and its value) in place, invisible to every lookup; the holder of the
//! last lease completes the removal and runs the registry's deferred release on the value.
//! So a value is never released while a lease on it is held, and released exactly once.

use crate::registry::{Key, Origin, Registry};
use std::fmt;

/// The lease state of one slot. Lives inside the registry's table, under its lock.
#[derive(Debug, Default)]
pub(crate) struct LeaseCount {
    leases: u32,
    closing: bool,
}

/// What ending a lease (or removing an entry) asks the caller to do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// The slot is still live or still leased: nothing to do.
    Keep,
    /// The slot is closing and no lease is left: remove it and release its value.
    Finish,
}

impl LeaseCount {
    /// Takes a lease; `false` if the slot is closing.
    ///
    /// # Panics
    ///
    /// Aborts the process before the count overflows (a lease leaked 4 billion times).
    #[inline]
    pub(crate) fn acquire(&mut self) -> bool {
        if self.closing {
            return false;
        }
        if self.leases == u32::MAX {
            // A leaked lease per call, four billion times: continuing would let the count
            // wrap and the value be released under a live lease.
            std::process::abort();
        }
        self.leases += 1;
        true
    }

    /// Ends a lease.
    #[inline]
    pub(crate) fn end(&mut self) -> Settle {
        debug_assert!(self.leases > 0, "ending a lease that was never taken");
        self.leases -= 1;
        self.settle()
    }

    /// Marks the slot closing (removal requested).
    #[inline]
    pub(crate) fn close(&mut self) -> Settle {
        self.closing = true;
        self.settle()
    }

    /// True if the slot accepts no new lease and no lookup finds it.
    #[inline]
    pub(crate) fn is_closing(&self) -> bool {
        self.closing
    }

    /// Number of leases held now.
    pub(crate) fn held(&self) -> u32 {
        self.leases
    }

    #[inline]
    fn settle(&self) -> Settle {
        if self.closing && self.leases == 0 {
            Settle::Finish
        } else {
            Settle::Keep
        }
    }
}

/// A lease on one registry entry: while it lives, the entry's value is not released, even
/// if its owner removes it (the release then happens when the lease ends).
///
/// Obtained from [`Registry::lease`]. Holding a lease never holds the registry lock, so the
/// holder may register, remove or lease anything, on any thread.
///
/// # Examples
///
/// ```
/// use guard_core::registry::{Origin, Registry};
/// use guard_core::Kind;
/// use std::sync::{Arc, Mutex};
///
/// let released = Arc::new(Mutex::new(Vec::new()));
/// let log = released.clone();
/// let registry = Registry::new(move |v: u32| log.lock().unwrap().push(v));
/// let key = registry.insert(7, Origin::here::<u32>(Kind::Counted));
///
/// let lease = registry.lease(key).unwrap();
/// assert_eq!(*lease.value(), 7);
/// assert!(registry.remove(key).is_deferred()); // removal waits for the lease
/// assert!(released.lock().unwrap().is_empty());
/// drop(lease); // the last lease completes the removal
/// assert_eq!(*released.lock().unwrap(), [7]);
/// ```
pub struct Lease<'r, T: Copy + Send + 'static> {
    registry: &'r Registry<T>,
    key: Key,
    value: T,
    origin: &'static Origin,
}

impl<'r, T: Copy + Send + 'static> Lease<'r, T> {
    pub(crate) fn new(
        registry: &'r Registry<T>,
        key: Key,
        value: T,
        origin: &'static Origin,
    ) -> Self {
        Lease {
            registry,
            key,
            value,
            origin,
        }
    }

    /// The leased entry's key.
    pub fn key(&self) -> Key {
        self.key
    }

    /// The leased value (valid, unreleased, for as long as the lease lives).
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Where the entry was created, its type and kind.
    pub fn origin(&self) -> &Origin {
        self.origin
    }
}

impl<T: Copy + Send + 'static> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        self.registry.end_leases(std::iter::once(self.key));
    }
}

impl<T: Copy + Send + fmt::Debug + 'static> fmt::Debug for Lease<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("value", &self.value)
            .field("origin", &self.origin)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_waits_for_the_last_lease() {
        let mut c = LeaseCount::default();
        assert!(c.acquire());
        assert!(c.acquire());
        assert_eq!(c.close(), Settle::Keep);
        assert!(!c.acquire(), "a closing slot takes no new lease");
        assert_eq!(c.end(), Settle::Keep);
        assert_eq!(c.end(), Settle::Finish);
    }

    #[test]
    fn unleased_removal_finishes_at_once() {
        let mut c = LeaseCount::default();
        assert_eq!(c.close(), Settle::Finish);
        assert!(c.is_closing());
        assert_eq!(c.held(), 0);
    }
}

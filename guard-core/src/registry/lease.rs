//! [`Lease`]: a held registry entry, whose value is not released while the lease lives.

use super::key::Key;
use super::store::Store;
use crate::census::Origin;
use std::fmt;

/// A lease on one registry entry: while it lives, the entry's value is not released, even
/// if its owner removes it (the release then happens when the lease ends).
///
/// Obtained from [`Registry::lease`](super::Registry::lease). Holding a lease never holds the registry lock, so the
/// holder may register, remove or lease anything, on any thread.
///
/// # Forgetting a lease
///
/// A lease ends only in its `Drop`. One that is never dropped (`mem::forget`, a cycle of
/// `Rc`s) *pins* its entry: once removed, the entry is gone from every lookup and from
/// [`len`](super::Registry::len), but its value is never released (for an fd registry, the
/// fd stays open until the process exits). Memory stays safe; the value leaks. A pinned
/// entry shows in [`Registry::pinned`](super::Registry::pinned), in the registry's
/// [`census`](super::Registry::census) (with its creation site) and in
/// [`report()`](crate::report()).
///
/// # Examples
///
/// ```
/// use guard_core::census::Origin;
/// use guard_core::registry::Registry;
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
    store: &'r Store<T>,
    key: Key,
    value: T,
    origin: &'static Origin,
}

impl<'r, T: Copy + Send + 'static> Lease<'r, T> {
    pub(super) fn new(store: &'r Store<T>, key: Key, value: T, origin: &'static Origin) -> Self {
        Lease {
            store,
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
        self.store.end_leases(std::iter::once(self.key));
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

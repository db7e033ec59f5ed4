//! [`Registry`]: insert, remove, lease and iterate entries.

use super::key::Key;
use super::lease::Lease;
use super::lease_count::{LeaseCount, Settle};
use super::pass::Met;
use super::removal::Removal;
use super::store::{Row, Store};
use super::walk::Walk;
use crate::barrier;
use crate::census::{self, CensusGroup, Origin};
use crate::loom::thread;
use std::collections::HashMap;
use std::fmt;

/// A registry of live values (e.g. raw fd numbers) with their [`Origin`], keyed by
/// generational [`Key`]s and iterated under [`Lease`]s.
///
/// `T` is a small `Copy` handle to the real thing (an fd number, an id): the registry hands
/// copies to callbacks, and leases guarantee the thing it names is not released meanwhile.
///
/// # Examples
///
/// ```
/// use guard_core::census::Origin;
/// use guard_core::registry::{Registry, Removal};
/// use guard_core::Kind;
///
/// let registry = Registry::new(|_: i32| {});
/// let a = registry.insert(3, Origin::here::<i32>(Kind::Counted));
/// let b = registry.insert(4, Origin::here::<i32>(Kind::Unique));
///
/// let mut seen = Vec::new();
/// registry.for_each(|entry| seen.push(*entry.value()));
/// assert_eq!(seen, [3, 4]);
///
/// assert_eq!(registry.remove(a), Removal::Removed(3));
/// assert_eq!(registry.remove(a), Removal::Stale); // a stale key reaches nothing
/// assert_eq!(registry.len(), 1);
/// # let _ = registry.remove(b);
/// ```
pub struct Registry<T: Copy + Send + 'static> {
    store: Store<T>,
}

impl<T: Copy + Send + 'static> Registry<T> {
    /// An empty registry. `deferred_release` releases a value whose removal met a lease;
    /// it runs on the thread that ends the last lease, outside the registry lock. If it
    /// panics, the panic is caught and reported as
    /// [`Event::ReleasePanicked`](crate::event::Event::ReleasePanicked) (it may run in a
    /// `Lease`'s `Drop`, where no caller could receive it), and the other deferred releases
    /// still run.
    pub fn new(deferred_release: impl Fn(T) + Send + Sync + 'static) -> Self {
        Registry {
            store: Store::new(Box::new(deferred_release)),
        }
    }

    /// Makes this registry usable in a child of `fork()` without exec: from now on its lock
    /// is taken before every fork and given back in both processes after it, so the child
    /// finds the registry unlocked and consistent, and the leases the parent's other threads
    /// held at the fork (threads the child lacks) are forgotten in the child. Calling it again does
    /// nothing. A registry that lives for the whole process (guard-os's fd registry
    /// does) is the one to call it on. Without it, a child must not use the registry: a
    /// thread of the parent may have held its lock at the fork.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_core::census::Origin;
    /// use guard_core::registry::Registry;
    /// use guard_core::Kind;
    /// use std::sync::LazyLock;
    ///
    /// static IDS: LazyLock<Registry<u32>> = LazyLock::new(|| Registry::new(|_| {}));
    /// IDS.keep_across_fork();
    /// let key = IDS.insert(7, Origin::here::<u32>(Kind::Counted));
    /// # let _ = IDS.remove(key);
    /// ```
    pub fn keep_across_fork(&'static self) {
        crate::fork::register(&self.store);
    }

    /// Registers `value` and returns its key.
    ///
    /// # Panics
    ///
    /// Panics if more than `u32::MAX` entries are live at once.
    pub fn insert(&self, value: T, origin: Origin) -> Key {
        let origin = census::intern(origin);
        let mut table = self.store.table.lock();
        let generation = table.next_generation;
        table.next_generation = generation + 1;
        let index = table.rows.insert(Row {
            generation,
            lease: LeaseCount::default(),
            value,
            origin,
        });
        table.live += 1;
        let index = u32::try_from(index).expect("more than u32::MAX live registry entries");
        Key { index, generation }
    }

    /// Removes the entry `key` names. Its value comes back to the caller to release, unless
    /// a lease holds it: then the entry disappears from every lookup now and the registry's
    /// deferred release runs when the last lease ends.
    pub fn remove(&self, key: Key) -> Removal<T> {
        let mut table = self.store.table.lock();
        let table = &mut *table;
        let Some(row) = table
            .rows
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation && !s.lease.is_closing())
        else {
            return Removal::Stale;
        };
        let value = row.value;
        let mut settle = row.lease.close();
        // A pass that leases the row without visiting it gives its lease up: only the visit
        // of this very entry delays its release (the protocol is in `pass.rs`).
        if settle == Settle::Keep && !table.passes.is_empty() {
            let me = thread::current().id();
            let mut fence = false;
            for (_, pass) in table.passes.iter_mut() {
                fence |= pass.claim(key, me) == Some(true);
            }
            if fence {
                barrier::heavy();
            }
            for (_, pass) in table.passes.iter_mut() {
                if pass.decide() == Met::TookOver {
                    settle = row.lease.end();
                }
            }
        }
        table.live -= 1;
        match settle {
            Settle::Finish => {
                table.rows.remove(key.index as usize);
                Removal::Removed(value)
            }
            Settle::Keep => Removal::Deferred,
        }
    }

    /// Replaces the value and origin of the live entry `key`, keeping its key, if no lease
    /// holds it now; returns the old value, which the caller owns again. A leased entry
    /// cannot change in place (its lease holders copied both): then `Err(Removal::Deferred)`
    /// and nothing changed, or `Err(Removal::Stale)` if the key matches no live entry.
    ///
    /// # Examples
    ///
    /// ```
    /// # use guard_core::{Kind, census::Origin, registry::{Registry, Removal}};
    /// let registry = Registry::new(|_: i32| {});
    /// let key = registry.insert(3, Origin::here::<i32>(Kind::Counted));
    /// let unique = Origin::here::<u8>(Kind::Unique);
    /// assert_eq!(registry.replace_unleased(key, 4, unique), Ok(3));
    /// assert_eq!(registry.get(key), Some((4, unique)));
    /// let lease = registry.lease(key).unwrap();
    /// assert_eq!(registry.replace_unleased(key, 5, unique), Err(Removal::Deferred));
    /// # drop(lease);
    /// ```
    pub fn replace_unleased(&self, key: Key, value: T, origin: Origin) -> Result<T, Removal<T>> {
        let origin = census::intern(origin);
        let mut table = self.store.table.lock();
        let Some(row) = table.live_row_mut(key) else {
            return Err(Removal::Stale);
        };
        if row.lease.held() > 0 {
            return Err(Removal::Deferred);
        }
        row.origin = origin;
        Ok(std::mem::replace(&mut row.value, value))
    }

    /// A copy of the value and origin of the live entry `key`, if any.
    pub fn get(&self, key: Key) -> Option<(T, Origin)> {
        let mut table = self.store.table.lock();
        table.live_row_mut(key).map(|s| (s.value, *s.origin))
    }

    /// Leases the live entry `key`: its value stays unreleased until the lease is dropped.
    /// `None` if the key is stale or the entry is being removed.
    pub fn lease(&self, key: Key) -> Option<Lease<'_, T>> {
        let mut table = self.store.table.lock();
        let row = table.live_row_mut(key)?;
        row.lease
            .acquire()
            .then(|| Lease::new(&self.store, key, row.value, row.origin))
    }

    /// Calls `f` on every live entry, each under a lease, never under the registry lock.
    ///
    /// Entries are leased a batch at a time (up to 32 per lock acquisition). A removal of
    /// an entry waits only for `f`'s visit of that entry: an entry of the batch not yet
    /// visited, or already visited, is released at once by its remover and skipped; an
    /// entry removed while `f` visits it is released as soon as that visit returns (also
    /// when `f` itself removed it). Entries inserted during the pass may or may not be
    /// visited. A panic in `f` ends the batch's leases (running any deferred release) and
    /// then propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_core::census::Origin;
    /// use guard_core::registry::{Registry, Removal};
    /// use guard_core::Kind;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let released = Arc::new(Mutex::new(Vec::new()));
    /// let log = released.clone();
    /// let registry = Registry::new(move |v: u32| log.lock().unwrap().push(v));
    /// let keys: Vec<_> = (0..3).map(|v| registry.insert(v, Origin::here::<u32>(Kind::Counted))).collect();
    /// registry.for_each(|entry| {
    ///     if *entry.value() == 0 {
    ///         // Not under visit: released at once, and never visited.
    ///         assert_eq!(registry.remove(keys[2]), Removal::Removed(2));
    ///         // Under visit: released when this visit returns.
    ///         assert!(registry.remove(keys[0]).is_deferred());
    ///     }
    ///     assert_ne!(*entry.value(), 2);
    ///     if *entry.value() == 1 {
    ///         assert_eq!(*released.lock().unwrap(), [0]); // the visit of 0 has ended
    ///     }
    /// });
    /// # let _ = registry.remove(keys[1]);
    /// ```
    pub fn for_each(&self, f: impl FnMut(&Lease<'_, T>)) {
        Walk::new(&self.store).run(f);
    }

    /// A snapshot of every value not yet released: live entries', and removed entries' whose
    /// release waits for a lease (gone from every lookup, yet still held). It tells a caller
    /// about to take a thing by its value (an fd number) whether the registry holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use guard_core::{Kind, census::Origin, registry::Registry};
    /// let registry = Registry::new(|_: i32| {});
    /// let key = registry.insert(3, Origin::here::<i32>(Kind::Unique));
    /// let lease = registry.lease(key).unwrap();
    /// assert!(registry.remove(key).is_deferred()); // gone from every lookup ...
    /// assert_eq!(registry.unreleased_values(), [3]); // ... but not released yet
    /// drop(lease); // the deferred release runs
    /// assert!(registry.unreleased_values().is_empty());
    /// ```
    pub fn unreleased_values(&self) -> Vec<T> {
        let table = self.store.table.lock();
        table.rows.iter().map(|(_, row)| row.value).collect()
    }

    /// Number of live entries: inserted and not removed. A *pinned* entry (removed while
    /// a lease held it, its release waiting for the lease to end) is not live and not
    /// counted here; [`pinned`](Self::pinned) counts those, and [`census`](Self::census)
    /// lists them with their origin.
    ///
    /// # Examples
    ///
    /// ```
    /// # use guard_core::{Kind, census::Origin, registry::Registry};
    /// let registry = Registry::new(|_: i32| {});
    /// let key = registry.insert(3, Origin::here::<i32>(Kind::Unique));
    /// assert_eq!(registry.len(), 1);
    /// std::mem::forget(registry.lease(key).unwrap()); // never ends
    /// assert!(registry.remove(key).is_deferred());
    /// assert_eq!((registry.len(), registry.pinned()), (0, 1)); // removed, never released
    /// ```
    pub fn len(&self) -> usize {
        self.store.table.lock().live
    }

    /// Number of pinned entries: removed while leased, and not released yet because the
    /// lease has not ended. A lease that is held briefly pins its entry briefly; a lease
    /// that was forgotten pins it forever (its value is never released). See
    /// [`len`](Self::len).
    ///
    /// # Examples
    ///
    /// ```
    /// # use guard_core::{Kind, census::Origin, registry::Registry};
    /// let registry = Registry::new(|_: i32| {});
    /// let key = registry.insert(3, Origin::here::<i32>(Kind::Unique));
    /// let lease = registry.lease(key).unwrap();
    /// assert!(registry.remove(key).is_deferred());
    /// assert_eq!(registry.pinned(), 1);
    /// drop(lease); // the release runs
    /// assert_eq!(registry.pinned(), 0);
    /// ```
    pub fn pinned(&self) -> usize {
        let table = self.store.table.lock();
        table.rows.len() - table.live
    }

    /// True if no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries grouped by origin (kind, type, site), largest groups first: per group, how
    /// many are live ([`count`](CensusGroup::count)) and how many are pinned
    /// ([`pinned`](CensusGroup::pinned): removed, but held unreleased by a lease). The
    /// lock is held only to copy each entry's origin; the grouping runs after it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use guard_core::{Kind, census::Origin, registry::Registry};
    /// let registry = Registry::new(|_: i32| {});
    /// let origin = Origin::here::<i32>(Kind::Unique);
    /// let (a, b) = (registry.insert(3, origin), registry.insert(4, origin));
    /// std::mem::forget(registry.lease(b).unwrap());
    /// assert!(registry.remove(b).is_deferred());
    /// let groups = registry.census();
    /// assert_eq!((groups[0].origin, groups[0].count, groups[0].pinned), (origin, 1, 1));
    /// # let _ = registry.remove(a);
    /// ```
    pub fn census(&self) -> Vec<CensusGroup> {
        let rows: Vec<(&'static Origin, bool)> = {
            let table = self.store.table.lock();
            table
                .rows
                .iter()
                .map(|(_, row)| (row.origin, row.lease.is_closing()))
                .collect()
        };
        // Interned origins: one pointer per (type, site), so count by address first.
        let mut by_address: HashMap<*const Origin, (&'static Origin, usize, usize)> =
            HashMap::new();
        for (origin, pinned) in rows {
            let entry = by_address
                .entry(std::ptr::from_ref(origin))
                .or_insert((origin, 0, 0));
            if pinned {
                entry.2 += 1;
            } else {
                entry.1 += 1;
            }
        }
        census::group(
            by_address
                .into_values()
                .map(|(o, live, pinned)| (*o, live, pinned)),
        )
    }
}

impl<T: Copy + Send + 'static> fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.len())
            .finish_non_exhaustive()
    }
}

//! The registry of live resources: a slab of entries with generational keys, iterated with
//! leases so that no callback ever runs under the registry lock.
//!
//! Invariants (generic form of the design's R1-R3):
//!
//! - **R1** A value handed to a [`for_each`](Registry::for_each) callback or held by a
//!   [`Lease`] is not released while the callback runs or the lease lives, and a stale
//!   [`Key`] never reaches a newer entry (each insertion gets a fresh generation).
//! - **R2** Callbacks run without the registry lock: they may insert, remove, lease, iterate
//!   or panic, on any thread, without deadlock. A removal that meets a lease is deferred
//!   and completed by whoever ends the last lease: for a `for_each` pass, which leases
//!   entries a batch of up to 32 at a time, when the pass ends that entry's batch.
//! - **R3** Each value is handed to its release exactly once: by [`remove`](Registry::remove)
//!   (returned to the caller) or, if leased then, by the registry's deferred release.

use crate::census;
use crate::error::Panicked;
use crate::event::{self, Event};
use crate::lease::{Lease, LeaseCount, Settle};
use crate::loom::Mutex;
use crate::resource::Kind;
use slab::Slab;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

mod origin;
pub use origin::Origin;

/// How many entries one [`Registry::for_each`] step leases under one lock acquisition.
const BATCH: usize = 32;

/// The identity of one registry entry. Generational: once the entry is removed, its key
/// matches nothing, even after the slot is reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    index: u32,
    generation: u64,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}v{})", self.index, self.generation)
    }
}

/// How a [`Registry::remove`] went.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a removed value must be released by the caller"]
pub enum Removal<T> {
    /// The entry is gone and here is its value: the caller releases it.
    Removed(T),
    /// The entry is gone from every lookup, but a lease holds it: the registry's deferred
    /// release runs when the last lease ends.
    Deferred,
    /// The key matched no live entry (already removed, or never this registry's).
    Stale,
}

impl<T> Removal<T> {
    /// True if the release was deferred to the end of a lease.
    pub fn is_deferred(&self) -> bool {
        matches!(self, Removal::Deferred)
    }
}

/// Live resources of one group in a [`Registry::census`]: same kind, type and site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Census {
    /// The shared origin.
    pub origin: Origin,
    /// How many live entries have it.
    pub count: usize,
}

struct Slot<T> {
    generation: u64,
    lease: LeaseCount,
    value: T,
    /// Interned: one pointer instead of 32 bytes per entry, and cheap to hand to a lease.
    origin: &'static Origin,
}

struct Table<T> {
    slots: Slab<Slot<T>>,
    next_generation: u64,
    live: usize,
}

/// A registry of live values (e.g. raw fd numbers) with their [`Origin`], keyed by
/// generational [`Key`]s and iterated under [`Lease`]s.
///
/// `T` is a small `Copy` handle to the real thing (an fd number, an id): the registry hands
/// copies to callbacks, and leases guarantee the thing it names is not released meanwhile.
///
/// # Examples
///
/// ```
/// use guard_core::registry::{Origin, Registry, Removal};
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
    table: Mutex<Table<T>>,
    deferred_release: Box<dyn Fn(T) + Send + Sync>,
}

impl<T: Copy + Send + 'static> Registry<T> {
    /// An empty registry. `deferred_release` releases a value whose removal met a lease;
    /// it runs on the thread that ends the last lease, outside the registry lock. If it
    /// panics, the panic is caught and reported as
    /// [`Event::ReleasePanicked`] (it may run in a
    /// `Lease`'s `Drop`, where no caller could receive it), and the other deferred
    /// releases still run.
    pub fn new(deferred_release: impl Fn(T) + Send + Sync + 'static) -> Self {
        Registry {
            table: Mutex::new(Table {
                slots: Slab::new(),
                next_generation: 0,
                live: 0,
            }),
            deferred_release: Box::new(deferred_release),
        }
    }

    /// Registers `value` and returns its key.
    ///
    /// # Panics
    ///
    /// Panics if more than `u32::MAX` entries are live at once.
    pub fn insert(&self, value: T, origin: Origin) -> Key {
        let origin = census::intern(origin);
        let mut table = self.table.lock();
        let generation = table.next_generation;
        table.next_generation = generation + 1;
        let index = table.slots.insert(Slot {
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
        let mut table = self.table.lock();
        let Some(slot) = table.live_slot_mut(key) else {
            return Removal::Stale;
        };
        let value = slot.value;
        let settle = slot.lease.close();
        table.live -= 1;
        match settle {
            Settle::Finish => {
                table.slots.remove(key.index as usize);
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
    /// # use guard_core::{Kind, registry::{Origin, Registry, Removal}};
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
        let mut table = self.table.lock();
        let Some(slot) = table.live_slot_mut(key) else {
            return Err(Removal::Stale);
        };
        if slot.lease.held() > 0 {
            return Err(Removal::Deferred);
        }
        slot.origin = origin;
        Ok(std::mem::replace(&mut slot.value, value))
    }

    /// A copy of the value and origin of the live entry `key`, if any.
    pub fn get(&self, key: Key) -> Option<(T, Origin)> {
        let mut table = self.table.lock();
        table.live_slot_mut(key).map(|s| (s.value, *s.origin))
    }

    /// Leases the live entry `key`: its value stays unreleased until the lease is dropped.
    /// `None` if the key is stale or the entry is being removed.
    pub fn lease(&self, key: Key) -> Option<Lease<'_, T>> {
        let mut table = self.table.lock();
        let slot = table.live_slot_mut(key)?;
        slot.lease
            .acquire()
            .then(|| Lease::new(self, key, slot.value, slot.origin))
    }

    /// Calls `f` on every live entry, each under a lease, never under the registry lock.
    ///
    /// Entries are leased a batch at a time (up to 32 per lock acquisition), so an entry
    /// removed while its batch is out is still handed to `f` unreleased, and released right
    /// after the batch. Entries inserted during the pass may or may not be visited. A panic
    /// in `f` ends the batch's leases (running any deferred release) and then propagates.
    pub fn for_each(&self, mut f: impl FnMut(&Lease<'_, T>)) {
        let mut cursor = 0usize;
        let mut batch: Vec<Lease<'_, T>> = Vec::with_capacity(BATCH);
        let mut keys: Vec<Key> = Vec::with_capacity(BATCH);
        loop {
            cursor = self.lease_batch(cursor, &mut batch);
            if batch.is_empty() {
                return;
            }
            for lease in &batch {
                f(lease);
            }
            // Take each lease's key and forget the lease *before* ending the leases, so
            // that no lease is ended twice, whatever happens while they end.
            keys.extend(batch.drain(..).map(|lease| {
                let key = lease.key();
                std::mem::forget(lease);
                key
            }));
            self.end_leases(keys.drain(..));
        }
    }

    /// A snapshot of every value not yet released: live entries', and removed entries' whose
    /// release waits for a lease (gone from every lookup, yet still held). It tells a caller
    /// about to take a thing by its value (an fd number) whether the registry holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use guard_core::{Kind, registry::{Origin, Registry}};
    /// let registry = Registry::new(|_: i32| {});
    /// let key = registry.insert(3, Origin::here::<i32>(Kind::Unique));
    /// let lease = registry.lease(key).unwrap();
    /// assert!(registry.remove(key).is_deferred()); // gone from every lookup ...
    /// assert_eq!(registry.unreleased_values(), [3]); // ... but not released yet
    /// drop(lease); // the deferred release runs
    /// assert!(registry.unreleased_values().is_empty());
    /// ```
    pub fn unreleased_values(&self) -> Vec<T> {
        let table = self.table.lock();
        table.slots.iter().map(|(_, slot)| slot.value).collect()
    }

    /// Number of live (not removed) entries.
    pub fn len(&self) -> usize {
        self.table.lock().live
    }

    /// True if no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live entries grouped by origin (kind, type, site), largest groups first.
    pub fn census(&self) -> Vec<Census> {
        let mut groups: BTreeMap<(Kind, &'static str, &'static str, u32, u32), Census> =
            BTreeMap::new();
        let table = self.table.lock();
        for (_, slot) in table.slots.iter().filter(|(_, s)| !s.lease.is_closing()) {
            let o = *slot.origin;
            let k = (
                o.kind(),
                o.type_name(),
                o.site().file(),
                o.site().line(),
                o.site().column(),
            );
            groups
                .entry(k)
                .or_insert(Census {
                    origin: o,
                    count: 0,
                })
                .count += 1;
        }
        drop(table);
        let mut groups: Vec<Census> = groups.into_values().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.count));
        groups
    }

    /// Leases up to `BATCH` live entries at or after `cursor` into `batch`; returns the
    /// cursor to continue from.
    fn lease_batch<'r>(&'r self, mut cursor: usize, batch: &mut Vec<Lease<'r, T>>) -> usize {
        let mut table = self.table.lock();
        let end = table.slots.capacity();
        while cursor < end && batch.len() < BATCH {
            if let Some(slot) = table.slots.get_mut(cursor)
                && slot.lease.acquire()
            {
                let key = Key {
                    index: cursor as u32,
                    generation: slot.generation,
                };
                batch.push(Lease::new(self, key, slot.value, slot.origin));
            }
            cursor += 1;
        }
        cursor
    }

    /// Ends one lease per key; completes the removals whose last lease this was and runs
    /// their deferred release after the lock is dropped.
    pub(crate) fn end_leases(&self, keys: impl Iterator<Item = Key>) {
        let mut finished: Vec<(T, &'static Origin)> = Vec::new();
        {
            let mut table = self.table.lock();
            for key in keys {
                let Some(slot) = table.slots.get_mut(key.index as usize) else {
                    continue;
                };
                debug_assert_eq!(slot.generation, key.generation, "lease outlived its slot");
                if slot.lease.end() == Settle::Finish {
                    finished.push((slot.value, slot.origin));
                    table.slots.remove(key.index as usize);
                }
            }
        }
        // No caller can receive a panic from here (this may run in a `Lease`'s `Drop`, even
        // while unwinding): a deferred release that panics is reported, and the others run.
        for (value, origin) in finished {
            let released = catch_unwind(AssertUnwindSafe(|| (self.deferred_release)(value)));
            if let Err(payload) = released {
                let panicked = Panicked::from_payload(&*payload);
                crate::scope::drop_payload(payload);
                event::emit(&Event::ReleasePanicked {
                    resource: origin.type_name(),
                    message: panicked.message(),
                });
            }
        }
    }
}

impl<T> Table<T> {
    fn live_slot_mut(&mut self, key: Key) -> Option<&mut Slot<T>> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation && !s.lease.is_closing())
    }
}

impl<T: Copy + Send + 'static> fmt::Debug for Registry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.len())
            .finish_non_exhaustive()
    }
}

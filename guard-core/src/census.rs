//! The census of live resources held in scopes and counted handles: how many are live, per
//! type and creation site. The report shows it; nothing iterates it, so it needs no leases
//! and no registry: one counter per (type, site), found through a per-thread cache.
//!
//! Entering a resource costs a lookup in the calling thread's cache and one relaxed atomic
//! add; leaving costs one atomic subtract through the pointer kept with the resource. The
//! counters are leaked on purpose: there is one per distinct (type, creation site) pair,
//! which the program's code bounds.

use crate::counted::queue::CachePadded;
use crate::loom::{StdAtomicU64, StdMutex, StdOrdering};
use crate::registry::{Census, Origin};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The live count of one origin: entries minus departures. The two counters sit on lines
/// of their own, because they are written by different threads (a counted resource enters
/// on its creator's thread and leaves on the finalizer's): one shared counter would bounce
/// between the two cores on every resource.
pub(crate) struct Tally {
    origin: Origin,
    entered: CachePadded<StdAtomicU64>,
    left: CachePadded<StdAtomicU64>,
}

impl Tally {
    /// One resource of this origin left (released, or taken back by its owner).
    pub(crate) fn leave(&self) {
        self.left.fetch_add(1, StdOrdering::Relaxed);
    }

    /// How many are live now (a snapshot: departures are read first, so it never
    /// underflows).
    fn live(&self) -> u64 {
        let left = self.left.load(StdOrdering::Relaxed);
        self.entered.load(StdOrdering::Relaxed).saturating_sub(left)
    }
}

/// An origin's identity: its type name and creation site, by address. The same type may
/// get two addresses for its name (one per codegen unit); the census merges by value.
type Key = (usize, usize, usize);

fn key(origin: &Origin) -> Key {
    let name = origin.type_name();
    (
        name.as_ptr() as usize,
        name.len(),
        std::ptr::from_ref(origin.site()) as usize,
    )
}

/// A hasher for [`Key`]s: they are addresses, already well spread; mixing them with one
/// multiply is enough and much cheaper than SipHash on the hot path.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_ne_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Map = HashMap<Key, &'static Tally, BuildHasherDefault<AddrHasher>>;

/// Every tally ever made (the report reads it; a cache miss looks here).
static ALL: StdMutex<Option<Map>> = StdMutex::new(None);

thread_local! {
    /// This thread's tallies by origin.
    static CACHE: RefCell<Map> = RefCell::new(Map::default());
    /// The tally this thread used last: a loop entering the same kind of resource at the
    /// same site skips the map.
    static LAST: Cell<Option<(Key, &'static Tally)>> = const { Cell::new(None) };
}

/// Finds (or makes) the tally of `origin` in the global map.
fn lookup(origin: Origin) -> &'static Tally {
    let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
    let map = all.get_or_insert_with(Map::default);
    let tally: &mut &'static Tally = map.entry(key(&origin)).or_insert_with(|| {
        Box::leak(Box::new(Tally {
            origin,
            entered: CachePadded::default(),
            left: CachePadded::default(),
        }))
    });
    tally
}

/// Counts one more live resource of `origin`; returns its tally, to [`Tally::leave`] later.
pub(crate) fn enter(origin: Origin) -> &'static Tally {
    let tally = tally_of(origin);
    tally.entered.fetch_add(1, StdOrdering::Relaxed);
    tally
}

/// The one `&'static` copy of `origin` (interned; nothing is counted). Registries keep
/// this pointer instead of the 32-byte origin.
pub(crate) fn intern(origin: Origin) -> &'static Origin {
    &tally_of(origin).origin
}

/// The tally of `origin`, through this thread's caches.
fn tally_of(origin: Origin) -> &'static Tally {
    let k = key(&origin);
    match LAST.try_with(Cell::get) {
        Ok(Some((last, tally))) if last == k => tally,
        _ => {
            let tally = CACHE
                .try_with(|cache| {
                    *cache
                        .borrow_mut()
                        .entry(k)
                        .or_insert_with(|| lookup(origin))
                })
                // The thread's locals are being destroyed: go to the global map directly.
                .unwrap_or_else(|_| lookup(origin));
            let _ = LAST.try_with(|last| last.set(Some((k, tally))));
            tally
        }
    }
}

/// Live resources grouped by origin, largest groups first.
pub(crate) fn census() -> Vec<Census> {
    let mut merged: Vec<Census> = Vec::new();
    {
        let all = ALL.lock().unwrap_or_else(|e| e.into_inner());
        for tally in all.iter().flat_map(|m| m.values()) {
            let count = tally.live() as usize;
            if count == 0 {
                continue;
            }
            match merged.iter_mut().find(|c| c.origin == tally.origin) {
                Some(c) => c.count += count,
                None => merged.push(Census {
                    origin: tally.origin,
                    count,
                }),
            }
        }
    }
    merged.sort_by_key(|c| std::cmp::Reverse(c.count));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Kind;

    #[test]
    fn counts_follow_enter_and_leave_per_origin() {
        struct Marker;
        let here = Origin::here::<Marker>(Kind::Unique);
        let count = || {
            census()
                .iter()
                .filter(|c| c.origin == here)
                .map(|c| c.count)
                .sum::<usize>()
        };
        let a = enter(here);
        let b = enter(here);
        assert!(std::ptr::eq(a, b), "one tally per origin");
        assert_eq!(count(), 2);
        a.leave();
        std::thread::spawn(move || b.leave()).join().unwrap();
        assert_eq!(count(), 0, "left on another thread");
    }
}

//! The index of every [`SiteCount`]: a global map under a lock, with a per-thread cache
//! in front of it (and the thread's last hit in front of that), so that entering a
//! resource finds its count without taking the lock. What the caches buy shows in the
//! `counted/new_and_last_drop` rows of `benches/counted.rs` (each `Counted::new` enters
//! one).
//!
//! The counts are leaked on purpose: there is one per distinct (type, creation site)
//! pair, which the program's code bounds.

use super::group::CensusGroup;
use super::origin::Origin;
use super::site_count::SiteCount;
use crate::loom::StdMutex;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

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

type Map = HashMap<Key, &'static SiteCount, BuildHasherDefault<AddrHasher>>;

/// Every count ever made (the report reads it; a cache miss looks here).
static ALL: StdMutex<Option<Map>> = StdMutex::new(None);

thread_local! {
    /// This thread's counts by origin.
    static CACHE: RefCell<Map> = RefCell::new(Map::default());
    /// The count this thread used last: a loop entering the same kind of resource at the
    /// same site skips the map.
    static LAST: Cell<Option<(Key, &'static SiteCount)>> = const { Cell::new(None) };
}

/// Locks the global map; the first call makes the lock held across every `fork` (see
/// `crate::fork`), so that a forked child never finds it held by a thread it lacks.
fn lock_all() -> std::sync::MutexGuard<'static, Option<Map>> {
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    AT_FORK.call_once(|| crate::fork::register(&ALL));
    ALL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Finds (or makes) the count of `origin` in the global map.
fn lookup(origin: Origin) -> &'static SiteCount {
    let mut all = lock_all();
    let map = all.get_or_insert_with(Map::default);
    let count: &mut &'static SiteCount = map
        .entry(key(&origin))
        .or_insert_with(|| Box::leak(Box::new(SiteCount::new(origin))));
    count
}

/// Counts one more live resource of `origin`; returns its count, to [`SiteCount::leave`] later.
pub(crate) fn enter(origin: Origin) -> &'static SiteCount {
    let count = count_of(origin);
    count.enter();
    count
}

/// The one `&'static` copy of `origin` (interned; nothing is counted). Registries keep
/// this pointer instead of the 32-byte origin.
pub(crate) fn intern(origin: Origin) -> &'static Origin {
    count_of(origin).origin()
}

/// The count of `origin`, through this thread's caches.
fn count_of(origin: Origin) -> &'static SiteCount {
    let k = key(&origin);
    match LAST.try_with(Cell::get) {
        Ok(Some((last, count))) if last == k => count,
        _ => {
            let count = CACHE
                .try_with(|cache| {
                    *cache
                        .borrow_mut()
                        .entry(k)
                        .or_insert_with(|| lookup(origin))
                })
                // The thread's locals are being destroyed: go to the global map directly.
                .unwrap_or_else(|_| lookup(origin));
            let _ = LAST.try_with(|last| last.set(Some((k, count))));
            count
        }
    }
}

/// Live resources grouped by origin, largest groups first.
pub(crate) fn census() -> Vec<CensusGroup> {
    let mut merged: Vec<CensusGroup> = Vec::new();
    {
        let all = lock_all();
        for site in all.iter().flat_map(|m| m.values()) {
            let live = site.live() as usize;
            if live == 0 {
                continue;
            }
            match merged.iter_mut().find(|g| g.origin == *site.origin()) {
                Some(g) => g.count += live,
                None => merged.push(CensusGroup {
                    origin: *site.origin(),
                    count: live,
                }),
            }
        }
    }
    merged.sort_by_key(|g| std::cmp::Reverse(g.count));
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
        assert!(std::ptr::eq(a, b), "one count per origin");
        assert_eq!(count(), 2);
        a.leave();
        std::thread::spawn(move || b.leave()).join().unwrap();
        assert_eq!(count(), 0, "left on another thread");
    }
}

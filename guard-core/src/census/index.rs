//! The index of every [`SiteCount`]: a global map under a lock, with a per-thread cache
//! in front of it (and the thread's last hit in front of that), so that entering a
//! resource finds its count without taking the lock. What the caches buy shows in the
//! `counted/new_and_last_drop` rows of `benches/counted.rs` (each `Counted::new` enters
//! one).
//!
//! The counts are leaked on purpose: there is one per distinct (type, creation site)
//! pair, which the program's code bounds.
//!
//! A census copies the list of counts under the lock (one `memcpy` of pointers) and reads
//! and groups them after releasing it, in one pass: a report over many sites never keeps a
//! thread that meets a new site waiting for more than that copy.

use super::group::CensusGroup;
use super::origin::Origin;
use super::site_count::SiteCount;
use super::thread_count::ThreadCount;
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

/// Every count ever made: by key for a cache miss, and as a list for the census to copy.
#[derive(Default)]
struct All {
    map: Map,
    list: Vec<&'static SiteCount>,
    /// Every [`ThreadCount`] ever made, for the census to copy.
    threads: Vec<&'static ThreadCount>,
    /// Thread counts given back by exited threads, by origin, for the next thread to take.
    free: HashMap<Key, Vec<&'static ThreadCount>, BuildHasherDefault<AddrHasher>>,
    /// Thread counts for threads whose own were given back (a thread-local destructor
    /// entering a resource during thread teardown), by origin: shared by such threads, one
    /// resource per count at a time (see [`enter_orphan`]).
    orphans: HashMap<Key, Vec<&'static ThreadCount>, BuildHasherDefault<AddrHasher>>,
}

/// The global index (a cache miss looks here; the census copies its list).
static ALL: StdMutex<Option<All>> = StdMutex::new(None);

thread_local! {
    /// This thread's counts by origin.
    static CACHE: RefCell<Map> = RefCell::new(Map::default());
    /// The count this thread used last: a loop entering the same kind of resource at the
    /// same site skips the map.
    static LAST: Cell<Option<(Key, &'static SiteCount)>> = const { Cell::new(None) };
    /// The thread counts this thread holds (given back when it exits).
    static HELD: RefCell<Held> = RefCell::new(Held::default());
    /// The thread count this thread used last.
    static LAST_HELD: Cell<Option<(Key, &'static ThreadCount)>> = const { Cell::new(None) };
}

/// The thread counts a thread holds, by origin; given back to the index when it exits.
#[derive(Default)]
struct Held(HashMap<Key, &'static ThreadCount, BuildHasherDefault<AddrHasher>>);

impl Drop for Held {
    fn drop(&mut self) {
        // No later call on this thread may reach a count another thread will take.
        let _ = LAST_HELD.try_with(|last| last.set(None));
        let mut all = lock_all();
        let all = all.get_or_insert_with(All::default);
        for (key, count) in self.0.drain() {
            all.free.entry(key).or_default().push(count);
        }
    }
}

/// Locks the global map; the first call makes the lock held across every `fork` (see
/// `crate::fork`), so that a forked child never finds it held by a thread it lacks.
fn lock_all() -> std::sync::MutexGuard<'static, Option<All>> {
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    AT_FORK.call_once(|| crate::fork::register(&ALL));
    ALL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Finds (or makes) the count of `origin` in the global map.
fn lookup(origin: Origin) -> &'static SiteCount {
    let mut all = lock_all();
    let All { map, list, .. } = all.get_or_insert_with(All::default);
    let count: &mut &'static SiteCount = map.entry(key(&origin)).or_insert_with(|| {
        let count: &'static SiteCount = Box::leak(Box::new(SiteCount::new(origin)));
        list.push(count);
        count
    });
    count
}

/// Counts one more live resource of `origin`; returns its count, to [`SiteCount::leave`] later.
pub(crate) fn enter(origin: Origin) -> &'static SiteCount {
    let count = count_of(origin);
    count.enter();
    count
}

/// Counts one more live resource of `origin` on this thread, for a resource that leaves
/// on this thread too (a scope's); returns its count, to [`ThreadCount::leave`] there.
/// While the thread's locals are being destroyed, the count is an orphan (see
/// [`enter_orphan`]).
#[inline]
pub(crate) fn enter_on_thread(origin: Origin) -> &'static ThreadCount {
    let k = key(&origin);
    if let Ok(Some((last, count))) = LAST_HELD.try_with(Cell::get)
        && last == k
    {
        count.enter();
        return count;
    }
    enter_slow(origin, k)
}

#[cold]
fn enter_slow(origin: Origin, k: Key) -> &'static ThreadCount {
    let held = HELD.try_with(|held| {
        *held
            .borrow_mut()
            .0
            .entry(k)
            .or_insert_with(|| take_thread_count(origin, k))
    });
    match held {
        Ok(count) => {
            let _ = LAST_HELD.try_with(|last| last.set(Some((k, count))));
            count.enter();
            count
        }
        // The thread is exiting and its counts were given back.
        Err(_) => enter_orphan(origin, k),
    }
}

/// Counts one resource of `origin` for a thread that holds no counts any more (its
/// thread-local destructors are running, after the one that gave its counts back): in an
/// orphan count found at zero, or a new one, entered under the index's lock. An orphan at
/// zero is used by nobody (whoever left it last wrote that zero, and an orphan is never
/// cached, so a thread enters one only here), and once entered nobody else takes it until
/// its one resource leaves. So orphans stay as many as such resources live at once,
/// however many threads end this way.
fn enter_orphan(origin: Origin, k: Key) -> &'static ThreadCount {
    let site = count_of(origin);
    let mut all = lock_all();
    let All {
        threads, orphans, ..
    } = all.get_or_insert_with(All::default);
    let orphans = orphans.entry(k).or_default();
    let count = match orphans.iter().find(|count| count.live() == 0) {
        Some(count) => count,
        None => {
            let count: &'static ThreadCount = Box::leak(Box::new(ThreadCount::new(site)));
            threads.push(count);
            orphans.push(count);
            count
        }
    };
    count.enter();
    count
}

/// A thread count of `origin` no thread holds: one given back, else a new one.
fn take_thread_count(origin: Origin, k: Key) -> &'static ThreadCount {
    let site = count_of(origin);
    let mut all = lock_all();
    let all = all.get_or_insert_with(All::default);
    if let Some(count) = all.free.get_mut(&k).and_then(Vec::pop) {
        return count;
    }
    let count: &'static ThreadCount = Box::leak(Box::new(ThreadCount::new(site)));
    all.threads.push(count);
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

/// Live resources grouped by origin, largest groups first. Linear in the number of
/// counts; the lock is held only to copy their list.
pub(crate) fn census() -> Vec<CensusGroup> {
    let (sites, threads): (Vec<&'static SiteCount>, Vec<&'static ThreadCount>) = {
        let all = lock_all();
        all.as_ref()
            .map(|a| (a.list.clone(), a.threads.clone()))
            .unwrap_or_default()
    };
    #[cfg(test)]
    tests::pause_after_copy();
    let sites = sites
        .iter()
        .map(|site| (*site.origin(), site.live() as usize, 0));
    let threads = threads
        .iter()
        .map(|count| (*count.site().origin(), count.live(), 0));
    group(sites.chain(threads))
}

/// Groups `(origin, live, pinned)` triples by origin value (one type may have several
/// interned copies), dropping empty ones; largest groups first. One hash per triple.
pub(crate) fn group(entries: impl Iterator<Item = (Origin, usize, usize)>) -> Vec<CensusGroup> {
    let mut index: HashMap<Origin, usize> = HashMap::new();
    let mut groups: Vec<CensusGroup> = Vec::new();
    for (origin, count, pinned) in entries {
        if count == 0 && pinned == 0 {
            continue;
        }
        let at = *index.entry(origin).or_insert_with(|| {
            groups.push(CensusGroup {
                origin,
                count: 0,
                pinned: 0,
            });
            groups.len() - 1
        });
        groups[at].count += count;
        groups[at].pinned += pinned;
    }
    // Largest first; ties in a fixed order (type, then site), whatever the hashing did.
    groups.sort_by(|a, b| {
        let (x, y) = (&a.origin, &b.origin);
        (b.count + b.pinned)
            .cmp(&(a.count + a.pinned))
            .then_with(|| x.type_name().cmp(y.type_name()))
            .then_with(|| x.site().file().cmp(y.site().file()))
            .then_with(|| {
                (x.site().line(), x.site().column()).cmp(&(y.site().line(), y.site().column()))
            })
            .then_with(|| x.kind().cmp(&y.kind()))
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Kind;
    use std::sync::mpsc;
    use std::time::Duration;

    type Pause = Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>;

    thread_local! {
        /// A census on this thread announces that it copied the list, then waits.
        static PAUSE: RefCell<Pause> = const { RefCell::new(None) };
    }

    pub(super) fn pause_after_copy() {
        PAUSE.with(|p| {
            if let Some((copied, resume)) = p.borrow_mut().take() {
                copied.send(()).unwrap();
                resume.recv().unwrap();
            }
        });
    }

    /// Resources entered and left by a thread-local destructor that runs after the thread
    /// gave its counts back reuse the same orphan counts, whatever the number of such
    /// resources and threads (before, each took a count of its own, never given back: the
    /// index and every census grew with them), and the census still ends at zero.
    #[test]
    // Under Miri each evaluation of a `Location` or type-name constant may get its own
    // address, so the orphan counts (found by their origin) are not shared there: 328 counts
    // for one origin. Natively the constants are one allocation and the test checks the fix.
    #[cfg_attr(miri, ignore = "Miri gives each constant evaluation its own address")]
    fn resources_of_a_thread_local_destructor_reuse_their_counts() {
        use std::sync::atomic::{AtomicBool, Ordering};
        static HELD_WAS_GONE: AtomicBool = AtomicBool::new(false);
        fn here() -> Origin {
            struct Teardown;
            Origin::here::<Teardown>(Kind::Unique)
        }
        struct Late;
        impl Drop for Late {
            fn drop(&mut self) {
                HELD_WAS_GONE.fetch_or(HELD.try_with(|_| ()).is_err(), Ordering::Relaxed);
                for _ in 0..20 {
                    let a = enter_on_thread(here());
                    let b = enter_on_thread(here());
                    b.leave();
                    a.leave();
                }
            }
        }
        thread_local! {
            // Its destructor is registered first, so it runs after `HELD`'s.
            static LATE: Late = const { Late };
        }
        for _ in 0..8 {
            std::thread::spawn(|| {
                LATE.with(|_| {});
                enter_on_thread(here()).leave();
            })
            .join()
            .unwrap();
        }
        assert!(
            HELD_WAS_GONE.load(Ordering::Relaxed),
            "the destructor ran after the thread's counts were given back"
        );
        let counts = lock_all()
            .as_ref()
            .map(|all| {
                all.threads
                    .iter()
                    .filter(|count| *count.site().origin() == here())
                    .count()
            })
            .unwrap_or_default();
        assert!(counts <= 3, "{counts} thread counts for one origin");
        let live: usize = census()
            .iter()
            .filter(|g| g.origin == here())
            .map(|g| g.count)
            .sum();
        assert_eq!(live, 0);
    }

    /// Creation at a new site while a census is between its copy and its answer: it does
    /// not wait for the census (before, the census grouped under the lock that a new site
    /// takes).
    #[test]
    fn a_new_site_does_not_wait_for_a_census() {
        let (copied_tx, copied) = mpsc::channel();
        let (resume, resume_rx) = mpsc::channel();
        let reporter = std::thread::spawn(move || {
            PAUSE.with(|p| *p.borrow_mut() = Some((copied_tx, resume_rx)));
            census().len()
        });
        copied.recv().unwrap();
        let entered = guard_testkit::try_watchdog("new site", Duration::from_secs(10), || {
            struct NewSite;
            enter(Origin::here::<NewSite>(Kind::Unique)).leave();
        });
        resume.send(()).unwrap();
        reporter.join().unwrap();
        assert!(entered.is_ok(), "entering a new site waited for the census");
    }

    /// A scope's resources are counted per thread: the census sums the threads' counts,
    /// and a thread's count goes back to the index when the thread exits, for the next
    /// thread to reuse.
    #[test]
    fn thread_counts_are_summed_and_reused_after_their_thread_exits() {
        struct PerThread;
        let here = Origin::here::<PerThread>(Kind::Unique);
        let count = || {
            census()
                .iter()
                .filter(|c| c.origin == here)
                .map(|c| c.count)
                .sum::<usize>()
        };
        let mine = enter_on_thread(here);
        assert!(
            std::ptr::eq(mine, enter_on_thread(here)),
            "one count per thread"
        );
        let (entered, wait) = (mpsc::channel(), mpsc::channel::<()>());
        let (entered_tx, entered) = entered;
        let (leave, wait) = wait;
        let other = std::thread::spawn(move || {
            let count = enter_on_thread(here);
            entered_tx.send(std::ptr::from_ref(count) as usize).unwrap();
            wait.recv().unwrap();
            count.leave();
        });
        let theirs = entered.recv().unwrap();
        assert_ne!(
            theirs,
            std::ptr::from_ref(mine) as usize,
            "a count per thread"
        );
        assert_eq!(count(), 3, "summed over threads");
        leave.send(()).unwrap();
        other.join().unwrap();
        assert_eq!(count(), 2);
        let next = std::thread::spawn(move || {
            let count = enter_on_thread(here);
            count.leave();
            std::ptr::from_ref(count) as usize
        })
        .join()
        .unwrap();
        assert_eq!(next, theirs, "the exited thread's count is reused");
        mine.leave();
        mine.leave();
        assert_eq!(count(), 0);
    }

    #[test]
    fn groups_merge_equal_origins_in_one_pass() {
        struct A;
        let here = Origin::here::<A>(Kind::Counted);
        let there = Origin::here::<A>(Kind::Counted);
        let groups = group([(here, 1, 0), (there, 5, 0), (here, 2, 1), (there, 0, 0)].into_iter());
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].origin, groups[0].count), (there, 5));
        assert_eq!((groups[1].count, groups[1].pinned), (3, 1));
    }

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

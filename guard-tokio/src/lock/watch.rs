//! The detector's clock: one thread, started at the first contended wait, that wakes the
//! waiters of a lock each time its patience runs out while they still wait. A waiter checks
//! its own time when polled (the report), and this tick makes sure it is polled: a waiter
//! nobody woke (the wake went to a future that is not polled) re-checks, and takes a lock
//! left free. Executor-agnostic: it needs no tokio timer. The thread exits when no lock is
//! watched, and the next contended wait starts another.
//!
//! The watch list is a heap by due time: a new entry costs O(log n) and wakes the thread
//! only if it falls due before every other; the thread looks only at the entries due. It
//! stays bounded: each time it has doubled since the last sweep, entries of locks that are
//! gone or that nobody waits on any more are dropped (the lock stops being watched, as a
//! tick that finds nobody waiting does), so it holds at most about twice the locks waited
//! on, and never fewer than [`SWEEP_FLOOR`] before a sweep.

use super::loom::Arc;
#[cfg(not(guard_loom))]
use super::loom::{Condvar, StdMutex, Weak, lock};
#[cfg(not(guard_loom))]
use std::cmp::Ordering;
#[cfg(not(guard_loom))]
use std::collections::BinaryHeap;
#[cfg(not(guard_loom))]
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The watch list's size below which it is never swept.
#[cfg(not(guard_loom))]
const SWEEP_FLOOR: usize = 64;

/// What the detector's thread calls on a watched lock when its patience has run out.
pub(crate) trait Tick: Send + Sync {
    /// Wakes the lock's waiters; returns the patience to re-arm with, or `None` to stop.
    #[cfg_attr(guard_loom, allow(dead_code))]
    fn tick(&self) -> Option<Duration>;

    /// Whether nobody waits on the lock; if so it is no longer watched (the next waiter
    /// puts it back on the list), as after a [`tick`](Tick::tick) that returns `None`.
    #[cfg_attr(guard_loom, allow(dead_code))]
    fn unwatch_if_idle(&self) -> bool;
}

#[cfg(not(guard_loom))]
struct Watch {
    due: StdMutex<Due>,
    changed: Condvar,
}

/// A watched lock and when it falls due; ordered so that the heap's top is the earliest.
#[cfg(not(guard_loom))]
struct Entry {
    at: Instant,
    lock: Weak<dyn Tick>,
}

#[cfg(not(guard_loom))]
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

#[cfg(not(guard_loom))]
impl Eq for Entry {}

#[cfg(not(guard_loom))]
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(not(guard_loom))]
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at) // the earliest is the greatest: the max-heap's top
    }
}

/// The watch list, and whether a thread serves it.
#[cfg(not(guard_loom))]
struct Due {
    list: BinaryHeap<Entry>,
    /// The list's length at which the next sweep runs.
    sweep_at: usize,
    running: bool,
}

#[cfg(not(guard_loom))]
impl Due {
    fn new() -> Self {
        Due {
            list: BinaryHeap::new(),
            sweep_at: SWEEP_FLOOR,
            running: false,
        }
    }

    /// Adds an entry; whether it is now the first due (the thread must wait less).
    fn push(&mut self, at: Instant, lock: Weak<dyn Tick>) -> bool {
        if self.list.len() >= self.sweep_at {
            self.list
                .retain(|e| e.lock.upgrade().is_some_and(|l| !l.unwatch_if_idle()));
            self.sweep_at = (self.list.len() * 2).max(SWEEP_FLOOR);
        }
        let first = self.list.peek().is_none_or(|top| at < top.at);
        self.list.push(Entry { at, lock });
        first
    }

    /// Takes the entries due at `now`.
    fn take_due(&mut self, now: Instant) -> Vec<Entry> {
        let mut ready = Vec::new();
        while self.list.peek().is_some_and(|top| top.at <= now) {
            ready.extend(self.list.pop());
        }
        ready
    }
}

/// Under loom, no thread: the models drive every wake themselves.
#[cfg(guard_loom)]
pub(crate) fn watch(_: &Arc<impl Tick + 'static>, _: Instant) {}

/// Puts a lock on the watch list, due at `at`, starting the thread if none runs. The thread
/// exits once the list is empty (nothing waits on any lock), so a process whose locks are
/// quiet is back to the threads it had (`guard_os::listen_fds` counts them).
#[cfg(not(guard_loom))]
pub(crate) fn watch(lock_: &Arc<impl Tick + 'static>, at: Instant) {
    static WATCH: OnceLock<Watch> = OnceLock::new();
    let w = WATCH.get_or_init(|| Watch {
        due: StdMutex::new(Due::new()),
        changed: Condvar::new(),
    });
    let weak: Weak<dyn Tick> = Arc::downgrade(lock_) as Weak<dyn Tick>;
    let mut due = lock(&w.due);
    let first = due.push(at, weak);
    if !due.running {
        // Without the thread, waiters still report when polled; only the tick is lost.
        due.running = std::thread::Builder::new()
            .name("guard-lock-watch".into())
            .spawn(move || run(w))
            .is_ok();
    }
    drop(due);
    if first {
        w.changed.notify_one();
    }
}

#[cfg(not(guard_loom))]
fn run(w: &'static Watch) {
    let mut due = lock(&w.due);
    loop {
        let now = Instant::now();
        let ready = due.take_due(now);
        if !ready.is_empty() {
            drop(due);
            let rearm: Vec<_> = ready
                .into_iter()
                .filter_map(|e| {
                    let patience = e.lock.upgrade()?.tick()?;
                    Some((Instant::now().checked_add(patience)?, e.lock))
                })
                .collect();
            due = lock(&w.due);
            for (at, lock) in rearm {
                due.push(at, lock);
            }
            continue;
        }
        due = match due.list.peek().map(|top| top.at) {
            Some(at) => {
                w.changed
                    .wait_timeout(due, at.saturating_duration_since(now))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => {
                due.running = false;
                return;
            }
        };
    }
}

#[cfg(all(test, not(guard_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};

    /// A lock stand-in: idle or not, counting its ticks.
    #[derive(Default)]
    struct Fake {
        busy: AtomicBool,
        ticks: AtomicUsize,
    }

    impl Tick for Fake {
        fn tick(&self) -> Option<Duration> {
            self.ticks.fetch_add(1, AtomicOrdering::Relaxed);
            None
        }
        fn unwatch_if_idle(&self) -> bool {
            !self.busy.load(AtomicOrdering::Relaxed)
        }
    }

    fn weak(lock: &Arc<Fake>) -> Weak<dyn Tick> {
        Arc::downgrade(lock) as Weak<dyn Tick>
    }

    #[test]
    fn the_list_stays_bounded_by_the_locks_still_waited_on() {
        let mut due = Due::new();
        let later = Instant::now() + Duration::from_secs(3600);
        let busy: Vec<Arc<Fake>> = (0..10).map(|_| Arc::new(Fake::default())).collect();
        for b in &busy {
            b.busy.store(true, AtomicOrdering::Relaxed);
            due.push(later, weak(b));
        }
        // Many short-lived contended locks, gone or idle long before they fall due.
        let idle = Arc::new(Fake::default());
        for i in 0..100_000 {
            if i % 2 == 0 {
                due.push(later, weak(&Arc::new(Fake::default()))); // dropped at once
            } else {
                due.push(later, weak(&idle));
            }
            assert!(
                due.list.len() <= 2 * SWEEP_FLOOR,
                "{} entries",
                due.list.len()
            );
        }
        // The busy locks' entries were kept through every sweep.
        let kept = due
            .list
            .iter()
            .filter(|e| {
                busy.iter()
                    .any(|b| std::ptr::addr_eq(e.lock.as_ptr(), Arc::as_ptr(b)))
            })
            .count();
        assert_eq!(kept, busy.len());
    }

    #[test]
    fn only_the_entries_due_are_taken_earliest_first_and_a_later_one_needs_no_wake() {
        let mut due = Due::new();
        let now = Instant::now();
        let lock = Arc::new(Fake::default());
        assert!(
            due.push(now + Duration::from_secs(2), weak(&lock)),
            "the first"
        );
        assert!(
            !due.push(now + Duration::from_secs(3), weak(&lock)),
            "later: no wake"
        );
        assert!(
            due.push(now + Duration::from_secs(1), weak(&lock)),
            "earlier: a wake"
        );
        assert!(due.take_due(now).is_empty());
        let ready = due.take_due(now + Duration::from_secs(2));
        let at: Vec<_> = ready.iter().map(|e| e.at - now).collect();
        assert_eq!(at, [Duration::from_secs(1), Duration::from_secs(2)]);
        assert_eq!(due.list.len(), 1);
    }
}

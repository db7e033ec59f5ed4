//! The detector's clock: one thread, started at the first contended wait, that wakes the
//! waiters of a lock each time its patience runs out while they still wait. A waiter checks
//! its own time when polled (the report), and this tick makes sure it is polled: a waiter
//! nobody woke (the wake went to a future that is not polled) re-checks, and takes a lock
//! left free. Executor-agnostic: it needs no tokio timer. The thread exits when no lock is
//! watched, and the next contended wait starts another.

use super::loom::Arc;
#[cfg(not(guard_loom))]
use super::loom::{Condvar, StdMutex, Weak, lock};
#[cfg(not(guard_loom))]
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What the detector's thread calls on a watched lock when its patience has run out.
pub(crate) trait Tick: Send + Sync {
    /// Wakes the lock's waiters; returns the patience to re-arm with, or `None` to stop.
    #[cfg_attr(guard_loom, allow(dead_code))]
    fn tick(&self) -> Option<Duration>;
}

#[cfg(not(guard_loom))]
struct Watch {
    due: StdMutex<Due>,
    changed: Condvar,
}

/// The watch list, and whether a thread serves it.
#[cfg(not(guard_loom))]
struct Due {
    list: Vec<(Instant, Weak<dyn Tick>)>,
    running: bool,
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
        due: StdMutex::new(Due {
            list: Vec::new(),
            running: false,
        }),
        changed: Condvar::new(),
    });
    let weak: Weak<dyn Tick> = Arc::downgrade(lock_) as Weak<dyn Tick>;
    let mut due = lock(&w.due);
    due.list.push((at, weak));
    if !due.running {
        // Without the thread, waiters still report when polled; only the tick is lost.
        due.running = std::thread::Builder::new()
            .name("guard-lock-watch".into())
            .spawn(move || run(w))
            .is_ok();
    }
    drop(due);
    w.changed.notify_one();
}

#[cfg(not(guard_loom))]
fn run(w: &'static Watch) {
    let mut due = lock(&w.due);
    loop {
        let now = Instant::now();
        let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut due.list)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        due.list = later;
        if !ready.is_empty() {
            drop(due);
            let rearm: Vec<_> = ready
                .into_iter()
                .filter_map(|(_, weak)| {
                    let watched = weak.upgrade()?;
                    let patience = watched.tick()?;
                    Some((Instant::now().checked_add(patience)?, weak))
                })
                .collect();
            due = lock(&w.due);
            due.list.extend(rearm);
            continue;
        }
        due = match due.list.iter().map(|(at, _)| *at).min() {
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

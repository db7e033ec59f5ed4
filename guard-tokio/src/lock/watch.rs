//! The detector's clock: one thread, started at the first contended wait, that wakes the
//! waiters of a lock each time its patience runs out while they still wait. A waiter checks
//! its own time when polled (the report), and this tick makes sure it is polled: a waiter
//! nobody woke (the wake went to a future that is not polled) re-checks, and takes a lock
//! left free. Executor-agnostic: it needs no tokio timer.

use super::loom::{AtomicU64, Condvar, Ordering, StdMutex, Weak, lock};
use super::raw::Shared;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The process default for [`Mutex::set_patience`](super::Mutex::set_patience).
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(1);

static PATIENCE: AtomicU64 = AtomicU64::new(0);

/// How long a task may wait for a [`Mutex`](super::Mutex) before it reports through
/// guard's event hook ([`Event::LockWait`](guard_core::event::Event::LockWait)), for
/// locks without a patience of their own.
///
/// # Examples
///
/// ```
/// assert_eq!(guard_tokio::lock::default_patience(), guard_tokio::lock::DEFAULT_PATIENCE);
/// ```
pub fn default_patience() -> Duration {
    match PATIENCE.load(Ordering::Relaxed) {
        0 => DEFAULT_PATIENCE,
        n => Duration::from_nanos(n),
    }
}

/// Sets [`default_patience`] for the process (a zero duration restores
/// [`DEFAULT_PATIENCE`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// guard_tokio::lock::set_default_patience(Duration::from_secs(5));
/// assert_eq!(guard_tokio::lock::default_patience(), Duration::from_secs(5));
/// # guard_tokio::lock::set_default_patience(Duration::ZERO);
/// ```
pub fn set_default_patience(patience: Duration) {
    let nanos = u64::try_from(patience.as_nanos()).unwrap_or(u64::MAX);
    PATIENCE.store(nanos, Ordering::Relaxed);
}

struct Watch {
    due: StdMutex<Vec<(Instant, Weak<Shared>)>>,
    changed: Condvar,
}

/// Puts `shared`'s lock on the watch list, due at `at`.
pub(crate) fn watch(shared: &super::loom::Arc<Shared>, at: Instant) {
    static WATCH: OnceLock<&'static Watch> = OnceLock::new();
    let w = *WATCH.get_or_init(|| {
        let w: &'static Watch = Box::leak(Box::new(Watch {
            due: StdMutex::new(Vec::new()),
            changed: Condvar::new(),
        }));
        // Without the thread, waiters still report when polled; only the tick is lost.
        let _ = std::thread::Builder::new()
            .name("guard-lock-watch".into())
            .spawn(move || run(w));
        w
    });
    lock(&w.due).push((at, super::loom::Arc::downgrade(shared)));
    w.changed.notify_one();
}

fn run(w: &'static Watch) {
    let mut due = lock(&w.due);
    loop {
        let now = Instant::now();
        let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *due)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        *due = later;
        if !ready.is_empty() {
            drop(due);
            let rearm: Vec<_> = ready
                .into_iter()
                .filter_map(|(_, weak)| {
                    let shared = weak.upgrade()?;
                    let patience = shared.tick()?;
                    Some((Instant::now() + patience, weak))
                })
                .collect();
            due = lock(&w.due);
            due.extend(rearm);
            continue;
        }
        due = match due.iter().map(|(at, _)| *at).min() {
            Some(at) => {
                w.changed
                    .wait_timeout(due, at.saturating_duration_since(now))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => w.changed.wait(due).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

//! What a lock shares with the detector's thread and its errors: its identity and queue,
//! its patience and the detector's ticks on it, and the clock of its outstanding wake.

use super::holder::Holder;
use super::loom::{Ordering, StdAtomicU64, StdMutex, lock};
use super::patience;
use super::queue::{GRACE, Queue, Wakes};
use super::watch::Tick;
use guard_core::event::{self, Event};
use std::panic::Location;
use std::time::{Duration, Instant};

/// What the detector and the errors need to know about a lock, shared with the detector's
/// thread (which holds it weakly).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) queue: StdMutex<Queue>,
    pub(crate) type_name: &'static str,
    pub(crate) site: &'static Location<'static>,
    /// Nanoseconds; 0 means the process default.
    patience: StdAtomicU64,
    /// How long a reserved release, or an outstanding wake, waits for its waiter to be
    /// polled, in nanoseconds ([`GRACE`] unless set).
    grace: StdAtomicU64,
    /// The detector's ticks on this lock: a waiter reads the clock only when it changed.
    ticks: StdAtomicU64,
    /// When an unlock first saw the outstanding wake still outstanding, in nanoseconds
    /// since `epoch` plus one; 0 until then (a wake resets it).
    woken_seen: StdAtomicU64,
    epoch: Instant,
}

impl Shared {
    pub(crate) fn new(type_name: &'static str, site: &'static Location<'static>) -> Self {
        Shared {
            queue: StdMutex::new(Queue::default()),
            type_name,
            site,
            patience: StdAtomicU64::new(0),
            grace: StdAtomicU64::new(u64::try_from(GRACE.as_nanos()).unwrap_or(u64::MAX)),
            ticks: StdAtomicU64::new(0),
            woken_seen: StdAtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    pub(crate) fn patience(&self) -> Duration {
        match self.patience.load(Ordering::Relaxed) {
            0 => patience::default_patience(),
            n => Duration::from_nanos(n),
        }
    }

    pub(crate) fn set_patience(&self, patience: Duration) {
        let nanos = u64::try_from(patience.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        self.patience.store(nanos, Ordering::Relaxed);
    }

    /// How long a reserved release or an outstanding wake waits for its waiter.
    pub(crate) fn grace(&self) -> Duration {
        Duration::from_nanos(self.grace.load(Ordering::Relaxed))
    }

    pub(crate) fn set_grace(&self, grace: Duration) {
        let nanos = u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX);
        self.grace.store(nanos, Ordering::Relaxed);
    }

    /// The detector's ticks on this lock so far.
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// The detector's check, made by a waiter that `waited` when a tick says the patience
    /// may have passed: the first waiter past it reports, once per episode (until a waiter
    /// gets the lock or the last one leaves).
    pub(crate) fn check_overdue(&self, waited: Duration, holder: impl FnOnce() -> Holder) {
        if waited < self.patience() {
            return;
        }
        let waiters = {
            let mut q = lock(&self.queue);
            if q.reported {
                return;
            }
            q.reported = true;
            q.len()
        };
        let holder = holder();
        event::emit(&Event::LockWait {
            lock: self.type_name,
            site: self.site,
            holder_site: holder.site,
            holder_task: holder.task,
            waited,
            waiters,
        });
    }

    /// A new wake went out: its age is unknown until an unlock checks it.
    pub(crate) fn restart_stale_clock(&self) {
        self.woken_seen.store(0, Ordering::Relaxed);
    }

    /// Whether the outstanding wake is older than the grace. It is timed from the first
    /// check that saw it, so a wake costs no clock read unless it stays outstanding.
    #[cold]
    pub(crate) fn wake_is_stale(&self) -> bool {
        let now = u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        match self
            .woken_seen
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => false,
            Err(seen) => Duration::from_nanos(now.saturating_sub(seen)) >= self.grace(),
        }
    }
}

impl Tick for Shared {
    /// Wakes every waiter so each re-checks (one reports, and a waiter nobody woke takes a
    /// lock left free). Returns the patience to re-arm with, or `None` once nobody waits.
    fn tick(&self) -> Option<Duration> {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        let mut wakes = Wakes::default();
        {
            let mut q = lock(&self.queue);
            if q.is_empty() {
                q.watched = false;
                return None;
            }
            q.wake_all(&mut wakes);
        }
        wakes.run();
        Some(self.patience())
    }

    fn unwatch_if_idle(&self) -> bool {
        let mut q = lock(&self.queue);
        if q.is_empty() {
            q.watched = false;
        }
        !q.watched
    }
}

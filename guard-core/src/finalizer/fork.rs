//! The finalizer across `fork()` (see `crate::fork`): its locks are held over the fork, and
//! in the child it forgets the parent's threads, queue and counters, and starts its own
//! worker and watchdog on first use.
//!
//! What the child forgets stays the parent's: releases queued or running in the parent at
//! the fork run there, not in the child (the child's copies of those values are never
//! released, as for any value another thread of the parent held).

use super::global::Finalizer;
use super::push_count;
use crate::fork::{self, AtFork, Held};
use crate::loom::{MutexGuard, StdOrdering};
use std::sync::{MutexGuard as StdMutexGuard, Once};

struct FinalizerAtFork;

static AT_FORK: FinalizerAtFork = FinalizerAtFork;

/// Registers the finalizer's fork handling, once (before its first start).
pub(crate) fn register_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| fork::register(&AT_FORK));
}

/// The finalizer's locks, held over a fork.
struct FinalizerHeld {
    f: &'static Finalizer,
    /// No thread is starting the finalizer.
    started: StdMutexGuard<'static, bool>,
    /// No producer or consumer is between its check and its wait or notify.
    wake: MutexGuard<'static, ()>,
    /// No thread is registering or retiring its push counter.
    counts: push_count::ForkHeld,
}

impl AtFork for FinalizerAtFork {
    fn prepare(&'static self) -> Box<dyn Held> {
        let f = Finalizer::global();
        let started = f.start_lock.lock().unwrap_or_else(|e| e.into_inner());
        let wake = f.queue.lock_for_fork();
        let counts = push_count::lock_for_fork();
        Box::new(FinalizerHeld {
            f,
            started,
            wake,
            counts,
        })
    }
}

impl Held for FinalizerHeld {
    fn child(self: Box<Self>) {
        let FinalizerHeld {
            f,
            mut started,
            wake,
            mut counts,
        } = *self;
        // The parent's worker, watchdog and replacements do not exist here: start afresh
        // on the next `Counted::new`, push or flush (spawning here would cost every child
        // that execs at once).
        *started = false;
        f.started.store(false, StdOrdering::Release);
        f.end_outage();
        f.queue.forget_after_fork();
        f.shift.forget_after_fork();
        f.counters.zero_after_fork();
        f.bound.forget_after_fork();
        counts.zero();
        f.intake.restart.store(true, StdOrdering::Relaxed);
        drop(wake);
        drop(counts);
        drop(started);
    }
}

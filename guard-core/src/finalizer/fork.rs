//! The finalizer across `fork()` (see `crate::fork`): its locks are held over the fork, and
//! in the child it forgets the parent's threads, lanes and counters, and starts its own
//! worker and watchdog on first use.
//!
//! What the child forgets stays the parent's: releases queued or running in the parent at
//! the fork run there, not in the child (the child's copies of those values are never
//! released, as for any value another thread of the parent held). The forking thread keeps
//! its lane, emptied, for the child's pushes.

use super::global::Finalizer;
use super::push_count;
use super::queue::QueueHeld;
use crate::fork::{self, AtFork, Held};
use crate::loom::StdOrdering;
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
    /// No consumer is in a pass or between its check and its wait, no producer between
    /// its check and its notify, no thread is registering a lane.
    queue: QueueHeld<'static>,
}

impl AtFork for FinalizerAtFork {
    fn prepare(&'static self) -> Box<dyn Held> {
        let f = Finalizer::global();
        let started = f.start_lock.lock().unwrap_or_else(|e| e.into_inner());
        let queue = f.queue.lock_for_fork();
        Box::new(FinalizerHeld { f, started, queue })
    }
}

impl Held for FinalizerHeld {
    fn child(self: Box<Self>) {
        let FinalizerHeld {
            f,
            mut started,
            queue,
        } = *self;
        // The parent's worker, watchdog and replacements do not exist here: start afresh
        // on the next `Counted::new`, push or flush (spawning here would cost every child
        // that execs at once).
        *started = false;
        f.started.store(false, StdOrdering::Release);
        f.end_outage();
        queue.forget_parent(push_count::own_lane());
        f.shift.forget_after_fork();
        f.counters.zero_after_fork();
        f.bound.forget_after_fork();
        push_count::zero_after_fork();
        f.intake.restart.store(true, StdOrdering::Relaxed);
        drop(started);
    }
}

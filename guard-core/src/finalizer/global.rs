//! [`Finalizer`]: the process-wide finalizer's state (its queue, its current worker's
//! shift, its counters and its start-up flags). Data only; what acts on it lives in
//! `intake` (producers), `start`, `worker`, `watchdog`, `flush` and `stats`.

use super::bound::Bound;
use super::counters::Counters;
use super::queue::Queue;
use super::shift::Shift;
use crate::event::{self, Event};
use crate::loom::{LazyLock, StdAtomicBool, StdMutex, StdOrdering};
use crate::padded::CachePadded;

/// The finalizer. Lines are split by writer: producers write their own lanes (in `queue`)
/// and read `intake`, the worker writes `shift` and `counters`.
pub(crate) struct Finalizer {
    pub(crate) queue: Queue,
    pub(crate) intake: CachePadded<Intake>,
    pub(crate) shift: CachePadded<Shift>,
    pub(crate) counters: CachePadded<Counters>,
    /// The bound on pending releases: written by producers that meet a full queue.
    pub(crate) bound: CachePadded<Bound>,
    /// True once both the worker and the watchdog run.
    pub(super) started: StdAtomicBool,
    /// True once the first worker runs (it is never started twice: workers share `shift`).
    pub(super) start_lock: StdMutex<bool>,
    /// True while threads cannot be spawned and that has been reported (once per outage).
    outage: StdAtomicBool,
}

/// What every drop of a last handle reads besides its lane: kept on its own lines, away
/// from the worker's counters. (The count of handed-over jobs is in `push_count`.)
#[derive(Default)]
pub(crate) struct Intake {
    /// Set once the process is exiting (`main` has returned or called `exit`): from then
    /// on a finalizer thread may never run again, and releases run inline (`inline.rs`).
    pub(crate) exiting: StdAtomicBool,
    /// Set in a forked child until its own finalizer runs: the next push starts it.
    pub(crate) restart: StdAtomicBool,
}

static GLOBAL: LazyLock<Finalizer> = LazyLock::new(|| Finalizer {
    queue: Queue::new(),
    intake: CachePadded::default(),
    shift: CachePadded(Shift::new()),
    counters: CachePadded::default(),
    bound: CachePadded::default(),
    started: StdAtomicBool::new(false),
    start_lock: StdMutex::new(false),
    outage: StdAtomicBool::new(false),
});

impl Finalizer {
    #[inline]
    pub(crate) fn global() -> &'static Finalizer {
        &GLOBAL
    }

    /// True once the worker and the watchdog have been started.
    pub(crate) fn is_started(&self) -> bool {
        self.started.load(StdOrdering::Acquire)
    }

    /// Reports a finalizer thread that could not be spawned, once per outage: retries
    /// follow on every enqueue and every watchdog tick, and would repeat the same event.
    pub(crate) fn report_unavailable(&self, error: &std::io::Error) {
        if !self.outage.swap(true, StdOrdering::Relaxed) {
            event::emit(&Event::FinalizerUnavailable { error });
        }
    }

    /// Ends the outage, if any, after a finalizer thread was spawned: the next failure is
    /// reported again.
    pub(crate) fn end_outage(&self) {
        self.outage.store(false, StdOrdering::Relaxed);
    }
}

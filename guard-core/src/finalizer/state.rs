//! The process-wide finalizer: its queue, its current worker's shift, its counters, and the
//! worker loop.

use super::stats::{Counters, Intake};
use super::watchdog;
use crate::counted::queue::{Batch, CachePadded, Job, Queue, RunOutcome, Shift, ShiftEnd, VTable};
use crate::event::{self, Event};
use crate::loom::{LazyLock, StdArc, StdAtomicBool, StdMutex, StdOrdering};
use crate::resource::Kind;
use std::cell::Cell;
use std::time::Duration;

/// How long an idle worker sleeps before checking in (it is woken on demand; the timeout
/// only bounds the cost of a missed wake, which the protocol excludes).
const IDLE_SLEEP: Duration = Duration::from_secs(5);

/// The finalizer. Lines are split by writer: producers write `queue.head` and `intake`,
/// the worker writes `shift` and `counters`.
pub(crate) struct Finalizer {
    pub(crate) queue: Queue,
    pub(crate) intake: CachePadded<Intake>,
    pub(crate) shift: CachePadded<Shift>,
    pub(crate) counters: CachePadded<Counters>,
    /// True once both the worker and the watchdog run.
    started: StdAtomicBool,
    /// True once the first worker runs (it is never started twice: workers share `shift`).
    start_lock: StdMutex<bool>,
    /// True while threads cannot be spawned and that has been reported (once per outage).
    outage: StdAtomicBool,
}

static GLOBAL: LazyLock<Finalizer> = LazyLock::new(|| Finalizer {
    queue: Queue::new(),
    intake: CachePadded::default(),
    shift: CachePadded(Shift::new()),
    counters: CachePadded::default(),
    started: StdAtomicBool::new(false),
    start_lock: StdMutex::new(false),
    outage: StdAtomicBool::new(false),
});

thread_local! {
    /// True on finalizer worker threads (so `flush` can refuse to wait for itself).
    static IN_FINALIZER: Cell<bool> = const { Cell::new(false) };
}

/// True if the calling thread is a finalizer worker. False if the thread-local is gone
/// (the thread is exiting), which no worker ever is while running a release.
pub(crate) fn on_finalizer_thread() -> bool {
    IN_FINALIZER.try_with(Cell::get).unwrap_or(false)
}

impl Finalizer {
    pub(crate) fn global() -> &'static Finalizer {
        &GLOBAL
    }

    /// Records how one job went: counters, and an event for failures.
    pub(crate) fn record(&self, vtable: &'static VTable, outcome: RunOutcome) {
        let c = &self.counters;
        match outcome {
            RunOutcome::Marker => {}
            RunOutcome::Released => {
                c.released.fetch_add(1, crate::loom::Ordering::Release);
            }
            RunOutcome::Failed(error) => {
                event::emit(&Event::ReleaseFailed {
                    resource: (vtable.type_name)(),
                    kind: Kind::Counted,
                    error: &*error,
                });
                // The error is the user's type: its `Drop` may panic, and this worker must
                // not unwind (the watchdog could then take a batch the unwinding ran).
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(error)));
                c.failed.fetch_add(1, crate::loom::Ordering::Release);
            }
            RunOutcome::Panicked(p) => {
                event::emit(&Event::ReleasePanicked {
                    resource: (vtable.type_name)(),
                    message: p.message(),
                });
                c.panicked.fetch_add(1, crate::loom::Ordering::Release);
            }
        }
    }

    /// True once the worker has been started.
    pub(crate) fn is_started(&self) -> bool {
        self.started.load(StdOrdering::Acquire)
    }

    /// Starts what is not running yet: the worker, then the watchdog. A part that cannot
    /// be spawned is reported, and tried again by the next call; a worker that runs is
    /// never started a second time.
    fn start(&'static self) {
        let mut worker_started = self.start_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_started() {
            return;
        }
        if !*worker_started {
            if let Err((error, _)) = spawn_worker(self, None, 0) {
                self.report_unavailable(&error);
                return;
            }
            *worker_started = true;
        }
        match watchdog::spawn(self) {
            Ok(()) => {
                self.spawned();
                self.started.store(true, StdOrdering::Release);
            }
            Err(error) => self.report_unavailable(&error),
        }
    }

    /// Reports a finalizer thread that could not be spawned, once per outage: retries
    /// follow on every enqueue and every watchdog tick, and would repeat the same event.
    pub(crate) fn report_unavailable(&self, error: &std::io::Error) {
        if !self.outage.swap(true, StdOrdering::Relaxed) {
            event::emit(&Event::FinalizerUnavailable { error });
        }
    }

    /// A finalizer thread was spawned: the outage, if any, is over, and the next failure
    /// is reported again.
    pub(crate) fn spawned(&self) {
        self.outage.store(false, StdOrdering::Relaxed);
    }
}

/// Starts the finalizer (worker and watchdog) if it is not running yet. Cheap when it is.
#[inline]
pub(crate) fn ensure_started() {
    let f = Finalizer::global();
    if !f.is_started() {
        f.start();
    }
}

/// Hands a job to the finalizer: a thread-local count and one lock-free push. After shutdown,
/// runs it inline instead and reports that.
#[inline]
pub(crate) fn enqueue(job: Job) {
    let f = Finalizer::global();
    if f.intake.shutdown.load(StdOrdering::Relaxed) {
        release_inline(f, job);
        return;
    }
    super::tally::add_one();
    f.queue.push(job);
}

#[cold]
fn release_inline(f: &Finalizer, job: Job) {
    let vtable = job.vtable();
    event::emit(&Event::ReleasedInline {
        resource: (vtable.type_name)(),
    });
    super::tally::add_one();
    f.counters
        .inline
        .fetch_add(1, crate::loom::Ordering::Relaxed);
    f.record(vtable, job.run());
}

/// Switches inline release after shutdown on (`true`) or back off (a new runtime guard).
pub(crate) fn set_shutdown(on: bool) {
    Finalizer::global()
        .intake
        .shutdown
        .store(on, StdOrdering::Relaxed);
}

/// Spawns a worker, first running `rest` (a batch taken from a stuck worker) if given.
/// `seq` continues the sequence numbers so a number is never reused. If the thread cannot
/// be spawned, `rest` comes back with the error, unrun, for the caller to try again.
pub(crate) fn spawn_worker(
    f: &'static Finalizer,
    rest: Option<Batch>,
    seq: u64,
) -> Result<(), (std::io::Error, Option<Batch>)> {
    // The batch goes through a slot rather than the closure: a failed spawn drops its
    // closure, and the batch must survive that.
    let slot = StdArc::new(StdMutex::new(rest));
    let theirs = StdArc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("guard-finalizer".into())
        .spawn(move || {
            let rest = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(theirs);
            run_worker(f, rest, seq);
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(error) => Err((error, slot.lock().unwrap_or_else(|e| e.into_inner()).take())),
    }
}

/// Before sleeping, watches the queue for a short while (spinning, then yielding): under a
/// steady stream of drops the next job arrives within microseconds, and sleeping between
/// jobs would make each producer pay a futex wake. True if work arrived.
fn linger(f: &Finalizer) -> bool {
    for round in 0..LINGER_ROUNDS {
        if !f.queue.is_empty() {
            return true;
        }
        if round < LINGER_SPINS {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    false
}

/// How long `linger` watches: a few microseconds of spinning, then a few yields.
const LINGER_SPINS: u32 = 200;
const LINGER_ROUNDS: u32 = LINGER_SPINS + 20;

/// A worker whose stuck job finally returned (its outcome is already counted): one stuck
/// release fewer. Counted last, so a flush that sees none left also sees the outcome.
fn abandoned(f: &Finalizer) {
    f.counters
        .stuck_outstanding
        .fetch_sub(1, crate::loom::Ordering::Release);
}

fn run_worker(f: &'static Finalizer, rest: Option<Batch>, mut seq: u64) {
    IN_FINALIZER.with(|flag| flag.set(true));
    let record = |vtable, outcome| f.record(vtable, outcome);
    if let Some(rest) = rest
        && f.shift.work(rest, &mut seq, record) == ShiftEnd::Abandoned
    {
        return abandoned(f);
    }
    loop {
        let batch = f.queue.take_all();
        if batch.is_empty() {
            if !linger(f) {
                f.queue.sleep(IDLE_SLEEP);
            }
            continue;
        }
        f.counters.note_depth(batch.len());
        if f.shift.work(batch, &mut seq, record) == ShiftEnd::Abandoned {
            return abandoned(f);
        }
    }
}

//! Thin public wrappers over crate-internal concurrency cores, for the loom models in
//! `tests/loom.rs`. Built only under `--cfg guard_loom`.

use crate::finalizer::{self, LanePtr, ShiftEnd};
use crate::loom::{Arc, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The finalizer queue.
#[allow(missing_debug_implementations)]
pub struct Queue(finalizer::Queue);

impl Queue {
    /// An empty queue.
    pub fn new() -> Self {
        Queue(finalizer::Queue::new())
    }

    /// A producer's lane (a thread's own); dropping it is the thread's exit.
    pub fn lane(&self) -> Lane<'_> {
        Lane {
            queue: &self.0,
            lane: self.0.new_lane(),
        }
    }

    /// Pushes a job on the shared stack, as `flush` pushes its marker: it adds one to
    /// `ran` when it runs.
    pub fn push_marker(&self, ran: &Arc<AtomicUsize>) {
        self.0.push_shared(finalizer::test_job(ran, None));
    }

    /// Takes everything queued and runs it; returns true if anything was taken.
    pub fn take_and_run(&self) -> bool {
        let batch = self.0.take_all();
        let any = !batch.is_empty();
        drop(batch); // dropping a batch runs its jobs
        any
    }

    /// The consumer's sleep (woken by a producer that hands a lane over).
    pub fn sleep(&self) {
        self.0.sleep(Duration::from_secs(1));
    }

    /// Lanes not freed yet (live, or orphaned with jobs left).
    pub fn lanes(&self) -> usize {
        self.0.lane_count()
    }
}

impl Default for Queue {
    fn default() -> Self {
        Queue::new()
    }
}

/// A producing thread's lane.
#[allow(missing_debug_implementations)]
pub struct Lane<'a> {
    queue: &'a finalizer::Queue,
    lane: LanePtr,
}

impl Lane<'_> {
    /// Pushes a job that adds one to `ran` when it runs.
    pub fn push_job(&self, ran: &Arc<AtomicUsize>) {
        self.queue.push(self.lane, finalizer::test_job(ran, None));
    }

    /// True if everything pushed through this lane has run and the lane is out of the
    /// consumer's care: what a drop checks before it releases on its own thread.
    pub fn is_drained(&self) -> bool {
        self.queue.is_drained(self.lane)
    }

    /// Pushes a job that adds one to `ran` when it runs, and asserts then that the job
    /// counting into `before` has run.
    pub fn push_job_after(&self, ran: &Arc<AtomicUsize>, before: &Arc<AtomicUsize>) {
        self.queue
            .push(self.lane, finalizer::test_job(ran, Some(before)));
    }
}

impl Drop for Lane<'_> {
    fn drop(&mut self) {
        self.queue.orphan(self.lane);
    }
}

/// A worker shift with its queue, for the stuck-worker hand-over model.
#[allow(missing_debug_implementations)]
pub struct Shift {
    queue: finalizer::Queue,
    shift: finalizer::Shift,
}

impl Shift {
    /// A shift over a queue holding `jobs` jobs (pushed by one thread, now exited)
    /// counting into `ran`.
    pub fn with_jobs(jobs: usize, ran: &Arc<AtomicUsize>) -> Self {
        let queue = finalizer::Queue::new();
        let lane = queue.new_lane();
        for _ in 0..jobs {
            queue.push(lane, finalizer::test_job(ran, None));
        }
        queue.orphan(lane);
        Shift {
            queue,
            shift: finalizer::Shift::new(),
        }
    }

    /// Works the queued batch as a worker; true if the watchdog took it over.
    pub fn work(&self) -> bool {
        let batch = self.queue.take_all();
        let mut seq = 0;
        self.shift.work(batch, &mut seq, |_, _| {}) == ShiftEnd::Abandoned
    }

    /// The watchdog: if a job is running, tries to steal the rest of its batch and runs it.
    /// True if it stole.
    pub fn steal_and_run(&self) -> bool {
        let Some((seq, _)) = self.shift.running() else {
            return false;
        };
        match self.shift.steal(seq) {
            Some(rest) => {
                drop(rest); // runs the stolen jobs
                true
            }
            None => false,
        }
    }
}

/// The finalizer queue under the bound on pending releases: producers publish a ticket per
/// drop and are admitted against the bound; the worker counts every job it finishes.
#[allow(missing_debug_implementations)]
pub struct Bounded {
    queue: Queue,
    shift: finalizer::Shift,
    bound: finalizer::Bound,
    published: AtomicU64,
    finished: AtomicU64,
}

impl Bounded {
    /// An empty queue, nothing published or finished.
    pub fn new() -> Self {
        Bounded {
            queue: Queue::new(),
            shift: finalizer::Shift::new(),
            bound: finalizer::Bound::default(),
            published: AtomicU64::new(0),
            finished: AtomicU64::new(0),
        }
    }

    /// A producer's lane.
    pub fn lane(&self) -> Lane<'_> {
        self.queue.lane()
    }

    /// A last drop through `lane`: publishes it, admits it against `bound` (a patience of
    /// two rounds without progress), then pushes a job that adds one to `ran`. True if it
    /// went past the bound.
    pub fn drop_one(&self, lane: &Lane<'_>, bound: u64, ran: &Arc<AtomicUsize>) -> bool {
        let ticket = self.published.fetch_add(1, Ordering::SeqCst) + 1;
        let admission = self.bound.admit(ticket, bound, Duration::ZERO, || {
            self.finished.load(Ordering::SeqCst)
        });
        lane.push_job(ran);
        matches!(admission, finalizer::Admission::Past { .. })
    }

    /// The worker: takes everything queued and runs it, counting each job as it finishes.
    /// True if anything was taken.
    pub fn work(&self) -> bool {
        let batch = self.queue.0.take_all();
        let any = !batch.is_empty();
        let mut seq = 0;
        self.shift.work(batch, &mut seq, |_, _| {
            self.finished.fetch_add(1, Ordering::SeqCst);
        });
        any
    }
}

impl Default for Bounded {
    fn default() -> Self {
        Bounded::new()
    }
}

//! The calling thread's lane and the count of jobs handed to the finalizer.
//!
//! Each thread pushes through a [`Lane`](super::lane::Lane) of its own, made and registered
//! on its first push and orphaned when the thread exits (the consumer drains it, then frees
//! it). The lane's push number is also the thread's count of pushes: `stats` sums them
//! (`Queue::lane_pushes`), plus the pushes that went through no lane ([`UNLANED`]).
//!
//! Every `CHECK_EVERY` pushes a thread also publishes them into one shared count, whose
//! value is the ticket the bound on pending releases admits (`bound.rs`); a thread
//! publishes the rest when it exits.
//!
//! The counts are statistics, not part of the queue protocol: std atomics under both
//! backends.

use super::bound::CHECK_EVERY;
use super::global::Finalizer;
use super::job::Job;
use super::queue::LanePtr;
use crate::loom::{StdAtomicU64, StdOrdering};
use std::cell::Cell;
use std::ptr;

/// Jobs that went through no lane: pushed on the shared stack by a thread whose lane is
/// gone (a handle dropped by another thread-local's destructor), or released inline (at
/// exit, or on a drained lane: `count_here`).
static UNLANED: StdAtomicU64 = StdAtomicU64::new(0);

/// Pushes published for the bound: each thread's in chunks of `CHECK_EVERY`, the rest when
/// it exits, lane-less pushes one by one. At most `CHECK_EVERY - 1` per live thread behind
/// the total.
static PUBLISHED: StdAtomicU64 = StdAtomicU64::new(0);

/// This thread's lane; orphaned when the thread's thread-locals are destroyed.
struct Own(LanePtr);

impl Own {
    fn register() -> Own {
        let lane = Finalizer::global().queue.new_lane();
        MINE.with(|mine| mine.set(lane.as_ptr()));
        Own(lane)
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        MINE.with(|mine| mine.set(ptr::null()));
        PUBLISHED.fetch_add(self.0.get().pushed() % CHECK_EVERY, StdOrdering::Relaxed);
        Finalizer::global().queue.orphan(self.0);
    }
}

thread_local! {
    static OWN: Own = Own::register();
    /// This thread's lane while it has one: read in a forked child's handler, which must not
    /// make one (`OWN` would register under a lock the handler holds). No destructor.
    static MINE: Cell<*const super::lane::Lane> = const { Cell::new(ptr::null()) };
}

/// Pushes `job` through the calling thread's lane (or, once the thread's lane is gone, the
/// shared stack). `admit` is called with a ticket every `CHECK_EVERY` pushes of a thread
/// (and on every lane-less push), before the push.
///
/// If `here`, and the thread's lane is drained (out of the consumer's care, nothing of it
/// queued or running: [`Queue::is_drained`](super::queue::Queue::is_drained)), pushes
/// nothing and gives `job` back, for the caller to release on this thread.
#[inline]
pub(crate) fn push(f: &Finalizer, job: Job, here: bool, admit: impl Fn(u64)) -> Option<Job> {
    let mut job = Some(job);
    let pushed = OWN.try_with(|own| {
        if here && f.queue.is_drained(own.0) {
            return;
        }
        if own.0.get().next_seq() % CHECK_EVERY == 0 {
            admit(publish(CHECK_EVERY));
        }
        if let Some(job) = job.take() {
            f.queue.push(own.0, job);
        }
    });
    if pushed.is_err()
        && let Some(job) = job.take()
    {
        UNLANED.fetch_add(1, StdOrdering::Relaxed);
        admit(publish(1));
        f.queue.push_shared(job);
    }
    job
}

/// Counts a release that ran inline (at exit) as a job handed over.
pub(crate) fn count_inline() {
    UNLANED.fetch_add(1, StdOrdering::Relaxed);
}

/// Counts a release that runs on the dropping thread because its lane was drained
/// (`push` gave the job back) as a job handed over, and publishes it for the bound: its
/// outcome counts as finished, so its ticket must count too.
pub(crate) fn count_here() {
    UNLANED.fetch_add(1, StdOrdering::Relaxed);
    publish(1);
}

#[cold]
fn publish(pushes: u64) -> u64 {
    PUBLISHED.fetch_add(pushes, StdOrdering::Relaxed) + pushes
}

/// The total so far. Every push that happened before an operation this thread has
/// synchronised with (e.g. an acquire load of a count of finished jobs) is included.
pub(crate) fn total() -> u64 {
    Finalizer::global().queue.lane_pushes() + UNLANED.load(StdOrdering::Relaxed)
}

/// The calling thread's lane, if it has one (for a forked child's handler).
pub(crate) fn own_lane() -> Option<LanePtr> {
    let lane = MINE.with(Cell::get);
    // SAFETY: `MINE` holds this thread's live lane (set at registration, cleared before
    // orphaning), which only its own consumer frees, after the orphaning.
    std::ptr::NonNull::new(lane.cast_mut()).map(|l| unsafe { LanePtr::from_raw(l) })
}

/// In a forked child: the child counts its own pushes from zero, and the bound's tickets
/// start again from zero, as the child's finished count does.
pub(crate) fn zero_after_fork() {
    UNLANED.store(0, StdOrdering::Relaxed);
    PUBLISHED.store(0, StdOrdering::Relaxed);
}

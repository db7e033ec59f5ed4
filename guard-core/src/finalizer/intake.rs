//! The producers' side: handing a job to the finalizer ([`enqueue`]), or releasing it on
//! the spot when the finalizer is idle for this thread and the type allows it
//! ([`enqueue_or_release`]).

use super::bound;
use super::global::Finalizer;
use super::inline;
use super::job::Job;
use super::push_count;
use super::worker::on_finalizer_thread;
use crate::loom::StdOrdering;

/// Hands a job to the finalizer: a push onto the calling thread's lane, plain stores; every
/// 32nd push of a thread also checks the bound on pending releases, and may wait for room
/// (`bound.rs`). Once the process is exiting, runs it inline instead (through the calling
/// thread's trampoline).
#[inline]
pub(crate) fn enqueue(job: Job) {
    let f = Finalizer::global();
    let kept = intake(f, job, false);
    debug_assert!(kept.is_none(), "a push with `here` false always pushes");
}

/// As [`enqueue`], for a job whose release takes no lock a user thread may hold
/// ([`CountedResource::RELEASE_TAKES_NO_LOCK`](crate::CountedResource::RELEASE_TAKES_NO_LOCK)):
/// when the calling thread's lane is drained (out of the consumer's care, every job pushed
/// through it released: `Queue::is_drained`), the job runs here, now, through the
/// thread's trampoline, instead of waking the finalizer. A lane in care (the finalizer
/// busy with it, or about to be) takes the push as usual: 9 ns, and the thread's releases
/// stay in order. So does a drop made by such a release itself, and one made while the
/// thread's lane is gone (inside another thread-local's destructor).
#[inline]
pub(crate) fn enqueue_or_release(job: Job) {
    let f = Finalizer::global();
    if let Some(job) = intake(f, job, true) {
        match inline::release_idle(f, job) {
            Ok(None) => {}
            // A failure to report, or a job this thread may not run now.
            Ok(Some(job)) | Err(job) => push(f, job),
        }
    }
}

/// The common path: the exit and fork checks, then the push. `Some(job)` back if `here`
/// and the calling thread's lane is drained: the job is the caller's to run or push.
#[inline(always)]
fn intake(f: &Finalizer, job: Job, here: bool) -> Option<Job> {
    if f.intake.exiting.load(StdOrdering::Relaxed) {
        inline::release(f, job);
        return None;
    }
    if f.intake.restart.load(StdOrdering::Relaxed) {
        restart_after_fork(f);
    }
    push_count::push(f, job, here, |ticket| admit(f, ticket))
}

/// A push that may not run here (a release's own drop, met while the trampoline runs).
#[cold]
fn push(f: &Finalizer, job: Job) {
    let kept = push_count::push(f, job, false, |ticket| admit(f, ticket));
    debug_assert!(kept.is_none(), "a push with `here` false always pushes");
}

/// Admits a chunk of pushes under the bound on pending releases (`bound.rs`).
#[inline]
fn admit(f: &Finalizer, ticket: u64) {
    let limit = bound::pending_bound();
    if !f.bound.has_room(ticket, limit) && !on_finalizer_thread() {
        bound::admit(&f.bound, ticket, limit, || f.counters.finished());
    }
}

/// In a forked child, the first push starts the child's own finalizer (see `super::fork`).
#[cold]
fn restart_after_fork(f: &Finalizer) {
    super::start::ensure_started();
    if f.is_started() {
        f.intake.restart.store(false, StdOrdering::Relaxed);
    }
}

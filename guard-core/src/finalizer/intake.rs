//! The producers' side: handing a job to the finalizer ([`enqueue`]).

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
    if f.intake.exiting.load(StdOrdering::Relaxed) {
        inline::release(f, job);
        return;
    }
    if f.intake.restart.load(StdOrdering::Relaxed) {
        restart_after_fork(f);
    }
    push_count::push(f, job, |ticket| {
        let limit = bound::pending_bound();
        if !f.bound.has_room(ticket, limit) && !on_finalizer_thread() {
            bound::admit(&f.bound, ticket, limit, || f.counters.finished());
        }
    });
}

/// In a forked child, the first push starts the child's own finalizer (see `super::fork`).
#[cold]
fn restart_after_fork(f: &Finalizer) {
    super::start::ensure_started();
    if f.is_started() {
        f.intake.restart.store(false, StdOrdering::Relaxed);
    }
}

//! The producers' side: handing a job to the finalizer ([`enqueue`]).

use super::global::Finalizer;
use super::inline;
use super::job::Job;
use super::push_count;
use crate::loom::StdOrdering;

/// Hands a job to the finalizer: a thread-local count and one lock-free push. Once the
/// process is exiting, runs it inline instead (through the calling thread's trampoline).
#[inline]
pub(crate) fn enqueue(job: Job) {
    let f = Finalizer::global();
    if f.intake.exiting.load(StdOrdering::Relaxed) {
        inline::release(f, job);
        return;
    }
    push_count::add_one();
    f.queue.push(job);
}

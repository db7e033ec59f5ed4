//! The producers' side: handing a job to the finalizer ([`enqueue`]), and releasing inline
//! once the runtime has shut down.

use super::global::Finalizer;
use super::job::Job;
use crate::event::{self, Event};
use crate::loom::{Ordering, StdOrdering};

/// Hands a job to the finalizer: a count on the intake's line (which the shutdown check
/// reads anyway) and one lock-free push. After shutdown, runs it inline instead and
/// reports that.
#[inline]
pub(crate) fn enqueue(job: Job) {
    let f = Finalizer::global();
    if f.intake.shutdown.load(StdOrdering::Relaxed) {
        release_inline(f, job);
        return;
    }
    f.intake.enqueued.fetch_add(1, StdOrdering::Relaxed);
    f.queue.push(job);
}

#[cold]
fn release_inline(f: &Finalizer, job: Job) {
    let vtable = job.vtable();
    event::emit(&Event::ReleasedInline {
        resource: (vtable.type_name)(),
    });
    f.intake.enqueued.fetch_add(1, StdOrdering::Relaxed);
    f.counters.inline.fetch_add(1, Ordering::Relaxed);
    f.counters.record(vtable, job.run());
}

/// Switches inline release after shutdown on (`true`) or back off (a new runtime guard).
pub(crate) fn set_shutdown(on: bool) {
    Finalizer::global()
        .intake
        .shutdown
        .store(on, StdOrdering::Relaxed);
}

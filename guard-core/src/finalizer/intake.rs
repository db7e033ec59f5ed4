//! The producers' side: handing a job to the finalizer ([`enqueue`]), and releasing inline
//! once the runtime has shut down.

use super::bound;
use super::global::Finalizer;
use super::job::Job;
use super::push_count;
use super::worker::on_finalizer_thread;
use crate::event::{self, Event};
use crate::loom::{Ordering, StdOrdering};

/// Hands a job to the finalizer: a thread-local count and one lock-free push; every 32nd
/// push of a thread also checks the bound on pending releases, and may wait for room
/// (`bound.rs`). After shutdown, runs it inline instead and reports that.
#[inline]
pub(crate) fn enqueue(job: Job) {
    let f = Finalizer::global();
    if f.intake.shutdown.load(StdOrdering::Relaxed) {
        release_inline(f, job);
        return;
    }
    if let Some(ticket) = push_count::add_one()
        && !on_finalizer_thread()
    {
        bound::admit(&f.bound, ticket, || f.counters.finished());
    }
    f.queue.push(job);
}

#[cold]
fn release_inline(f: &Finalizer, job: Job) {
    let vtable = job.vtable();
    event::emit(&Event::ReleasedInline {
        resource: (vtable.type_name)(),
    });
    push_count::add_one();
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

//! Releasing inline, on the dropping thread: once the process is exiting (`exit.rs`), since
//! no finalizer thread may run again; and, for a type whose release takes no lock a user
//! thread may hold (`CountedResource::RELEASE_TAKES_NO_LOCK`), when the dropping thread's
//! lane is drained ([`release_idle`]), so an isolated drop does not wake the finalizer.
//! These are the only times a release runs where its last handle was dropped (F1's
//! exceptions).
//!
//! Never recursively: each thread has a trampoline. The first inline release on a thread
//! runs its job, then every job that the release itself (or those after it) handed over,
//! one after another, in one loop; a release that drops counted values while the loop runs
//! only appends them to the thread's list (at exit), or pushes them to the finalizer (a
//! drained-lane release: the loop's own drops are not run here, which keeps them in order
//! with the thread's other pushes). So the stack stays as deep as one release, whatever
//! the length of a chain of counted values.
//!
//! The list is intrusive (the jobs' own `next` links) and the thread-local has no
//! destructor, so it works inside other thread-locals' destructors and allocates nothing.

use super::global::Finalizer;
use super::job::{Job, Node, RunOutcome};
use super::push_count;
use crate::event::{self, Event};
use crate::loom::{Ordering, StdAtomicBool, StdOrdering};
use std::cell::Cell;
use std::ptr::{self, NonNull};

/// One thread's trampoline: whether its loop runs, and the jobs waiting for it (oldest
/// first, linked through `Node::next`).
struct Trampoline {
    running: Cell<bool>,
    head: Cell<*mut Node>,
    tail: Cell<*mut Node>,
}

thread_local! {
    static TRAMPOLINE: Trampoline = const {
        Trampoline {
            running: Cell::new(false),
            head: Cell::new(ptr::null_mut()),
            tail: Cell::new(ptr::null_mut()),
        }
    };
}

/// True once an inline release has been reported: at exit a long chain would otherwise
/// print one line per link. The count is in `Stats::inline`.
static REPORTED: StdAtomicBool = StdAtomicBool::new(false);

impl Trampoline {
    /// Appends `node` if this thread's loop runs (it will run the job); false otherwise.
    fn defer(&self, node: NonNull<Node>) -> bool {
        if !self.running.get() {
            return false;
        }
        // SAFETY: the caller gave up `node`, an owned, unlinked job; until the loop pops
        // it, only this thread's list refers to it.
        unsafe { node.as_ref() }
            .next
            .store(ptr::null_mut(), Ordering::Relaxed);
        match NonNull::new(self.tail.get()) {
            // SAFETY: `tail` is the last node of this thread's list, owned by it.
            Some(tail) => unsafe { tail.as_ref() }
                .next
                .store(node.as_ptr(), Ordering::Relaxed),
            None => self.head.set(node.as_ptr()),
        }
        self.tail.set(node.as_ptr());
        true
    }

    /// Takes the oldest job off this thread's list.
    fn pop(&self) -> Option<NonNull<Node>> {
        let node = NonNull::new(self.head.get())?;
        // SAFETY: `node` heads this thread's list, which owns it.
        let next = unsafe { node.as_ref() }.next.load(Ordering::Relaxed);
        self.head.set(next);
        if next.is_null() {
            self.tail.set(ptr::null_mut());
        }
        Some(node)
    }
}

/// Releases `job` on this thread, now or (inside a running trampoline) right after the
/// release that dropped it.
#[cold]
pub(crate) fn release(f: &Finalizer, job: Job) {
    let node = job.into_raw();
    if TRAMPOLINE.with(|t| t.defer(node)) {
        return;
    }
    TRAMPOLINE.with(|t| t.running.set(true));
    let mut next = Some(node);
    while let Some(node) = next {
        // SAFETY: `node` came from a `Job` (this call's, or one deferred onto the list,
        // which owned it since); it is owned, unlinked, and its vtable and `Send` promise
        // are as `Job::from_raw` requires.
        run(f, unsafe { Job::from_raw(node) });
        next = TRAMPOLINE.with(Trampoline::pop);
    }
    TRAMPOLINE.with(|t| t.running.set(false));
}

/// Releases `job` on this thread now: its lane is drained (`push_count::push` gave it
/// back). `Ok(None)` once released; `Ok(Some(report))` if the release failed or panicked:
/// the caller pushes `report`, and the finalizer reports the failure (`late.rs`: the event
/// hook is user code, kept off this thread by F1). `Err(job)` if this thread's trampoline
/// is running (a release dropping counted values): the caller pushes it instead, behind
/// whatever that release pushed already.
#[cold]
pub(crate) fn release_idle(f: &Finalizer, job: Job) -> Result<Option<Job>, Job> {
    if TRAMPOLINE.with(|t| t.running.get()) {
        return Err(job);
    }
    TRAMPOLINE.with(|t| t.running.set(true));
    f.counters.inline_idle.fetch_add(1, Ordering::Relaxed);
    let vtable = job.vtable();
    let report = match job.run() {
        outcome @ (RunOutcome::Released | RunOutcome::Marker) => {
            push_count::count_here();
            f.counters.record(vtable, outcome);
            None
        }
        // Counted as handed over when the caller pushes it.
        failure => Some(super::late::job(vtable, failure)),
    };
    // Jobs deferred by the release's own drops, if the process started exiting meanwhile.
    while let Some(node) = TRAMPOLINE.with(Trampoline::pop) {
        // SAFETY: deferred onto this thread's list by `release`, which owned it since.
        run(f, unsafe { Job::from_raw(node) });
    }
    TRAMPOLINE.with(|t| t.running.set(false));
    Ok(report)
}

/// Runs one job inline at exit: counted, and reported the first time. Nothing here unwinds: the
/// job catches the release's panic, `record` the error's and the hook's.
fn run(f: &Finalizer, job: Job) {
    let vtable = job.vtable();
    if !REPORTED.swap(true, StdOrdering::Relaxed) {
        event::emit(&Event::ReleasedInline {
            resource: (vtable.type_name)(),
        });
    }
    push_count::count_inline();
    f.counters.inline.fetch_add(1, Ordering::Relaxed);
    f.counters.record(vtable, job.run());
}

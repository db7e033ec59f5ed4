//! The failure of a release that ran inline on a drained lane (`inline::release_idle`),
//! carried to the finalizer to be reported there. Reporting calls the event hook, which is
//! user code; F1 keeps user code off the dropping thread, which may hold a lock the hook
//! takes. So the release runs where the value was dropped (a `close(2)`), and its error or
//! panic goes through the thread's own lane as a job of its own: the finalizer emits the
//! event (and drops the error) in the thread's order, and `flush` waits for the report as
//! for any release.

use super::job::{Job, Node, RunOutcome, VTable};
use std::ptr::NonNull;

#[repr(C)]
struct Late {
    node: Node,
    /// The vtable of the job whose release failed: the report names its type.
    of: &'static VTable,
    outcome: RunOutcome,
}

static LATE_VTABLE: VTable = VTable {
    run: run_late,
    type_name: || "an inline release's report",
    is_marker: false,
};

unsafe fn run_late(node: NonNull<Node>) -> RunOutcome {
    // SAFETY: `node` heads a `Late` leaked by `job` (the vtable says so), owned by the
    // caller and never used again.
    let late = unsafe { Box::from_raw(node.cast::<Late>().as_ptr()) };
    let Late { of, outcome, .. } = *late;
    RunOutcome::Reported(of, Box::new(outcome))
}

/// A job that reports `outcome` (a failure or a panic) of a release of `of`'s type, when
/// the finalizer runs it.
pub(crate) fn job(of: &'static VTable, outcome: RunOutcome) -> Job {
    let late = Box::new(Late {
        node: Node::new(&LATE_VTABLE),
        of,
        outcome,
    });
    let node = NonNull::from(Box::leak(late)).cast::<Node>();
    // SAFETY: a fresh, owned, unlinked node heading a `Late`, matching its vtable. What it
    // holds may go to another thread: a `&'static VTable` (shared, immutable) and the
    // outcome, whose error is `Send` (`BoxError`) and whose panic is two strings.
    unsafe { Job::from_raw(node) }
}

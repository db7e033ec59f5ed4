//! Test jobs for the loom models (`--cfg guard_loom` only).

use super::job::{Job, Node, RunOutcome, VTable};
use crate::loom::{Arc, AtomicUsize, Ordering};
use std::ptr::NonNull;

#[repr(C)]
struct TestJob {
    node: Node,
    ran: Arc<AtomicUsize>,
    /// A job that must have run before this one.
    after: Option<Arc<AtomicUsize>>,
}

static TEST_VTABLE: VTable = VTable {
    run: run_test,
    type_name: || "TestJob",
    is_marker: false,
};

unsafe fn run_test(node: NonNull<Node>) -> RunOutcome {
    // SAFETY: `node` heads a `TestJob` leaked by `test_job`.
    let job = unsafe { Box::from_raw(node.cast::<TestJob>().as_ptr()) };
    if let Some(after) = &job.after {
        assert_eq!(
            after.load(Ordering::SeqCst),
            1,
            "a job overtook one pushed before it"
        );
    }
    job.ran.fetch_add(1, Ordering::SeqCst);
    RunOutcome::Released
}

/// A job that counts its runs in `ran`; if `after` is given, it asserts when it runs that
/// the job counting into `after` ran once before it.
pub(crate) fn test_job(ran: &Arc<AtomicUsize>, after: Option<&Arc<AtomicUsize>>) -> Job {
    let job = Box::new(TestJob {
        node: Node::new(&TEST_VTABLE),
        ran: ran.clone(),
        after: after.cloned(),
    });
    let node = NonNull::from(Box::leak(job)).cast::<Node>();
    // SAFETY: a fresh, owned, unlinked node whose vtable matches its allocation; it holds
    // an `Arc` of an atomic, which is `Send`.
    unsafe { Job::from_raw(node) }
}

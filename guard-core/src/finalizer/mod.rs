//! The finalizer: the `guard-finalizer` thread that releases counted resources after their
//! last handle is dropped, and a watchdog for releases that never return.
//!
//! What a caller can rely on (the design's F1-F5; how each is kept is in `docs/DESIGN.md`):
//!
//! - **F1** a release never runs on the thread that dropped the last handle, for the whole
//!   life of the process: ending a [`Runtime`](crate::Runtime) guard drains and reports, and
//!   changes nothing after it; only once the process is exiting (`main` has returned) do
//!   releases run inline, through a per-thread trampoline that never recurses. The one
//!   other exception is a type that promises its release takes no lock a user thread may
//!   hold ([`CountedResource::RELEASE_TAKES_NO_LOCK`](crate::CountedResource::RELEASE_TAKES_NO_LOCK),
//!   guard-os's fds): its last drop releases it on the spot when nothing that thread
//!   dropped is pending, rather than wake the finalizer (counted in [`Stats::inline_idle`]);
//! - **F2** a release that panics or fails is reported to the
//!   [event hook](crate::event::set_hook) (default: stderr) with its type name and counted
//!   in [`stats`]; the other releases still run;
//! - **F3** a release running past the [stuck deadline](set_stuck_deadline) is reported as
//!   stuck, and a fresh worker serves the rest of the queue; at most
//!   [`max_stuck_workers`] are left behind at once: past the cap the queue waits for one
//!   of them to come back;
//! - **F4** [`flush`] returns once everything dropped before the call has been released; it
//!   refuses with an error, never hangs, when called from a release;
//! - **F5** dropping the last handle never waits for a release; [`stats`] shows the queue's
//!   depth and high-water mark. Pending releases are bounded
//!   ([`set_pending_bound`]): a drop that meets a full queue waits for room while the
//!   finalizer makes progress, and goes past the bound (reported) when it makes none, so
//!   a thread holding a lock the pending releases need never hangs.
//!
//! A finalizer thread that cannot be spawned is reported as
//! [`FinalizerUnavailable`](crate::event::Event::FinalizerUnavailable), once per outage; the
//! releases wait until a later attempt succeeds.
//!
//! In a child of `fork()` without exec, the finalizer starts afresh on first use: values
//! the child drops are released and [`flush`] returns; the parent's pending releases stay
//! the parent's (see `docs/DESIGN.md`, N4).

mod batch;
mod bound;
mod cap;
mod counters;
mod deadline;
mod exit;
mod flush;
mod fork;
mod global;
mod inline;
mod intake;
mod job;
mod lane;
mod late;
mod marker;
mod push_count;
mod queue;
mod shift;
mod stack;
mod start;
mod stats;
#[cfg(guard_loom)]
mod test_job;
mod watchdog;
mod worker;

pub use crate::error::FlushError;
#[cfg(guard_loom)]
pub(crate) use bound::{Admission, Bound};
pub use bound::{
    DEFAULT_PENDING_BOUND, pending_bound, set_pending_bound, set_stall_patience, stall_patience,
};
pub use cap::{DEFAULT_MAX_STUCK_WORKERS, max_stuck_workers, set_max_stuck_workers};
pub use deadline::{set_stuck_deadline, stuck_deadline};
pub(crate) use exit::watch_main_exit;
pub use flush::{flush, flush_all_timeout, flush_timeout};
pub(crate) use intake::{enqueue, enqueue_or_release};
pub(crate) use job::{Job, Node, RunOutcome, VTable};
#[cfg(guard_loom)]
pub(crate) use queue::{LanePtr, Queue};
#[cfg(guard_loom)]
pub(crate) use shift::{Shift, ShiftEnd};
pub(crate) use start::ensure_started;
pub use stats::{Stats, stats};
#[cfg(guard_loom)]
pub(crate) use test_job::test_job;

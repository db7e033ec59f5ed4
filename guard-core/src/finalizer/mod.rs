//! The finalizer: a dedicated thread, `guard-finalizer`, that releases counted resources
//! after their last handle is dropped, plus a watchdog for releases that never return.
//!
//! Invariants (design F1-F5):
//!
//! - **F1** A counted resource's release never runs on the thread that dropped the last
//!   handle (unless the runtime has shut down: then it runs inline and is reported).
//! - **F2** A release that panics is caught, its payload dropped inside a second
//!   `catch_unwind`, and reported with its type name; the thread survives, others run.
//! - **F3** A release running longer than the [stuck deadline](set_stuck_deadline) is
//!   reported as stuck and a fresh worker takes over the rest of the queue; the stuck one
//!   finishes (or not) on its own thread.
//! - **F4** [`flush`] returns once everything dropped before the call has been released; it
//!   refuses with an error, never hangs, when called from the finalizer.
//! - **F5** Dropping the last handle is a lock-free push that allocates nothing and never
//!   waits for a release (only the push that finds the queue empty while the worker sleeps
//!   takes a short mutex, to wake it: at most one wake per batch); depth and high-water mark
//!   are observable through [`stats`]. Pending releases are bounded
//!   ([`set_pending_bound`]): a drop that meets a full queue waits for room while the
//!   finalizer makes progress, and goes past the bound (reported) when it makes none, so
//!   a thread holding a lock the pending releases need never hangs.
//!
//! Release errors go to the [event hook](crate::event::set_hook) (default: stderr).
//!
//! Nothing the user supplies can unwind a worker: releases, their errors' `Drop`, the hook
//! and its captured state all run under `catch_unwind`. A thread that cannot be spawned
//! (the worker, the watchdog, a replacement) is reported as
//! [`FinalizerUnavailable`](crate::event::Event::FinalizerUnavailable) (once per outage, not
//! per retry) and tried again; meanwhile its jobs wait, unrun, and only one worker ever
//! serves the queue.

mod bound;
mod counters;
mod deadline;
mod flush;
mod global;
mod intake;
mod job;
mod marker;
mod push_count;
mod queue;
mod shift;
mod start;
mod stats;
mod watchdog;
mod worker;

#[cfg(guard_loom)]
pub(crate) use bound::{Admission, Bound};
pub use bound::{
    DEFAULT_PENDING_BOUND, pending_bound, set_pending_bound, set_stall_patience, stall_patience,
};
pub use deadline::{set_stuck_deadline, stuck_deadline};
pub use flush::{flush, flush_all_timeout, flush_timeout};
pub(crate) use intake::{enqueue, set_shutdown};
pub(crate) use job::{Job, Node, RunOutcome, VTable};
#[cfg(guard_loom)]
pub(crate) use queue::{Queue, model::push_test_job};
#[cfg(guard_loom)]
pub(crate) use shift::{Shift, ShiftEnd};
pub(crate) use start::ensure_started;
pub use stats::{Stats, stats};

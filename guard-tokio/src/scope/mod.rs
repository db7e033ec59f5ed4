//! Async scopes: resources with an async release (a TLS `close_notify`, a connection given
//! back to a pool, a goodbye frame), released newest first at the end of the scope, each
//! awaited, with every error returned: guard-core's [`scope`](guard_core::scope) for async
//! code, under the same rules (S1-S3 in `docs/DESIGN.md`).
//!
//! - **S1** Every resource entered is released exactly once, newest first, when the body
//!   returns, fails or panics (the panic resumes after every release ran).
//! - **S2** Nothing is dropped: the [`ScopeError`](guard_core::ScopeError) holds the
//!   body's error and every release error; when a panic resumes, what it cannot carry goes
//!   to the [event hook](guard_core::event::set_hook), once each.
//! - **S3** A [`Guard`] cannot outlive its scope, and `mem::forget` on a guard leaks
//!   nothing: the resource lives in the scope, which releases it at its end. Dropping a
//!   guard starts its release at once (the scope's future runs it beside the body, its
//!   error into the result); [`Guard::release`] awaits it and returns the error.
//!
//! Any [`UniqueResource`](guard_core::UniqueResource) (`Send + 'static`) is an
//! [`AsyncRelease`], so guard-os's files and streams, and lock guards that are unique
//! resources, enter an async scope as they are.
//!
//! # Cancellation
//!
//! A scope's future may be dropped before its end (a `select!` branch that lost, a
//! timeout, a task aborted). Its releases are then neither skipped nor lost, and none is
//! run twice: the body's future is dropped first (so no guard is left), then the releases
//! not yet finished (the one under way included, as it stands: it is moved, not
//! restarted) are run to their end, newest first,
//!
//! - by a **cleanup task** spawned on the current runtime, if the drop happens on one;
//! - else **on the dropping thread**, before the drop returns (on a thread of its own,
//!   with a current-thread runtime, so that tokio's timers and I/O work in a release), and
//!   also if the cleanup task is itself dropped unfinished (a runtime shutting down drops
//!   its tasks).
//!
//! Either way [`Event::ScopeCancelled`](guard_core::event::Event::ScopeCancelled) reports
//! it, and each failure follows as `ReleaseFailed` or `ReleasePanicked`: nobody is left
//! to return them to. What the releases that had already ended returned goes to the hook
//! too. The body's own outcome, if the body had ended, is dropped with the future, as any
//! future's output is. An early [`Guard::release`] whose future is dropped mid-way is
//! finished the same way.
//!
//! ```
//! use guard_tokio::AsyncRelease;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//!
//! static SAID_BYE: AtomicUsize = AtomicUsize::new(0);
//!
//! struct Session;
//! impl AsyncRelease for Session {
//!     type Error = std::convert::Infallible;
//!     async fn release_async(self) -> Result<(), Self::Error> {
//!         tokio::task::yield_now().await; // a goodbye frame, say
//!         SAID_BYE.fetch_add(1, Ordering::SeqCst);
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let work = guard_tokio::scope(async |s| {
//!     let _session = s.enter(Session);
//!     tokio::time::sleep(Duration::from_secs(60)).await; // never gets this far
//!     Ok::<_, std::convert::Infallible>(())
//! });
//! // The timeout drops the scope's future: the session goes to a cleanup task.
//! assert!(tokio::time::timeout(Duration::from_secs(1), work).await.is_err());
//! while SAID_BYE.load(Ordering::SeqCst) == 0 {
//!     tokio::task::yield_now().await;
//! }
//! # });
//! ```
//!
//! A release run on the dropping thread needs its resource's I/O to make progress without
//! the runtime it was registered with (a socket write that fits the buffer does; one that
//! must wait for that runtime's reactor, while its only thread is the one dropping, waits
//! with it).
//!
//! `mem::forget` on the scope's future runs nothing: its resources leak, as any forgotten
//! value's do. That is sound: guards point into the future's pinned memory, which a forget
//! never frees.

mod cleanup;
mod guard;
mod outcome;
mod release;
mod releases;
mod scoped;
mod table;

pub use guard::Guard;
pub use release::AsyncRelease;
pub use scoped::{Scope, scope};

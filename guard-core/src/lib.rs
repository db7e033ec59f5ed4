//! guard-core: resources that must be released correctly.
//!
//! Every resource says how it is given back ([`Resource`]) and which discipline it follows:
//!
//! - **unique** ([`UniqueResource`]): release timing matters. Enter it in a [`scope`]; it is
//!   released at the end of the scope (or when its [`Guard`] drops), in reverse order of
//!   entry, with every error returned ([`ScopeError`]).
//! - **counted** ([`CountedResource`]): only the count matters. Hold it in a [`Counted`]
//!   handle; when the last handle goes, it is released on the [`finalizer`] thread, where it
//!   can never deadlock against a lock the dropping thread holds.
//!
//! Every live scoped or counted resource is counted by type and creation site (a census,
//! not a list); [`report()`] prints it. The generic [`registry`] (generational keys and
//! leases) is what lists individual entries and iterates them safely while other threads
//! release them: guard-os keeps every registered fd in one (`guard_os::fds()`). [`runtime()`] is the guard for `main` that drains
//! pending releases at exit.
//!
//! # Examples
//!
//! ```
//! use guard_core::{scope, Counted, CountedResource, Resource, UniqueResource};
//!
//! struct Lock; // an acquisition: must be released at a precise point
//! impl Resource for Lock {
//!     type Error = std::convert::Infallible;
//!     fn release(self) -> Result<(), Self::Error> { Ok(()) }
//! }
//! impl UniqueResource for Lock {}
//!
//! struct Handle; // an OS handle: only the count matters
//! impl Resource for Handle {
//!     type Error = std::convert::Infallible;
//!     fn release(self) -> Result<(), Self::Error> { Ok(()) }
//! }
//! impl CountedResource for Handle {}
//!
//! let _rt = guard_core::runtime();
//! let handle = Counted::new(Handle);
//! scope(|s| {
//!     let _held = s.enter(Lock);
//!     Ok::<_, std::convert::Infallible>(())
//! })
//! .unwrap(); // the lock is released here
//! drop(handle); // released on the finalizer thread
//! guard_core::finalizer::flush().unwrap();
//! ```

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
// Under loom the fork hooks are never registered (loom models no fork): their items are unused.
#![cfg_attr(guard_loom, allow(dead_code))]

// `barrier::is_expedited` is used only by its own tests (the queue uses the rest).
#[allow(dead_code)]
mod barrier;
pub mod census;
mod counted;
mod error;
pub mod event;
pub mod finalizer;
mod fork;
mod loom;
mod padded;
mod panic;
pub mod registry;
pub mod report;
mod resource;
mod runtime;
mod scope;

pub use counted::{Counted, DEFAULT_POOL_LIMIT, TryReleaseError, pool_limit, set_pool_limit};
pub use error::{
    BoxError, Error, FlushError, Panicked, ReleaseErrors, ReleaseFailure, Result, ScopeError,
};
pub use registry::Lease;
pub use report::{Report, report};
pub use resource::{CountedResource, Kind, Resource, UniqueResource};
pub use runtime::{DEFAULT_DRAIN, ExitReport, Runtime, runtime};
pub use scope::{Guard, Scope, scope};

/// Internals exposed only to the loom models in `tests/loom.rs`.
#[cfg(guard_loom)]
#[doc(hidden)]
pub mod model {
    pub use crate::model_api::*;
}
#[cfg(guard_loom)]
mod model_api;

//! Registered fds: the generic [`Fd`], the registry view [`fds()`], [`untracked()`], and
//! the fd-pressure retry (invariant F5).
//!
//! Every fd guard-os creates is registered with its kind, type name and creation site, and
//! can be listed with [`Fds::for_each`] while other threads open and close fds:
//!
//! - **R1** a callback never sees a closed fd, or a number reused by another resource: each
//!   entry is leased while its callback runs, and a close that meets a lease is deferred
//!   until the lease ends;
//! - **R2** callbacks run without any lock held, so they may open, drop, close, iterate or
//!   panic, on any thread;
//! - **R3** each fd is closed exactly once. A failed close (`EBADF` for an fd closed behind
//!   the registry's back, `EIO`, `EINTR`) still removes the entry, and is never retried.

mod impls;
mod interop;
mod owned;
mod owner;
mod pressure;
mod registry;
// The one place where registered fd numbers become `BorrowedFd`s again or get closed.
#[allow(unsafe_code)]
pub(crate) mod table;

pub(crate) use impls::{counted_fd, fd_access};
pub use interop::IntoOwnedError;
pub(crate) use interop::{adopt_as, counted_interop, give_away, unique_interop};
pub use owned::Fd;
pub(crate) use owned::{UniqueFd, created, dropped_unreleased};
pub(crate) use owner::FdOwner;
pub use pressure::{PRESSURE_FLUSH_TIMEOUT, pressure_retries, retry_on_pressure};
pub use registry::{Fds, LiveFd, Untracked, fds, untracked};

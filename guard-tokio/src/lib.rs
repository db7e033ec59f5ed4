//! guard-tokio: guard in async Rust.
//!
//! guard's core and OS layer stay free of tokio; this crate holds everything that needs it:
//! conversions between guard's fds, sockets and pipes and tokio's types, async waits on
//! guard's children and on the finalizer, an async mutex whose guard is a unique resource
//! and that cannot futurelock by hand-off, a detector for the futurelocks no lock design
//! prevents, and async scopes for resources with an async release.
//!
//! Interop: [`Async`] drives a guard fd type with tokio's reactor while it stays guard's
//! (registered, released as guard releases it); [`IntoTokio`]/[`FromTokio`] hand it over
//! to tokio's own types and back, explicitly (out of guard's registry and in again);
//! [`child`] waits for processes, [`flush`] for the finalizer, [`IpcMutex`] locks guard's
//! inter-process mutex, and [`listen`] takes passed sockets before the runtime starts.

#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

// `AsyncFd::register`, tokio's only constructor that is not deprecated, is `unsafe`.
#[allow(unsafe_code)]
pub mod child;
mod convert;
mod flush;
#[allow(unsafe_code)]
mod io;
mod ipc;
pub mod listen;
// The async mutex's value sits in an `UnsafeCell` (see docs/DESIGN.md's unsafe table).
#[allow(unsafe_code)]
pub mod lock;
// An async scope's slots are leaked boxes its table owns (see docs/DESIGN.md).
#[allow(unsafe_code)]
pub mod scope;

pub use convert::{FromTokio, IntoTokio};
pub use flush::flush;
pub use io::Async;
pub use ipc::{IpcLock, IpcMutex};
pub use lock::Mutex;
pub use scope::{AsyncRelease, scope};

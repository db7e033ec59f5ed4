//! guard-tokio: guard in async Rust.
//!
//! guard's core and OS layer stay free of tokio; this crate holds everything that needs it:
//! conversions between guard's fds, sockets and pipes and tokio's types, async waits on
//! guard's children and on the finalizer, an async mutex whose guard is a unique resource
//! and that cannot futurelock by hand-off, a detector for the futurelocks no lock design
//! prevents, and async scopes for resources with an async release.

pub mod lock;
pub mod scope;

pub use lock::Mutex;
pub use scope::{AsyncRelease, scope};

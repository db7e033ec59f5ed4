//! guard: resources that must be released correctly.
//!
//! This facade re-exports [`guard_core`] (the model: scopes, counted handles, the finalizer,
//! the registry and the report), the `Resource` derive from `guard-macros`, the Linux
//! layer from `guard-os` as [`os`], and, with the `tokio` feature (off by default),
//! `guard-tokio` as `tokio`.

#![forbid(unsafe_code)]

pub use guard_core::*;

/// The Linux layer: registered fds ([`os::fds`]), files, pipes, sockets, the OS mutex and
/// exec hygiene, each classified unique or counted by what its release does.
///
/// # Examples
///
/// ```
/// let file = guard::os::ReadFile::open("/dev/null")?;
/// assert!(guard::os::fds().len() >= 1);
/// # drop(file);
/// # Ok::<(), guard::os::Error>(())
/// ```
pub mod os {
    pub use guard_os::*;
}
pub use guard_macros::Resource;

/// guard in async Rust, with the `tokio` feature (off by default: without it the facade
/// pulls no tokio): async scopes, an async mutex that cannot futurelock by hand-off, the
/// inter-process mutex locked by a future, and tokio interop for guard's fds.
///
/// # Examples
///
/// ```
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// rt.block_on(async {
///     let m = guard::tokio::Mutex::new(1);
///     *m.lock().await += 1;
///     assert_eq!(*m.lock().await, 2);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use guard_tokio::*;
}

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// `compile_fail` doctests for the soundness claims made about the facade's types.
#[cfg(doctest)]
mod soundness;

/// The README's code blocks, compiled and run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

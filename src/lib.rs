//! guard: resources that must be released correctly.
//!
//! This facade re-exports [`guard_core`] (the model: scopes, counted handles, the finalizer,
//! the registry and the report), the `Resource` derive from `guard-macros`, and the Linux
//! layer from `guard-os` as [`os`].

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

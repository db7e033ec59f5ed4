//! guard: resources that must be released correctly.
//!
//! This facade re-exports [`guard_core`] (the model: scopes, counted handles, the finalizer,
//! the registry and the report), the `Resource` derive from `guard-macros`, and the Linux
//! layer from `guard-os` as [`os`].

#![forbid(unsafe_code)]

pub use guard_core::*;
pub use guard_macros::Resource;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's code blocks, compiled and run as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

//! Exec hygiene: which fds a child started with `std::process::Command` inherits, at which
//! numbers; everything else closed (invariants R4, R5). No new process API: an extension
//! trait, [`CommandExt`], and a plan, [`Inherit`].
//!
//! The receiving side of [`Inherit::listen_fds`], in the child, is
//! [`listen_fds()`](crate::listen_fds).

mod exec;
mod plan;
mod registered;
mod reserve;

pub use exec::CommandExt;
pub use plan::{CloexecStrategy, Inherit, listen_fds_command};
pub use registered::{ListenFd, Registered};
pub(crate) use reserve::reserved_numbers;

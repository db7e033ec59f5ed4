//! Exec hygiene: which fds a child inherits, at which numbers; everything else closed
//! (invariants R4, R5). A plan, [`Inherit`], applied either by guard's own spawn,
//! [`Spawn`] (no `fork`: the cost does not grow with the heap; a guard [`Child`]), or on a
//! `std::process::Command` by [`CommandExt`] (std's `Child`, through `fork`). The guard
//! [`Child`] is a resource (its release waits and returns a failed status as an error),
//! with [`Stdio`] pipes.
//!
//! The receiving side of [`Inherit::listen_fds`], in the child, is
//! [`listen_fds()`](crate::listen_fds).

#[cfg(target_os = "linux")]
mod child;
mod exec;
#[cfg(target_os = "linux")]
mod image;
mod plan;
#[cfg(target_os = "linux")]
mod reaper;
mod registered;
#[cfg(target_os = "linux")]
mod release;
mod reserve;
#[cfg(target_os = "linux")]
mod spawn;
#[cfg(target_os = "linux")]
mod stdio;

#[cfg(target_os = "linux")]
pub use child::Child;
pub use exec::CommandExt;
pub use plan::{CloexecStrategy, Inherit, listen_fds_command};
pub use registered::{ListenFd, Registered};
pub(crate) use reserve::reserved_numbers;
#[cfg(target_os = "linux")]
pub use spawn::Spawn;
#[cfg(target_os = "linux")]
pub use stdio::Stdio;

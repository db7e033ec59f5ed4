//! Exec hygiene: which fds a child inherits, at which numbers; everything else closed
//! (invariants R4, R5). A plan, [`Inherit`], applied either by guard's own spawn,
//! [`Spawn`] (no `fork`: the cost does not grow with the heap; a guard [`Child`]), or on a
//! `std::process::Command` by [`CommandExt`] (std's `Child`, through `fork`). The guard
//! [`Child`] is a resource (its release waits and returns a failed status as an error),
//! with [`Stdio`] pipes.
//!
//! The receiving side of [`Inherit::listen_fds`], in the child, is
//! [`listen_fds()`](crate::listen_fds).

mod child;
mod exec;
mod image;
mod plan;
mod reaper;
mod registered;
mod release;
mod reserve;
mod spawn;
mod stdio;
mod switches;

pub use child::Child;
pub use exec::CommandExt;
pub use plan::{Inherit, listen_fds_command};
pub use registered::{ListenFd, Registered};
pub(crate) use reserve::reserved_numbers;
pub use spawn::Spawn;
pub use stdio::Stdio;
pub use switches::{CloexecStrategy, PidfdStrategy};

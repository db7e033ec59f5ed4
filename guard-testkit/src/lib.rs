//! Helpers shared by the integration tests of several guard packages (guard-core,
//! guard-os and the facade's cross-crate suites), so that each exists once: a package's
//! `tests/common` is private to that package. Not published; a dev-dependency only.
//!
//! Package-specific helpers (re-executing a test binary under a role variable, event
//! capture, result lines) stay in each package's `tests/common`.

mod blocker;
mod child;
mod counting;
mod fds;
mod serial;
mod size;
mod watchdog;

pub use blocker::Blocker;
pub use child::{output_of, payload, spawn_again_if_busy, wait_output};
pub use counting::Counting;
#[cfg(target_os = "linux")]
pub use fds::seqpacket_pair;
pub use fds::{fd_target, open_fds};
pub use serial::{serial, temp_path};
pub use size::{full, size};
pub use watchdog::{Hung, try_watchdog, watchdog};

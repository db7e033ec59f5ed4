//! Linux's own mechanisms: the fds open in the process and its thread count from `/proc`,
//! and the robust pthread mutex of a lock file. (The child's fd hygiene,
//! `close_range(CLOSE_RANGE_CLOEXEC)`, and the `clone(CLONE_VM | CLONE_VFORK)` spawn are
//! `sys/child.rs` and `sys/spawn.rs`.)

mod close_wait;
mod process;
mod robust_mutex;

pub(crate) use close_wait::closes_without_waiting;
pub(crate) use process::{fd_target, open_fds, thread_count};
pub(crate) use robust_mutex::RobustMutex;

/// The per-user directory for named mutexes the OS provides besides `$XDG_RUNTIME_DIR`:
/// none (a shared directory is used, with its trust checks).
pub(crate) fn user_dir() -> Option<std::path::PathBuf> {
    None
}

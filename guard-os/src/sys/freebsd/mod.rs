//! FreeBSD's own mechanisms: the fds open in the process, what each refers to and the
//! thread count from `sysctl(KERN_PROC)`, and `close_range(CLOSE_RANGE_CLOEXEC)` in the
//! child between `fork` and `exec`, and a spawn's fd steps (`addclosefrom_np`).

pub(crate) mod child;
mod process;
pub(crate) mod spawn;

pub(crate) use process::{fd_target, open_fds, thread_count};

/// The per-user directory for named mutexes the OS provides besides `$XDG_RUNTIME_DIR`:
/// none (a shared directory is used, with its trust checks).
pub(crate) fn user_dir() -> Option<std::path::PathBuf> {
    None
}

/// Whether closing `fd` cannot wait (see `sys/linux/close_wait.rs`): not classified here
/// (compile-checked only), so every counted fd's last drop goes to the finalizer, as before.
pub(crate) fn closes_without_waiting(_fd: rustix::fd::BorrowedFd<'_>) -> bool {
    false
}

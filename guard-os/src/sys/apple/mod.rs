//! macOS's own mechanisms: the fds open in the process and its thread count from
//! `proc_pidinfo`, what an fd refers to from `fcntl(F_GETPATH)`, the socket facts macOS
//! has no socket option for, the per-user temporary directory, and the child's fd listing
//! between `fork` and `exec`, and a spawn's fd steps (`POSIX_SPAWN_CLOEXEC_DEFAULT`,
//! `addinherit_np`).

pub(crate) mod child;
mod dirs;
mod process;
mod socket;
pub(crate) mod spawn;

pub(crate) use dirs::user_dir;
pub(crate) use process::{fd_target, open_fds, thread_count};
pub(crate) use socket::{is_listener, no_sigpipe, socket_protocol};

/// Whether closing `fd` cannot wait (see `sys/linux/close_wait.rs`): not classified here
/// (compile-checked only), so every counted fd's last drop goes to the finalizer, as before.
pub(crate) fn closes_without_waiting(_fd: rustix::fd::BorrowedFd<'_>) -> bool {
    false
}

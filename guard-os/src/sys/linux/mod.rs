//! Linux's own mechanisms: the fds open in the process and its thread count from `/proc`,
//! and the robust pthread mutex of a lock file. (The child's fd hygiene,
//! `close_range(CLOSE_RANGE_CLOEXEC)`, and the `clone(CLONE_VM | CLONE_VFORK)` spawn are
//! `sys/child.rs` and `sys/spawn.rs`.)

mod process;
mod robust_mutex;

pub(crate) use process::{fd_target, open_fds, thread_count};
pub(crate) use robust_mutex::RobustMutex;

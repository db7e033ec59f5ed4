//! What locking a lock file's mutex can get, whatever the mechanism (the robust pthread
//! mutex of `linux/robust_mutex.rs`, or the `flock` of `ipc_mutex/flock.rs`).

/// What locking a lock file's mutex got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Locked {
    /// Acquired.
    Yes,
    /// Acquired, but the previous holder died holding it (`EOWNERDEAD`): call
    /// `make_consistent` before unlocking, or it becomes unusable.
    OwnerDied,
    /// `try_lock` only: held by another thread, or by this one (`EBUSY`, `EDEADLK`).
    Busy,
}

/// Locking from the thread that holds the mutex.
pub(crate) use libc::EDEADLK;

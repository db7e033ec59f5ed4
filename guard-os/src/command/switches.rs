//! Test switches: each forces a fallback that this machine's kernel would not take, so
//! that tests can run it. Hidden from the docs; the defaults are what every caller gets.

/// How a child marks every fd it does not keep close-on-exec, each falling back to the next
/// where the system lacks it. Only for tests of the fallbacks
/// (`Inherit::__cloexec_strategy`); by default the child starts with `CloseRange`.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloexecStrategy {
    /// `close_range(CLOSE_RANGE_CLOEXEC)` (Linux 5.11+).
    CloseRange,
    /// `F_SETFD` on each number listed in `/proc/self/fd`.
    ProcFd,
    /// `F_SETFD` on every number below `RLIMIT_NOFILE`.
    Sweep,
}

/// How [`Spawn`](crate::Spawn) gets its child's pidfd on Linux (no effect elsewhere). Only
/// for tests of the fallbacks (`Spawn::__pidfd_strategy`); by default `ClonePidfd`.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PidfdStrategy {
    /// `clone(CLONE_PIDFD)` (Linux 5.2+), falling back to `pidfd_open` where it is refused.
    #[default]
    ClonePidfd,
    /// As if `CLONE_PIDFD` were refused: `clone` without it, then `pidfd_open` (Linux 5.3+).
    PidfdOpen,
    /// As if both were missing (Linux before 5.3): `pidfd_open` fails with `ENOSYS`, the
    /// child is killed and reaped, and the spawn fails (`op: "pidfd_open"`).
    PidfdOpenFails,
}

//! [`ListenOptions`]: [`listen_fds()`](crate::listen_fds) with options.

use super::receive::{self, ListenFds};
use crate::error::Result;
use std::panic::Location;

/// How to take passed fds: [`listen_fds()`](crate::listen_fds) with options.
///
/// # Examples
///
/// ```
/// // First thing in main, before any thread (a tokio runtime's included):
/// let passed = guard_os::ListenOptions::new().accept_missing_pid(true).take()?;
/// assert!(passed.is_empty()); // nothing passed to a doctest
/// # Ok::<(), guard_os::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ListenOptions {
    missing_pid: bool,
}

impl ListenOptions {
    /// The options of [`listen_fds()`](crate::listen_fds): `LISTEN_PID` required.
    ///
    /// # Examples
    ///
    /// See [`ListenOptions`].
    pub fn new() -> ListenOptions {
        ListenOptions::default()
    }

    /// Whether fds are taken when `LISTEN_FDS` is set but `LISTEN_PID` is not (default:
    /// no, as `sd_listen_fds(3)`). Tools that pass sockets without knowing the pid of the
    /// process that will take them (`systemfd` in front of `cargo watch`, a wrapper that
    /// execs) leave it unset, and the `listenfd` crate takes them: turn this on to do the
    /// same. A `LISTEN_PID` that is set must still be this process's.
    ///
    /// # Examples
    ///
    /// See [`ListenOptions`].
    #[must_use]
    pub fn accept_missing_pid(mut self, on: bool) -> ListenOptions {
        self.missing_pid = on;
        self
    }

    /// Takes the passed fds, as [`listen_fds()`](crate::listen_fds) (only in the process's
    /// only thread; once per process; the variables removed).
    ///
    /// # Errors
    ///
    /// As [`listen_fds()`](crate::listen_fds).
    ///
    /// # Examples
    ///
    /// See [`ListenOptions`].
    #[track_caller]
    pub fn take(self) -> Result<ListenFds> {
        receive::checked(self.missing_pid, Location::caller())
    }

    /// Takes the passed fds without the thread check, as
    /// [`listen_fds_unchecked`](crate::listen_fds_unchecked).
    ///
    /// # Safety
    ///
    /// As [`listen_fds_unchecked`](crate::listen_fds_unchecked): no other thread reads or
    /// writes the environment other than through `std::env` while this runs.
    ///
    /// # Errors
    ///
    /// As [`take`](Self::take), without the two thread errors.
    ///
    /// # Examples
    ///
    /// ```
    /// // SAFETY: the test harness's other threads do not touch the environment meanwhile.
    /// let passed = unsafe { guard_os::ListenOptions::new().take_unchecked() }?;
    /// assert!(passed.is_empty());
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub unsafe fn take_unchecked(self) -> Result<ListenFds> {
        // SAFETY: forwarded: the caller upholds `unchecked`'s contract, which is this one's.
        unsafe { receive::unchecked(self.missing_pid, Location::caller()) }
    }
}

//! [`Child`]: a process started by [`Spawn`](crate::Spawn), waited for and signalled
//! through its pidfd.
//!
//! Seams for what comes next: the child as a unique resource (its release waits) or a
//! `Counted` one (reaped on the finalizer) wraps this handle and its `pidfd`; stdio pipes
//! become fields set by `Spawn` beside `pid`.

use super::reaper;
use crate::error::{Error, Result};
use crate::sys::{
    self,
    spawn::{kill, wait},
};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// A child process started by [`Spawn::spawn`](crate::Spawn::spawn).
///
/// Signals go through a pidfd (created with the child, `CLONE_PIDFD`), so they reach this
/// child and never a process that got its pid after it was reaped.
///
/// # Drop
///
/// Dropping a `Child` never blocks and never leaves a zombie: a child that has exited is
/// reaped at once; one still running keeps running, and guard-os's reaper thread (started
/// at the first such drop) reaps it when it exits. It is not killed: call
/// [`kill`](Self::kill) first for that.
///
/// # Examples
///
/// ```
/// let mut child = guard_os::Spawn::from_command(&std::process::Command::new("/bin/true")).spawn()?;
/// assert!(child.id() > 0);
/// assert!(child.wait()?.success());
/// # Ok::<(), guard_os::Error>(())
/// ```
#[derive(Debug)]
pub struct Child {
    pid: u32,
    /// `None` only once handed to the reaper, in `drop`.
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
}

impl Child {
    pub(super) fn new(pid: u32, pidfd: OwnedFd) -> Child {
        Child {
            pid,
            pidfd: Some(pidfd),
            status: None,
        }
    }

    /// The child's pid. Once the child was waited for, the pid may belong to another
    /// process: signal it through [`kill`](Self::kill), not with the number.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut child = guard_os::Spawn::from_command(&std::process::Command::new("/bin/true")).spawn()?;
    /// assert!(std::path::Path::new(&format!("/proc/{}", child.id())).exists()); // not reaped yet
    /// child.wait()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Waits for the child to exit and returns its status (at once if it was waited for
    /// already). A child killed by a signal has a status with
    /// [`ExitStatusExt::signal`] set.
    ///
    /// # Errors
    ///
    /// [`Error::Wait`]: [`waitid(P_PIDFD)`](https://man7.org/linux/man-pages/man2/waitid.2.html)
    /// failed (someone else reaped the child: `ECHILD`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = std::process::Command::new("/bin/sh");
    /// cmd.args(["-c", "exit 3"]);
    /// let status = guard_os::Spawn::from_command(&cmd).spawn()?.wait()?;
    /// assert_eq!(status.code(), Some(3));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn wait(&mut self) -> Result<ExitStatus> {
        loop {
            // A blocking `waitid` returns a status; looping keeps that off a panic path.
            if let Some(status) = self.reap(true)? {
                return Ok(status);
            }
        }
    }

    /// The child's status if it has exited (reaping it), `None` if it still runs.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = std::process::Command::new("/bin/sleep");
    /// cmd.arg("10");
    /// let mut child = guard_os::Spawn::from_command(&cmd).spawn()?;
    /// assert!(child.try_wait()?.is_none());
    /// child.kill()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.reap(false)
    }

    /// Sends `SIGKILL` to the child through its pidfd; `Ok` if it has exited already.
    ///
    /// # Errors
    ///
    /// [`Error::Kill`]: [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
    /// failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// let mut cmd = std::process::Command::new("/bin/sleep");
    /// cmd.arg("10");
    /// let mut child = guard_os::Spawn::from_command(&cmd).spawn()?;
    /// child.kill()?;
    /// assert_eq!(child.wait()?.signal(), Some(libc::SIGKILL));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn kill(&mut self) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        let Some(pidfd) = &self.pidfd else {
            return Ok(());
        };
        match kill(pidfd) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(sys::ESRCH) => Ok(()), // exited meanwhile
            Err(source) => Err(Error::Kill {
                pid: self.pid,
                source,
            }),
        }
    }

    /// Waits (blocking or not) unless the status is known.
    fn reap(&mut self, block: bool) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let Some(pidfd) = &self.pidfd else {
            return Ok(None); // only in `drop`, after the reaper took it
        };
        let raw = wait(pidfd, block).map_err(|source| Error::Wait {
            pid: self.pid,
            source,
        })?;
        self.status = raw.map(ExitStatus::from_raw);
        Ok(self.status)
    }
}

impl AsFd for Child {
    /// The child's pidfd: readable once the child has exited (so it can be polled, or
    /// registered with an event loop), valid until the `Child` is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::{AsFd, AsRawFd};
    /// let mut child = guard_os::Spawn::from_command(&std::process::Command::new("/bin/true")).spawn()?;
    /// assert!(child.as_fd().as_raw_fd() > 2);
    /// child.wait()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.pidfd {
            Some(pidfd) => pidfd.as_fd(),
            None => unreachable!("the pidfd is taken only in `drop`"),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        match self.try_wait() {
            Ok(Some(_)) | Err(_) => {} // reaped, or not ours to reap (ECHILD)
            Ok(None) => {
                if let Some(pidfd) = self.pidfd.take() {
                    reaper::adopt(pidfd);
                }
            }
        }
    }
}

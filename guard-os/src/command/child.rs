//! [`Child`]: a process started by [`Spawn`](crate::Spawn), waited for and signalled
//! through its pidfd (macOS, FreeBSD: its pid, ours until reaped), with its stdio pipes. Its release (a unique resource, or counted)
//! is in `release.rs`.

use super::reaper;
use super::stdio::StdioFds;
use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner};
use crate::pipe::{PipeReader, PipeWriter};
use crate::sys::{self, spawn::wait};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::panic::Location;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// A child process started by [`Spawn::spawn`](crate::Spawn::spawn): what
/// `std::process::Child` offers (wait, try_wait, kill, id, stdio handles,
/// [`wait_with_output`](Self::wait_with_output)), and a resource.
///
/// Signals reach this child and never a process that got its pid after it was reaped:
///
/// - **Linux**: they go through a pidfd (created with the child, `CLONE_PIDFD`), and
///   waits through `waitid(P_PIDFD)`.
/// - **macOS and FreeBSD** (no pidfd): through `kill` and `waitpid` on the pid, which
///   stays this child's until it is reaped, and only this `Child` (or guard-os's reaper,
///   once it was dropped) reaps it. Anything else in the process that reaps children
///   (`waitpid(-1)`, `SIGCHLD` set to `SIG_IGN`) breaks that guarantee, and a `wait` then
///   fails with `ECHILD`. Its fd ([`AsFd`]) is a `kqueue` watching its exit
///   (`EVFILT_PROC`, `NOTE_EXIT`), readable once it has exited, as a pidfd is.
///
/// That fd is registered: it shows in [`fds()`](crate::fds) as owned by a `Child`, with
/// the `spawn` call's site.
///
/// # As a resource
///
/// - **Unique**, in a [`scope`](guard_core::scope): its release closes its stdin (the
///   child sees EOF), waits for it (after the signal and grace period of
///   [`Spawn::kill_on_release`](crate::Spawn::kill_on_release), if set) and returns a
///   non-success status as [`Error::ChildFailed`], so the scope returns it.
/// - **Counted**, in a [`Counted<Child>`](guard_core::Counted): the same release runs on
///   the finalizer when the last handle goes, so the child is reaped there (never a
///   zombie; [`flush`](guard_core::finalizer::flush) returns once it is), and a failure goes to the event
///   hook. That release waits for the child: give a child that may run on
///   [`kill_on_release`](crate::Spawn::kill_on_release), or the finalizer waits for it
///   (and reports it stuck past its deadline).
///
/// # Drop
///
/// Dropping a `Child` that was not released never blocks and never leaves a zombie: with
/// [`kill_on_release`](crate::Spawn::kill_on_release) it gets `SIGKILL` at once (tokio's
/// `kill_on_drop`); a child that has exited is reaped at once; one still running keeps
/// running, and guard-os's reaper thread reaps it when it exits. If its status was never
/// collected (by [`wait`](Self::wait), [`try_wait`](Self::try_wait), a release), the drop
/// is reported as an unreleased unique resource
/// ([`guard_core::report::unreleased`]), as any unique resource's is.
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
    pub(super) pid: u32,
    pub(super) program: PathBuf,
    /// `None` only once handed to the reaper, in `drop`.
    pub(super) pidfd: Option<Fd>,
    pub(super) status: Option<ExitStatus>,
    pub(super) stdin: Option<PipeWriter>,
    pub(super) stdout: Option<PipeReader>,
    pub(super) stderr: Option<PipeReader>,
    /// The signal and grace period of `Spawn::kill_on_release`.
    pub(super) kill_on_release: Option<(i32, Duration)>,
}

impl Child {
    pub(super) fn new(
        pid: u32,
        pidfd: OwnedFd,
        program: PathBuf,
        stdio: StdioFds,
        kill_on_release: Option<(i32, Duration)>,
        site: &'static Location<'static>,
    ) -> Child {
        Child {
            pid,
            program,
            pidfd: Some(Fd::register(pidfd, FdOwner::Child, site)),
            status: None,
            stdin: stdio.stdin,
            stdout: stdio.stdout,
            stderr: stdio.stderr,
            kill_on_release,
        }
    }

    /// The child's pid. Once the child was waited for, the pid may belong to another
    /// process: signal it through [`kill`](Self::kill), not with the number.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut child = guard_os::Spawn::from_command(&std::process::Command::new("/bin/true")).spawn()?;
    /// let pid = child.id().to_string();
    /// let exists = std::process::Command::new("kill").args(["-0", &pid]).status()?;
    /// assert!(exists.success()); // not reaped yet
    /// child.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Takes the parent's end of the child's stdin, set up with
    /// [`Stdio::Piped`](crate::Stdio::Piped): `None` otherwise, or once taken. It is a
    /// unique resource: the child sees EOF when it is released (a `Child`'s release or
    /// [`wait_with_output`](Self::wait_with_output) closes it if it was not taken).
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::{Spawn, Stdio};
    /// use std::io::Write;
    /// let mut cmd = std::process::Command::new("/bin/sh");
    /// cmd.args(["-c", "test \"$(cat)\" = ping"]);
    /// let mut child = Spawn::from_command(&cmd).stdin(Stdio::Piped).spawn()?;
    /// let mut stdin = child.take_stdin().unwrap();
    /// stdin.write_all(b"ping")?;
    /// stdin.close()?; // EOF for `cat`
    /// assert!(child.wait()?.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_stdin(&mut self) -> Option<PipeWriter> {
        self.stdin.take()
    }

    /// Takes the parent's end of the child's stdout, set up with
    /// [`Stdio::Piped`](crate::Stdio::Piped): `None` otherwise, or once taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::{Spawn, Stdio};
    /// use std::io::Read;
    /// let mut cmd = std::process::Command::new("/bin/echo");
    /// cmd.arg("out");
    /// let mut child = Spawn::from_command(&cmd).stdout(Stdio::Piped).spawn()?;
    /// let mut got = String::new();
    /// child.take_stdout().unwrap().read_to_string(&mut got)?;
    /// assert_eq!(got, "out\n");
    /// assert!(child.take_stdout().is_none());
    /// child.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_stdout(&mut self) -> Option<PipeReader> {
        self.stdout.take()
    }

    /// Takes the parent's end of the child's stderr, set up with
    /// [`Stdio::Piped`](crate::Stdio::Piped): `None` otherwise, or once taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::{Spawn, Stdio};
    /// use std::io::Read;
    /// let mut cmd = std::process::Command::new("/bin/sh");
    /// cmd.args(["-c", "echo err >&2"]);
    /// let mut child = Spawn::from_command(&cmd).stderr(Stdio::Piped).spawn()?;
    /// let mut got = String::new();
    /// child.take_stderr().unwrap().read_to_string(&mut got)?;
    /// assert_eq!(got, "err\n");
    /// child.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_stderr(&mut self) -> Option<PipeReader> {
        self.stderr.take()
    }

    /// Waits for the child to exit and returns its status (at once if it was waited for
    /// already). A child killed by a signal has a status with
    /// [`ExitStatusExt::signal`] set. Its stdin, if piped and not taken, stays open: close
    /// it first ([`take_stdin`](Self::take_stdin)) if the child reads to EOF.
    ///
    /// # Errors
    ///
    /// [`Error::Wait`]: [`waitid(P_PIDFD)`](https://man7.org/linux/man-pages/man2/waitid.2.html)
    /// (macOS, FreeBSD: `waitpid`) failed (someone else reaped the child: `ECHILD`).
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
    /// # child.wait()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.reap(false)
    }

    /// Sends `SIGKILL` to the child through its pidfd (macOS, FreeBSD: `kill` on its pid,
    /// not reaped yet); `Ok` if it has exited already.
    ///
    /// # Errors
    ///
    /// [`Error::Kill`]: [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
    /// (macOS, FreeBSD: `kill(2)`) failed.
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
        self.signal(libc::SIGKILL)
    }

    /// Sends `signal` (a number, as `kill(2)` takes it: `libc::SIGTERM`) to the child
    /// through its pidfd (macOS, FreeBSD: `kill` on its pid, not reaped yet); `Ok` if it
    /// has exited already.
    ///
    /// # Errors
    ///
    /// [`Error::Kill`]: [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
    /// (macOS, FreeBSD: `kill(2)`) failed (`EINVAL` for a number that is no signal).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// let mut cmd = std::process::Command::new("/bin/sleep");
    /// cmd.arg("10");
    /// let mut child = guard_os::Spawn::from_command(&cmd).spawn()?;
    /// child.signal(libc::SIGTERM)?;
    /// assert_eq!(child.wait()?.signal(), Some(libc::SIGTERM));
    /// assert!(child.signal(1000).is_ok()); // reaped: nothing to signal
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn signal(&mut self, signal: i32) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        let Some(pidfd) = &self.pidfd else {
            return Ok(());
        };
        match sys::spawn::send_signal(self.pid, pidfd, signal) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(sys::ESRCH) => Ok(()), // exited meanwhile
            Err(source) => Err(Error::Kill {
                pid: self.pid,
                source,
            }),
        }
    }

    /// Waits (blocking or not) unless the status is known.
    pub(super) fn reap(&mut self, block: bool) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let Some(pidfd) = &self.pidfd else {
            return Ok(None); // only in `drop`, after the reaper took it
        };
        let raw = wait(self.pid, pidfd, block).map_err(|source| Error::Wait {
            pid: self.pid,
            source,
        })?;
        self.status = raw.map(ExitStatus::from_raw);
        Ok(self.status)
    }
}

impl AsFd for Child {
    /// The child's pidfd (macOS, FreeBSD: a `kqueue` watching its exit): readable once
    /// the child has exited (so it can be polled, or registered with an event loop),
    /// valid until the `Child` is dropped.
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
        if self.status.is_some() || self.pidfd.is_none() {
            return; // waited for, or released
        }
        let origin = self.pidfd.as_ref().and_then(Fd::registered_origin);
        if let Some(stdin) = self.stdin.take() {
            let _ = stdin.close(); // the child sees EOF; the drop is reported once, below
        }
        if self.kill_on_release.is_some() {
            let _ = self.kill();
        }
        match self.try_wait() {
            Ok(Some(_)) | Err(_) => {} // reaped, or not ours to reap (ECHILD)
            Ok(None) => {
                if let Some(pidfd) = self.pidfd.take() {
                    reaper::adopt(self.pid, pidfd);
                }
            }
        }
        if let Some(origin) = origin {
            guard_core::report::unreleased(origin);
        }
    }
}

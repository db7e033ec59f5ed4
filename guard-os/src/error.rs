//! guard-os's one error type: every variant names the operation that failed, and its
//! message ends with the OS error, on the same line.

mod display;

use guard_core::Kind;
use guard_core::event::{self, Event};
use std::io;
use std::path::PathBuf;

/// `Result` with guard-os's [`Error`].
///
/// # Examples
///
/// ```
/// fn open_both(a: &str, b: &str) -> guard_os::Result<(guard_os::ReadFile, guard_os::ReadFile)> {
///     Ok((guard_os::ReadFile::open(a)?, guard_os::ReadFile::open(b)?))
/// }
/// assert!(open_both("/dev/null", "/no/such/file").is_err()); // the first one is closed
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error guard-os produces. Each variant says which operation failed, and the
/// message ends with the OS error (`opening `/x` failed: No such file or directory (os
/// error 2)`). That OS error is [`Error::io_error`] (and [`Error::raw_os_error`]), not
/// the [`source`](std::error::Error::source): a report that prints the source chain
/// (anyhow's `{:#}`) shows it once. `?` converts it into `guard::Error` (this crate's
/// `guard_core::Error`), `Box<dyn Error + Send + Sync>`, `anyhow::Error` and `io::Error`
/// (which keeps the OS error's kind).
///
/// # Examples
///
/// ```
/// let err = guard_os::ReadFile::open("/no/such/file").unwrap_err();
/// assert!(matches!(err, guard_os::Error::Open { .. }));
/// assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
/// assert_eq!(
///     err.to_string(),
///     "opening `/no/such/file` failed: No such file or directory (os error 2)"
/// );
/// assert!(std::error::Error::source(&err).is_none()); // the cause is in the message
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `open(2)` failed.
    Open {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// `pipe2(2)` failed.
    Pipe {
        /// The OS error.
        source: io::Error,
    },
    /// A socket operation failed (`socket`, `bind`, `listen`, `connect`, `accept`, ...).
    Socket {
        /// The operation, with its address where there is one (`"bind 127.0.0.1:80"`).
        op: String,
        /// The OS error.
        source: io::Error,
    },
    /// Writing buffered data out before a release failed.
    Flush {
        /// The fd number.
        fd: i32,
        /// The OS error.
        source: io::Error,
    },
    /// `fsync(2)` failed.
    Sync {
        /// The fd number.
        fd: i32,
        /// The OS error.
        source: io::Error,
    },
    /// `fstat(2)` failed.
    Stat {
        /// The fd number.
        fd: i32,
        /// The OS error.
        source: io::Error,
    },
    /// `shutdown(2)` failed.
    Shutdown {
        /// The fd number.
        fd: i32,
        /// The OS error.
        source: io::Error,
    },
    /// `close(2)` failed. The fd is closed anyway (Linux frees the number even on `EINTR`),
    /// its registry entry is gone, and the close is never retried.
    Close {
        /// The fd number (free now).
        fd: i32,
        /// The OS error (`EBADF`: it had been closed behind the registry's back).
        source: io::Error,
    },
    /// Duplicating an fd (`fcntl(F_DUPFD_CLOEXEC)`) failed.
    Dup {
        /// The fd number.
        fd: i32,
        /// The OS error.
        source: io::Error,
    },
    /// Reading the list of open fds failed (`/proc/self/fd` on Linux,
    /// `proc_pidinfo(PROC_PIDLISTFDS)` on macOS, `sysctl(kern.proc.filedesc)` on FreeBSD).
    ListFds {
        /// The OS error.
        source: io::Error,
    },
    /// Taking, releasing or recording an OS mutex failed.
    Lock {
        /// What was being done (`"flock"`, `"writing the owner record"`, ...).
        op: &'static str,
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The previous holder of an OS mutex died while holding it (and nobody has marked the
    /// protected state consistent since). Produced when a
    /// [`LockError::OwnerDied`](crate::LockError) is converted with `?`.
    OwnerDied {
        /// The lock file.
        path: PathBuf,
        /// The pid of the holder that died.
        pid: u32,
    },
    /// An OS mutex name that cannot name a file.
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An OS mutex's lock file that another user could have planted or can change: it does
    /// not belong to this process's effective uid (or root), or group or others may write
    /// it. It is not locked, waited on or read.
    UntrustedLockFile {
        /// The lock file.
        path: PathBuf,
        /// Its owner's uid.
        uid: u32,
        /// Its mode bits (`st_mode & 0o7777`).
        mode: u32,
        /// This process's effective uid.
        expected: u32,
    },
    /// An fd to pass to a child is closed (it was closed behind the registry's back).
    InheritClosed {
        /// The fd number.
        fd: i32,
    },
    /// Two fds were asked to land on one number in a child.
    InheritCollision {
        /// The contested number in the child.
        target: i32,
        /// The first fd asked for it.
        first: i32,
        /// The second fd asked for it.
        second: i32,
    },
    /// A target number on the wrong side of stdio: 0, 1 or 2 not asked for with
    /// [`Inherit::keep_as_stdio`](crate::Inherit::keep_as_stdio), 3 or above asked for with
    /// it (it takes only 0-2), or a negative number. The message names the call to use.
    InheritStdio {
        /// The fd number (the caller's, also for
        /// [`Inherit::keep_foreign_at`](crate::Inherit::keep_foreign_at)).
        fd: i32,
        /// The refused target.
        target: i32,
    },
    /// A target number not below the soft `RLIMIT_NOFILE`
    /// ([`getrlimit(2)`](https://man7.org/linux/man-pages/man2/getrlimit.2.html)): no fd can
    /// have it, so the child's `dup2` could only fail.
    InheritTargetTooHigh {
        /// The fd number (the caller's, also for
        /// [`Inherit::keep_foreign_at`](crate::Inherit::keep_foreign_at)).
        fd: i32,
        /// The refused target.
        target: i32,
        /// The soft `RLIMIT_NOFILE` when the plan was checked.
        limit: i32,
    },
    /// Reserving a free target number in the parent failed (opening `/dev/null`, or
    /// [`fcntl(F_DUPFD_CLOEXEC)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)): see
    /// [`CommandExt::inherit`](crate::CommandExt::inherit) for why targets are reserved.
    InheritReserve {
        /// The target number.
        target: i32,
        /// The OS error.
        source: io::Error,
    },
    /// A `LISTEN_PID`, `LISTEN_FDS` or `LISTEN_FDNAMES` value that does not follow the
    /// socket-passing convention ([`listen_fds()`](crate::listen_fds)). The variables are
    /// removed anyway and nothing is taken.
    ListenFdsInvalid {
        /// The variable.
        var: &'static str,
        /// Its value (lossily decoded if it is not UTF-8).
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A number in the passed range (`3..3 + LISTEN_FDS`) is not open
    /// ([`fcntl(F_GETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html) failed): the
    /// sender passed fewer fds than it said. Nothing is taken.
    ListenFdsClosed {
        /// The fd number.
        fd: i32,
        /// The OS error (`EBADF`).
        source: io::Error,
    },
    /// A number in the passed range is registered already: something took it before
    /// [`listen_fds()`](crate::listen_fds) was called (or it was closed and the number
    /// reused). Nothing is taken.
    ListenFdsRegistered {
        /// The fd number.
        fd: i32,
        /// The type that owns it.
        type_name: &'static str,
    },
    /// [`listen_fds()`](crate::listen_fds) was called while other threads run: it would
    /// have to change the environment under them. Nothing is changed or taken; call it
    /// before starting threads, or see [`listen_fds_unchecked`](crate::listen_fds_unchecked).
    ListenFdsThreads {
        /// How many threads the process had (this one included).
        threads: usize,
    },
    /// Counting this process's threads failed (`/proc/self/status` on Linux,
    /// `proc_pidinfo(PROC_PIDTASKINFO)` on macOS, `sysctl(kern.proc.pid)` on FreeBSD).
    ListenFdsThreadCount {
        /// The OS error.
        source: io::Error,
    },
    /// Converting an [`Fd`](crate::Fd) into a socket type it is not
    /// (`TcpListener::try_from(fd)`, ...). [`TryFromFdError`](crate::TryFromFdError)
    /// carries it, with the fd given back.
    Convert {
        /// The fd number.
        fd: i32,
        /// The type asked for (`"TcpListener"`).
        into: &'static str,
        /// What the fd is (`"a SOCK_DGRAM socket"`, `"not a socket"`, ...).
        found: String,
    },
    /// Starting a child with [`Spawn::spawn`](crate::Spawn::spawn) failed: creating it, or
    /// a step the child makes before `exec` (`op` says which), or `exec` itself (the
    /// program is missing: `ENOENT`). A child that failed was reaped already.
    Spawn {
        /// The program as the `Command` named it.
        program: PathBuf,
        /// The failing step: `"clone"`, `"placing the kept fds"`, `"chdir"`, `"exec"`,
        /// `"pidfd_open"`; on macOS and FreeBSD `"posix_spawn setup"`, `"placing the kept
        /// fds"`, `"exec"` (`posix_spawn`'s result, also for its `chdir` and `dup2`s),
        /// `"kqueue"`.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A program, argument, environment variable or directory for
    /// [`Spawn`](crate::Spawn) contains a NUL byte, which `execve(2)` cannot pass.
    SpawnNul {
        /// The program as the `Command` named it.
        program: PathBuf,
        /// `"program"`, `"argument"`, `"environment variable"` or `"directory"`.
        what: &'static str,
        /// The offending value.
        value: std::ffi::OsString,
    },
    /// Waiting for a [`Child`](crate::Child)
    /// ([`waitid(P_PIDFD)`](https://man7.org/linux/man-pages/man2/waitid.2.html)) failed.
    Wait {
        /// The child's pid.
        pid: u32,
        /// The OS error.
        source: io::Error,
    },
    /// Signalling a [`Child`](crate::Child)
    /// ([`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html))
    /// failed.
    Kill {
        /// The child's pid.
        pid: u32,
        /// The OS error.
        source: io::Error,
    },
    /// A [`Child`](crate::Child) ended without success: an exit code other than 0, or a
    /// signal it did not get from its own release (see
    /// [`Spawn::kill_on_release`](crate::Spawn::kill_on_release)). Its release returns it,
    /// so a [`scope`](guard_core::scope) does.
    ChildFailed {
        /// The program as the `Command` named it.
        program: PathBuf,
        /// The child's pid (reaped: it may belong to another process by now).
        pid: u32,
        /// How it ended: [`code`](std::process::ExitStatus::code) or
        /// [`signal`](std::os::unix::process::ExitStatusExt::signal).
        status: std::process::ExitStatus,
    },
    /// Several steps of one release failed: every error is here, none dropped.
    Release {
        /// The first error (its OS error is [`Error::io_error`]'s).
        first: Box<Error>,
        /// The others, in the order they happened.
        rest: Vec<Error>,
    },
}

impl Error {
    /// The OS error code behind this error, if there is one (for [`Error::Release`], the
    /// first error's).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = guard_os::Error::InheritClosed { fd: 9 };
    /// assert_eq!(err.raw_os_error(), None);
    /// ```
    pub fn raw_os_error(&self) -> Option<i32> {
        self.io_error().and_then(io::Error::raw_os_error)
    }

    /// The [`io::Error`] behind this error, if there is one (for [`Error::Release`], the
    /// first error's): the OS error its message ends with, with its
    /// [`kind`](io::Error::kind).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = guard_os::WriteFile::create("/no/such/dir/f").unwrap_err();
    /// assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Release { first, .. } => first.io_error(),
            _ => self.cause(),
        }
    }

    /// The OS error of this very error (not of a [`Error::Release`]'s parts): the end of
    /// its message.
    fn cause(&self) -> Option<&io::Error> {
        match self {
            Error::Open { source, .. }
            | Error::Pipe { source }
            | Error::Socket { source, .. }
            | Error::Flush { source, .. }
            | Error::Sync { source, .. }
            | Error::Stat { source, .. }
            | Error::Shutdown { source, .. }
            | Error::Close { source, .. }
            | Error::Dup { source, .. }
            | Error::InheritReserve { source, .. }
            | Error::Spawn { source, .. }
            | Error::Wait { source, .. }
            | Error::Kill { source, .. }
            | Error::ListFds { source }
            | Error::ListenFdsClosed { source, .. }
            | Error::ListenFdsThreadCount { source }
            | Error::Lock { source, .. } => Some(source),
            // Listed, not `_`: a new variant with an OS error must say so here, or its
            // message would silently leave the cause out.
            Error::OwnerDied { .. }
            | Error::InvalidName { .. }
            | Error::UntrustedLockFile { .. }
            | Error::InheritClosed { .. }
            | Error::InheritCollision { .. }
            | Error::InheritStdio { .. }
            | Error::InheritTargetTooHigh { .. }
            | Error::ListenFdsInvalid { .. }
            | Error::ListenFdsRegistered { .. }
            | Error::ListenFdsThreads { .. }
            | Error::Convert { .. }
            | Error::SpawnNul { .. }
            | Error::ChildFailed { .. }
            | Error::Release { .. } => None,
        }
    }

    /// All the errors of one release as one result: `Ok` if there are none, the error
    /// itself if there is one, [`Error::Release`] if there are several.
    pub(crate) fn collect(mut errors: Vec<Error>) -> Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        let first = errors.remove(0);
        if errors.is_empty() {
            return Err(first);
        }
        Err(Error::Release {
            first: Box::new(first),
            rest: errors,
        })
    }

    pub(crate) fn socket(op: impl Into<String>, source: io::Error) -> Error {
        Error::Socket {
            op: op.into(),
            source,
        }
    }
}

impl From<Error> for io::Error {
    /// Keeps the OS error kind, with the guard-os error as the payload.
    fn from(error: Error) -> io::Error {
        let kind = error
            .io_error()
            .map_or(io::ErrorKind::Other, io::Error::kind);
        io::Error::new(kind, error)
    }
}

/// Sends a release error that has no caller to go to (an fd whose close was deferred to
/// the end of a lease, an fd or unique resource dropped without release) to guard-core's
/// event hook, as the failed release of `resource` (its type name) of `kind`, with the
/// error itself (hooks can downcast it to [`Error`]). The hook runs on this thread, as it
/// does for guard-core's own lost errors (a scope's, an unreleased drop); no registry lock
/// is held here. Never panics (`emit` catches the hook's panics).
pub(crate) fn report(resource: &'static str, kind: Kind, error: &Error) {
    event::emit(&Event::ReleaseFailed {
        resource,
        kind,
        error,
    });
}

/// So that `?` on a guard-os result works in code returning guard's umbrella error.
///
/// # Examples
///
/// ```
/// fn open() -> Result<guard_os::ReadFile, guard_core::Error> {
///     Ok(guard_os::ReadFile::open("/dev/null")?)
/// }
/// assert!(open().is_ok());
/// ```
impl From<Error> for guard_core::Error {
    fn from(error: Error) -> Self {
        guard_core::Error::Other(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(fd: i32) -> Error {
        Error::Close {
            fd,
            source: io::Error::from_raw_os_error(libc::EBADF),
        }
    }

    #[test]
    fn collect_keeps_every_error() {
        assert!(Error::collect(Vec::new()).is_ok());
        assert!(matches!(
            Error::collect(vec![closed(3)]),
            Err(Error::Close { fd: 3, .. })
        ));
        let e = Error::collect(vec![closed(3), closed(4)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "2 errors while releasing: closing fd 3 failed: Bad file descriptor (os error 9); \
             closing fd 4 failed: Bad file descriptor (os error 9)"
        );
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        assert!(std::error::Error::source(&e).is_none()); // every cause is in the message
    }

    #[test]
    fn the_os_error_is_on_the_same_line_and_not_repeated_by_the_chain() {
        let e = closed(5);
        assert_eq!(
            e.to_string(),
            "closing fd 5 failed: Bad file descriptor (os error 9)"
        );
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        let e = Error::Open {
            path: "/x".into(),
            source: io::ErrorKind::NotFound.into(),
        };
        assert_eq!(e.to_string(), "opening `/x` failed: entity not found");
        assert_eq!(
            e.io_error().map(io::Error::kind),
            Some(io::ErrorKind::NotFound)
        );
        // An OS error with a source of its own: the chain goes on from there.
        let inner = io::Error::new(io::ErrorKind::InvalidData, closed(6));
        let e = Error::socket("recv", inner);
        assert_eq!(
            e.to_string(),
            "recv failed: closing fd 6 failed: Bad file descriptor (os error 9)"
        );
        assert!(std::error::Error::source(&e).is_none());
        // Without an OS error, the message is the operation's alone.
        assert_eq!(
            Error::InheritClosed { fd: 9 }.to_string(),
            "cannot pass fd 9 to a child: it is closed"
        );
    }

    #[test]
    fn stdio_errors_advise_the_call_that_takes_the_number() {
        let text = |target| Error::InheritStdio { fd: 7, target }.to_string();
        assert_eq!(
            text(1),
            "cannot pass fd 7 to a child as fd 1: 0-2 are stdio (use keep_as_stdio)"
        );
        assert_eq!(
            text(3),
            "cannot pass fd 7 to a child as fd 3: keep_as_stdio takes only 0-2 (use keep_at)"
        );
        assert_eq!(
            text(-1),
            "cannot pass fd 7 to a child as fd -1: fd numbers are never negative"
        );
    }
}

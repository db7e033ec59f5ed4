//! How [`Error`] reads: the operation that failed, then its OS error on the same line; and
//! so what its [`source`](std::error::Error::source) is (not that OS error again).

use super::Error;
use std::fmt;

/// Each error's message (with its cause), `; `-separated.
fn list(f: &mut fmt::Formatter<'_>, first: &Error, rest: &[Error]) -> fmt::Result {
    write!(f, "{first}")?;
    rest.iter().try_for_each(|e| write!(f, "; {e}"))
}

/// The operation that failed, then the OS error on the same line
/// (`opening `/x` failed: No such file or directory (os error 2)`).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Open { path, .. } => write!(f, "opening `{}` failed", path.display()),
            Error::Pipe { .. } => write!(f, "creating a pipe failed"),
            Error::Socket { op, .. } => write!(f, "{op} failed"),
            Error::Flush { fd, .. } => write!(f, "flushing fd {fd} failed"),
            Error::Sync { fd, .. } => write!(f, "syncing fd {fd} to disk failed"),
            Error::Stat { fd, .. } => write!(f, "reading the status of fd {fd} failed"),
            Error::Shutdown { fd, .. } => {
                write!(f, "shutting down the write side of fd {fd} failed")
            }
            Error::Close { fd, .. } => write!(f, "closing fd {fd} failed"),
            Error::Dup { fd, .. } => write!(f, "duplicating fd {fd} failed"),
            Error::ListFds { .. } => write!(f, "listing the process's open fds failed"),
            Error::Lock { op, path, .. } => {
                write!(f, "{op} on the OS mutex `{}` failed", path.display())
            }
            Error::OwnerDied { path, pid } => write!(
                f,
                "the holder (pid {pid}) of the OS mutex `{}` died while holding it",
                path.display()
            ),
            Error::InvalidName { name, reason } => {
                write!(f, "invalid OS mutex name {name:?}: {reason}")
            }
            Error::UntrustedLockFile {
                path,
                uid,
                mode,
                expected,
            } => write!(
                f,
                "refusing the OS mutex lock file `{}`: it belongs to uid {uid} with mode {mode:04o}; a lock file must belong to uid {expected} or root and not be writable by group or others",
                path.display()
            ),
            Error::InheritClosed { fd } => {
                write!(f, "cannot pass fd {fd} to a child: it is closed")
            }
            Error::InheritCollision {
                target,
                first,
                second,
            } => write!(
                f,
                "cannot pass fds {first} and {second} to a child both as fd {target}"
            ),
            Error::InheritStdio { fd, target } => write!(
                f,
                "cannot pass fd {fd} to a child as fd {target}: {}",
                stdio_advice(*target)
            ),
            Error::InheritTargetTooHigh { fd, target, limit } => write!(
                f,
                "cannot pass fd {fd} to a child as fd {target}: not below RLIMIT_NOFILE ({limit})"
            ),
            Error::InheritReserve { target, .. } => {
                write!(f, "reserving fd number {target} for a child failed")
            }
            Error::ListenFdsInvalid { var, value, reason } => write!(
                f,
                "taking passed fds failed: {var}={value:?} is invalid: {reason}"
            ),
            Error::ListenFdsClosed { fd, .. } => {
                write!(f, "taking passed fd {fd} failed: it is not open")
            }
            Error::ListenFdsRegistered { fd, type_name } => write!(
                f,
                "taking passed fd {fd} failed: it is registered already, as `{type_name}`"
            ),
            Error::ListenFdsThreads { threads } => write!(
                f,
                "taking passed fds failed: {threads} threads run, and only a process's only thread can safely remove the LISTEN_* variables"
            ),
            Error::ListenFdsThreadCount { .. } => write!(
                f,
                "taking passed fds failed: counting this process's threads failed"
            ),
            Error::Convert { fd, into, found } => {
                write!(f, "converting fd {fd} into a {into} failed: it is {found}")
            }
            Error::Spawn { program, op, .. } => {
                write!(f, "spawning `{}` failed: {op}", program.display())
            }
            Error::SpawnNul {
                program,
                what,
                value,
            } => write!(
                f,
                "spawning `{}` failed: the {what} {value:?} contains a NUL byte",
                program.display()
            ),
            Error::Wait { pid, .. } => write!(f, "waiting for child {pid} failed"),
            Error::Kill { pid, .. } => write!(f, "killing child {pid} failed"),
            Error::ChildFailed {
                program,
                pid,
                status,
            } => {
                use std::os::unix::process::ExitStatusExt;
                write!(f, "child {pid} (`{}`) ", program.display())?;
                match (status.code(), status.signal()) {
                    (Some(code), _) => write!(f, "exited with code {code}"),
                    (None, Some(sig)) => write!(f, "was killed by signal {sig}"),
                    (None, None) => write!(f, "ended with status {status}"),
                }
            }
            Error::Release { first, rest } => {
                write!(f, "{} errors while releasing: ", 1 + rest.len())?;
                list(f, first, rest)
            }
        }?;
        match self.cause() {
            Some(cause) => write!(f, ": {cause}"),
            None => Ok(()),
        }
    }
}

/// The message already ends with the OS error, so the chain goes on from the OS error's own
/// source (usually none), and a report walking `source()` (anyhow's `{:#}`, a loop) shows
/// the cause once. The OS error itself stays reachable through [`Error::io_error`].
/// [`Error::Release`]'s message lists every error with its cause: it has no source.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause()?.source()
    }
}

/// Which call takes `target`: [`Error::InheritStdio`] is reached both from a `keep*` call
/// with a stdio number and from `keep_as_stdio` with any other, and the number alone tells
/// which (each call accepts exactly the numbers the other refuses, but negative ones).
fn stdio_advice(target: i32) -> &'static str {
    match target {
        ..0 => "fd numbers are never negative",
        0..=2 => "0-2 are stdio (use keep_as_stdio)",
        3.. => "keep_as_stdio takes only 0-2 (use keep_at)",
    }
}

//! Converting what rustix returns into what the rest of guard-os takes.

use rustix::io::Errno;
use std::io;

/// Converts a rustix errno to an `io::Error` without allocating.
pub(crate) fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// What a `CommandExt` child reports when a target number changed hands after the plan
/// was installed (it may hold std's error pipe).
pub(crate) use libc::EBUSY;
/// No such process (a child that exited meanwhile).
pub(crate) use libc::ESRCH;
/// The errno values guard-os tells apart: out of fds (`EMFILE`, `ENFILE`), a number not
/// below `RLIMIT_NOFILE` (`EINVAL`), not a socket (`ENOTSOCK`).
pub(crate) use libc::{EBADF, EINVAL, EMFILE, ENFILE, ENOTSOCK};

/// A result returned as an errno (`0` for success), as `posix_spawn` and its helpers do,
/// as an `io::Result`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn errno_result(r: std::ffi::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

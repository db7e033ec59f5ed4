//! Reading, writing and pipes.

use super::conv::errno;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// [`pipe2(2)`](https://man7.org/linux/man-pages/man2/pipe2.2.html) with `O_CLOEXEC`:
/// `(read end, write end)`.
#[cfg(not(target_os = "macos"))]
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(errno)
}

/// [`pipe(2)`](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/pipe.2.html),
/// then `FD_CLOEXEC` on both ends: `(read end, write end)`. macOS has `pipe2` only from
/// macOS 15 (and libc does not declare it), so a spawn by other code in between can
/// inherit the ends; guard's own spawns close every fd they do not pass (see
/// `unix/child.rs`).
#[cfg(target_os = "macos")]
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe().map_err(errno)?;
    super::fd::set_cloexec(&r)?;
    super::fd::set_cloexec(&w)?;
    Ok((r, w))
}

/// [`read(2)`](https://man7.org/linux/man-pages/man2/read.2.html).
pub(crate) fn read(fd: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    rustix::io::read(fd, buf).map_err(errno)
}

/// [`write(2)`](https://man7.org/linux/man-pages/man2/write.2.html). For files and pipes,
/// never sockets (those use `send` with `MSG_NOSIGNAL`): writing to a pipe with no reader
/// raises `SIGPIPE`, as std's `File`, `ChildStdin` and `PipeWriter` writes do, so a
/// process that keeps `SIGPIPE` at its default (a CLI in a shell pipeline) ends quietly
/// when its reader goes; Rust's `main` ignores `SIGPIPE`, and then this is `EPIPE`.
pub(crate) fn write(fd: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    rustix::io::write(fd, buf).map_err(errno)
}

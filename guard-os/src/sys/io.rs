//! Reading, writing and pipes.

use super::conv::errno;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// [`pipe2(2)`](https://man7.org/linux/man-pages/man2/pipe2.2.html) with `O_CLOEXEC`:
/// `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(errno)
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

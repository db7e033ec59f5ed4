//! Every call into the OS, as thin wrappers (the rustix model: each area a set of small
//! functions, FFI confined here). Every fd created here has `FD_CLOEXEC` set atomically.
//!
//! - this file: the parent-side calls (open, pipe, read/write, fsync, flock, dup, listing
//!   `/proc/self/fd`);
//! - [`table`]: the fd registry's ownership core (the only place that turns registered fd
//!   numbers back into `BorrowedFd`s and closes them);
//! - [`child`]: the async-signal-safe calls a child makes between `fork` and `exec`;
//! - [`listen`]: taking fds passed the systemd way (the thread count, the `LISTEN_*`
//!   variables, claiming an inherited number).
//!
//! Syscalls go through rustix (raw syscalls, no libc) wherever it has them; libc only for
//! `close_range(2)`, which rustix lacks, and for `fcntl(F_GETFD)` on a number not known to
//! be open (rustix's takes a `BorrowedFd`, which must be).

pub(crate) mod child;
pub(crate) mod listen;
pub(crate) mod table;

use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Converts a rustix errno to an `io::Error` without allocating.
pub(crate) fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// [`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html) with `O_CLOEXEC` added.
pub(crate) fn open(path: &Path, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    rustix::fs::open(path, flags | OFlags::CLOEXEC, mode).map_err(errno)
}

/// [`pipe2(2)`](https://man7.org/linux/man-pages/man2/pipe2.2.html) with `O_CLOEXEC`:
/// `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(errno)
}

/// [`read(2)`](https://man7.org/linux/man-pages/man2/read.2.html).
pub(crate) fn read(fd: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    rustix::io::read(fd, buf).map_err(errno)
}

/// [`pread(2)`](https://man7.org/linux/man-pages/man2/pread.2.html).
pub(crate) fn pread(fd: impl AsFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    rustix::io::pread(fd, buf, offset).map_err(errno)
}

/// [`write(2)`](https://man7.org/linux/man-pages/man2/write.2.html).
pub(crate) fn write(fd: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    rustix::io::write(fd, buf).map_err(errno)
}

/// [`pwrite(2)`](https://man7.org/linux/man-pages/man2/pwrite.2.html) of the whole
/// buffer, retried on `EINTR` and short writes.
pub(crate) fn pwrite_all(fd: impl AsFd, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    let fd = fd.as_fd();
    while !buf.is_empty() {
        match rustix::io::pwrite(fd, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(errno(e)),
        }
    }
    Ok(())
}

/// [`recvfrom(2)`](https://man7.org/linux/man-pages/man2/recvfrom.2.html): the length
/// received and the sender, if it is an inet address.
pub(crate) fn recv_from(
    fd: impl AsFd,
    buf: &mut [u8],
) -> io::Result<(usize, Option<std::net::SocketAddr>)> {
    let (n, _, addr) =
        rustix::net::recvfrom(fd, buf, rustix::net::RecvFlags::empty()).map_err(errno)?;
    Ok((n, addr.and_then(|a| std::net::SocketAddr::try_from(a).ok())))
}

/// [`fsync(2)`](https://man7.org/linux/man-pages/man2/fsync.2.html).
pub(crate) fn fsync(fd: impl AsFd) -> io::Result<()> {
    rustix::fs::fsync(fd).map_err(errno)
}

/// The file's size, from [`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html).
pub(crate) fn file_size(fd: impl AsFd) -> io::Result<u64> {
    let st = rustix::fs::fstat(fd).map_err(errno)?;
    Ok(u64::try_from(st.st_size).unwrap_or(0))
}

/// [`flock(2)`](https://man7.org/linux/man-pages/man2/flock.2.html), retried on `EINTR`.
/// `Ok(false)` if a non-blocking request would block.
pub(crate) fn flock(fd: impl AsFd, op: FlockOperation) -> io::Result<bool> {
    let fd = fd.as_fd();
    loop {
        match rustix::fs::flock(fd, op) {
            Ok(()) => return Ok(true),
            Err(Errno::INTR) => {}
            Err(Errno::WOULDBLOCK) => return Ok(false),
            Err(e) => return Err(errno(e)),
        }
    }
}

/// A new fd for the same open file description, `FD_CLOEXEC` set
/// ([`fcntl(F_DUPFD_CLOEXEC)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)).
pub(crate) fn dup_cloexec(fd: impl AsFd) -> io::Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 0).map_err(errno)
}

/// A new fd for the same open file description, `FD_CLOEXEC` set, numbered `min` or above:
/// the lowest number free there
/// ([`fcntl(F_DUPFD_CLOEXEC)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)). It
/// never closes anything, so it takes `min` itself only if that number is free. `EINVAL` if
/// `min` is not below `RLIMIT_NOFILE` (or negative); `EMFILE` if no number from `min` up is
/// free below it.
pub(crate) fn dup_cloexec_from(fd: impl AsFd, min: RawFd) -> io::Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, min).map_err(errno)
}

/// Sets `FD_CLOEXEC` on `fd`
/// ([`fcntl(F_SETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html); it is the only
/// fd flag, so nothing else changes).
pub(crate) fn set_cloexec(fd: impl AsFd) -> io::Result<()> {
    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC).map_err(errno)
}

/// Checks that `fd` is open ([`fcntl(F_GETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html));
/// `EBADF` if it was closed behind its owner's back.
pub(crate) fn check_open(fd: impl AsFd) -> io::Result<()> {
    rustix::io::fcntl_getfd(fd).map(drop).map_err(errno)
}

/// Checks that fd number `raw` is open, without assuming anything about its owner
/// ([`fcntl(F_GETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html); `EBADF` if not).
pub(crate) fn check_open_number(raw: RawFd) -> io::Result<()> {
    // SAFETY: `fcntl(F_GETFD)` takes a plain integer and only reads that number's fd flags:
    // on a number that is not open it fails with EBADF and changes nothing. (libc rather
    // than rustix: rustix takes a `BorrowedFd`, whose invariant is that the fd is open.)
    let r = unsafe { libc::fcntl(raw, libc::F_GETFD) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// True if `fd` has `FD_CLOEXEC` set.
#[cfg(test)]
pub(crate) fn is_cloexec(fd: impl AsFd) -> io::Result<bool> {
    let flags = rustix::io::fcntl_getfd(fd).map_err(errno)?;
    Ok(flags.contains(rustix::io::FdFlags::CLOEXEC))
}

/// The numbers of every fd open in this process, ascending, from `/proc/self/fd`, without
/// the fd used to read the directory.
pub(crate) fn open_fds() -> io::Result<Vec<i32>> {
    use std::os::fd::AsRawFd;
    let dir = open(
        Path::new("/proc/self/fd"),
        OFlags::RDONLY | OFlags::DIRECTORY,
        Mode::empty(),
    )?;
    let own = dir.as_raw_fd();
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut fds = Vec::new();
    let mut entries = rustix::fs::RawDir::new(&dir, buf.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(errno)?;
        let name = entry.file_name().to_bytes();
        if let Some(n) = std::str::from_utf8(name)
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
            && n != own
        {
            fds.push(n);
        }
    }
    fds.sort_unstable();
    Ok(fds)
}

/// What fd `n` refers to (`readlink /proc/self/fd/n`), if it is still open.
pub(crate) fn fd_target(n: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{n}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn everything_created_here_is_cloexec() {
        let f = open(Path::new("/dev/null"), OFlags::RDONLY, Mode::empty()).unwrap();
        assert!(is_cloexec(&f).unwrap());
        let (r, w) = pipe().unwrap();
        assert!(is_cloexec(&r).unwrap() && is_cloexec(&w).unwrap());
        let d = dup_cloexec(&f).unwrap();
        assert!(is_cloexec(&d).unwrap());
    }

    #[test]
    fn checks_numbers_and_dups_from_a_minimum() {
        let f = std::fs::File::open("/dev/null").unwrap();
        assert!(check_open_number(f.as_raw_fd()).is_ok());
        // High numbers: other tests' threads take the lowest free ones.
        let d = dup_cloexec_from(&f, 700).unwrap();
        assert!(d.as_raw_fd() >= 700 && is_cloexec(&d).unwrap());
        let n = d.as_raw_fd();
        drop(d);
        assert!(check_open_number(n).is_err());
        let err = check_open_number(-1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        let err = dup_cloexec_from(&f, RawFd::MAX).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn open_fds_lists_without_its_own_dir() {
        let f = open(Path::new("/dev/null"), OFlags::RDONLY, Mode::empty()).unwrap();
        let fds = open_fds().unwrap();
        assert!(fds.contains(&f.as_raw_fd()));
        assert!(fds.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(fd_target(f.as_raw_fd()).unwrap(), Path::new("/dev/null"));
    }
}

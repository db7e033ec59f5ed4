//! Files: opening (always with `O_CLOEXEC`), positioned reads and writes, `fsync`, the
//! size, and `flock`.

use super::conv::errno;
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// [`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html) with `O_CLOEXEC` added.
fn open(path: &Path, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    rustix::fs::open(path, flags | OFlags::CLOEXEC, mode).map_err(errno)
}

/// Opens `path` read-only ([`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html),
/// `O_RDONLY | O_CLOEXEC`).
pub(crate) fn open_read(path: &Path) -> io::Result<OwnedFd> {
    open(path, OFlags::RDONLY, Mode::empty())
}

/// Opens `path` write-only, creating it (mode `0o666` before the umask), truncated or
/// appended to ([`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html),
/// `O_WRONLY | O_CREAT | O_TRUNC` or `O_APPEND`, `O_CLOEXEC`).
pub(crate) fn open_write(path: &Path, append: bool) -> io::Result<OwnedFd> {
    let extra = if append {
        OFlags::APPEND
    } else {
        OFlags::TRUNC
    };
    open(
        path,
        OFlags::WRONLY | OFlags::CREATE | extra,
        Mode::from_bits_truncate(0o666),
    )
}

/// Opens (creating it, mode `0o600`) the lock file at `path` read-write, refusing a symlink
/// there ([`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html),
/// `O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC`: `ELOOP` for a symlink).
pub(crate) fn open_lock_file(path: &Path) -> io::Result<OwnedFd> {
    open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW,
        Mode::from_bits_truncate(0o600),
    )
}

/// Takes the exclusive [`flock(2)`](https://man7.org/linux/man-pages/man2/flock.2.html) on
/// `fd`'s open file description, waiting for it if `wait`; `Ok(false)` if `!wait` and it is
/// held elsewhere. Retried on `EINTR`.
pub(crate) fn flock_exclusive(fd: impl AsFd, wait: bool) -> io::Result<bool> {
    let op = if wait {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    flock(fd, op)
}

/// Drops the [`flock(2)`](https://man7.org/linux/man-pages/man2/flock.2.html) on `fd`'s
/// open file description (`LOCK_UN`).
pub(crate) fn flock_unlock(fd: impl AsFd) -> io::Result<()> {
    flock(fd, FlockOperation::Unlock).map(drop)
}

/// [`pread(2)`](https://man7.org/linux/man-pages/man2/pread.2.html).
pub(crate) fn pread(fd: impl AsFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    rustix::io::pread(fd, buf, offset).map_err(errno)
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
fn flock(fd: impl AsFd, op: FlockOperation) -> io::Result<bool> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::is_cloexec;

    #[test]
    fn opened_files_are_cloexec() {
        let f = open_read(Path::new("/dev/null")).unwrap();
        assert!(is_cloexec(&f).unwrap());
    }
}

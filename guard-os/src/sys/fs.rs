//! Files: opening (always with `O_CLOEXEC`), positioned reads, `fsync`, the
//! size and owner, `ftruncate`, and `flock`.

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

/// The owner, mode, type and size of `path` itself, never of a symlink's target, looked at
/// without opening it for access: on Linux through an fd opened with
/// `O_PATH | O_NOFOLLOW | O_CLOEXEC` ([`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html))
/// and `fstat`, which needs no read or write permission and has no effect on the file;
/// elsewhere (no `O_PATH` in macOS, nor in rustix for FreeBSD) with `lstat`.
pub(crate) fn owner_at(path: &Path) -> io::Result<Owner> {
    #[cfg(target_os = "linux")]
    {
        let fd = open(path, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty())?;
        owner(&fd)
    }
    #[cfg(not(target_os = "linux"))]
    owner_of_path(path)
}

/// Which file a file is: its device and inode numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

/// Who owns a file, and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    /// The owner's uid.
    pub(crate) uid: u32,
    /// The permission bits and sticky/setuid/setgid bits (`st_mode & 0o7777`).
    pub(crate) mode: u32,
    /// A regular file.
    pub(crate) regular: bool,
    /// A directory.
    pub(crate) dir: bool,
    /// The size in bytes.
    pub(crate) size: u64,
    /// Which file it is.
    pub(crate) id: FileId,
}

impl Owner {
    fn of(st: &rustix::fs::Stat) -> Owner {
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        // `st_mode` is a u16 on macOS, `st_dev` an i32 there and a u64 elsewhere.
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        let (mode, dev) = (u32::from(st.st_mode), st.st_dev as u64);
        Owner {
            uid: st.st_uid,
            mode: mode & 0o7777,
            regular: kind == rustix::fs::FileType::RegularFile,
            dir: kind == rustix::fs::FileType::Directory,
            size: u64::try_from(st.st_size).unwrap_or(0),
            id: FileId {
                dev,
                ino: st.st_ino,
            },
        }
    }
}

/// The owner, mode, type and size of the file open at `fd`
/// ([`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html)).
pub(crate) fn owner(fd: impl AsFd) -> io::Result<Owner> {
    rustix::fs::fstat(fd)
        .map(|st| Owner::of(&st))
        .map_err(errno)
}

/// The owner, mode and type of `path` itself, not of a symlink's target
/// ([`lstat(2)`](https://man7.org/linux/man-pages/man2/lstat.2.html)).
pub(crate) fn owner_of_path(path: &Path) -> io::Result<Owner> {
    rustix::fs::lstat(path)
        .map(|st| Owner::of(&st))
        .map_err(errno)
}

/// This process's effective uid
/// ([`geteuid(2)`](https://man7.org/linux/man-pages/man2/geteuid.2.html)).
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Sets the file's size ([`ftruncate(2)`](https://man7.org/linux/man-pages/man2/ftruncate.2.html)).
pub(crate) fn set_len(fd: impl AsFd, len: u64) -> io::Result<()> {
    rustix::fs::ftruncate(fd, len).map_err(errno)
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

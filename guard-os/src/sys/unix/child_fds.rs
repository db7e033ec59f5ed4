//! The fd steps of a child between `fork` and `exec` that every unix shares (Linux's
//! `sys/child.rs` and macOS's and FreeBSD's `unix/child.rs` both use them): copying an fd
//! above a number, placing one at its target, marking one close-on-exec, the sweep below
//! `RLIMIT_NOFILE`, and that limit. Raw syscalls only, no allocation, no lock:
//! async-signal-safe (invariant R4). Errors are plain `io::Error` built from an errno.
//!
//! These functions take fd numbers and call libc with them directly (never a `BorrowedFd`
//! or `OwnedFd`, since some numbers may not be open), and change fds the caller may not
//! own, which is sound only in a child that is about to `exec`: hence `unsafe`.

use std::io;
use std::os::fd::RawFd;

/// The soft `RLIMIT_NOFILE`
/// ([`getrlimit(2)`](https://man7.org/linux/man-pages/man2/getrlimit.2.html)): every fd
/// number is below it (`i32::MAX` if unlimited). One syscall, async-signal-safe; the parent
/// reads it too, to refuse a target the child could never take.
pub(crate) fn nofile_limit() -> RawFd {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit
        .current
        .map_or(i32::MAX, |n| i32::try_from(n).unwrap_or(i32::MAX))
}

/// Sets `FD_CLOEXEC` on fd number `raw`
/// ([`fcntl(F_SETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)), ignoring
/// `EBADF` (not open).
///
/// # Safety
///
/// Only in a child between `fork` and `exec` (it changes an fd the caller may not own).
pub(crate) unsafe fn set_cloexec(raw: RawFd) -> io::Result<()> {
    // SAFETY: `fcntl(F_SETFD)` takes a plain integer: on a number that is not open it fails
    // with EBADF and changes nothing; on an open one it sets the only fd flag, which the
    // caller (a child about to exec, per the contract) may do to any of its fds.
    let r = unsafe { libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC) };
    if r == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBADF) {
            return Err(e);
        }
    }
    Ok(())
}

/// `F_SETFD(FD_CLOEXEC)` on every number from `first` up to [`nofile_limit`]: the last
/// resort, where the OS neither marks a range nor lists the open fds.
///
/// # Safety
///
/// As [`set_cloexec`].
pub(crate) unsafe fn cloexec_sweep(first: RawFd) -> io::Result<()> {
    for n in first.max(0)..nofile_limit() {
        // SAFETY: forwarded contract.
        unsafe { set_cloexec(n) }?;
    }
    Ok(())
}

/// A close-on-exec copy of `raw` numbered `min` or above
/// ([`fcntl(F_DUPFD_CLOEXEC)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)).
///
/// # Safety
///
/// As [`set_cloexec`]; `raw` must be open.
pub(crate) unsafe fn dup_above(raw: RawFd, min: RawFd) -> io::Result<RawFd> {
    // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` takes plain integers and only creates a new fd at a
    // free number (it closes nothing); `raw` is open (contract).
    let r = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, min) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Makes `src` appear at `dst` without `FD_CLOEXEC`:
/// [`dup2(src, dst)`](https://man7.org/linux/man-pages/man2/dup2.2.html), or, when they
/// are the same number, clearing its `FD_CLOEXEC`.
///
/// # Safety
///
/// As [`set_cloexec`]; `src` must be open. Whatever was open at `dst` is closed.
pub(crate) unsafe fn place(src: RawFd, dst: RawFd) -> io::Result<()> {
    let r = if src == dst {
        // SAFETY: `fcntl(F_SETFD, 0)` takes a plain integer and clears the only fd flag of
        // `src`, which is open (contract).
        unsafe { libc::fcntl(src, libc::F_SETFD, 0) }
    } else {
        // SAFETY: `dup2` takes plain integers; `src` is open (contract), and whatever was
        // open at `dst` is closed, which the contract allows (the caller is a child about
        // to exec).
        unsafe { libc::dup2(src, dst) }
    };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// What fd number `raw` refers to, as `(st_dev, st_ino)`
/// ([`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html)), or `None` if it is
/// not open. Async-signal-safe: the child compares what sits at a number with what the
/// parent saw there.
pub(crate) fn identity(raw: RawFd) -> Option<(u64, u64)> {
    let st = stat(raw)?;
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)] // widths differ by OS
    Some((st.st_dev as u64, u64::from(st.st_ino)))
}

/// Whether fd `raw` looks like std's exec-error channel in the child of a `Command`'s
/// `spawn` (which runs the hooks; on Linux, `sys/child.rs` has its own test): the write
/// end of a pipe that no fd numbered below it also refers to (std makes the pipe at the
/// two lowest free numbers and closes its read end in the child before the hooks run;
/// another thread's pipe has its read end below its write end). A few `fstat` and `fcntl`
/// calls: async-signal-safe.
#[cfg(not(target_os = "linux"))]
pub(crate) fn like_std_error_pipe(raw: RawFd) -> bool {
    let Some(st) = stat(raw) else { return false };
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return false;
    }
    // SAFETY: `fcntl(F_GETFL)` takes a plain integer and only reads the file status flags.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags == -1 || flags & libc::O_ACCMODE != libc::O_WRONLY {
        return false;
    }
    let id = identity(raw);
    !(0..raw).any(|n| identity(n) == id)
}

/// [`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html) of fd number `raw`, or
/// `None` if it is not open.
pub(crate) fn stat(raw: RawFd) -> Option<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fstat` takes a plain integer and writes one `stat` into `st`, which has room
    // for it; on a number that is not open it fails with EBADF and writes nothing.
    if unsafe { libc::fstat(raw, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: `fstat` succeeded: it initialised `st`.
    Some(unsafe { st.assume_init() })
}

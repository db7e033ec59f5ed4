//! The fd itself: duplicating, the `FD_CLOEXEC` flag, checking that a number is open, and
//! closing a raw number.

use super::conv::errno;
use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};

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
/// `EBADF` if it was closed behind its owner's back. (Only tests call it now.)
#[cfg_attr(not(test), allow(dead_code))]
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

/// Closes fd number `raw` with [`close(2)`](https://man7.org/linux/man-pages/man2/close.2.html),
/// once, and returns its error (never retried: Linux frees the number even on `EINTR`).
///
/// # Safety
///
/// The caller owns `raw` and gives that ownership up here: nothing else closes it or uses
/// it after this call.
pub(crate) unsafe fn close_raw(raw: RawFd) -> io::Result<()> {
    // SAFETY: the caller owns `raw` and passes its ownership here (contract).
    unsafe { rustix::io::try_close(raw) }.map_err(errno)
}

/// Takes ownership of fd number `raw`, inherited at exec, and sets its `FD_CLOEXEC`
/// ([`fcntl(F_SETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)): from now on
/// a child gets it only when asked, as every registered fd.
///
/// # Safety
///
/// `raw` must be open, and nothing else in this process may own it, now or later.
pub(crate) unsafe fn claim_inherited(raw: RawFd) -> OwnedFd {
    // SAFETY: `raw` is open and owned by nothing else (contract): the `OwnedFd` is its only
    // owner, so its one close is the only one.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    // Only EBADF can fail F_SETFD, and `fd` is open (contract).
    let _ = set_cloexec(&fd);
    fd
}

/// True if `fd` has `FD_CLOEXEC` set
/// ([`fcntl(F_GETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)).
#[cfg(test)]
pub(crate) fn is_cloexec(fd: impl AsFd) -> io::Result<bool> {
    let flags = rustix::io::fcntl_getfd(fd).map_err(errno)?;
    Ok(flags.contains(rustix::io::FdFlags::CLOEXEC))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn everything_created_here_is_cloexec() {
        let f = crate::sys::open_read(std::path::Path::new("/dev/null")).unwrap();
        assert!(is_cloexec(&f).unwrap());
        let (r, w) = crate::sys::pipe().unwrap();
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
}

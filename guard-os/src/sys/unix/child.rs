//! Calls a child makes between `fork` and `exec` on macOS and FreeBSD (invariant R4; on
//! Linux, `sys/child.rs`): raw syscalls only, no allocation, no lock, nothing that is not
//! async-signal-safe. Errors are plain `io::Error` built from an errno (no allocation).
//!
//! As on Linux, these functions take fd numbers and call libc with them directly (never a
//! `BorrowedFd` or `OwnedFd`, since some numbers may not be open), and change every fd of
//! the calling process, which is sound only in a child that is about to `exec`: hence
//! `unsafe`.

use super::super::fd::set_cloexec_number as set_cloexec;
use super::super::os::child as os;
use std::io;
use std::os::fd::RawFd;

/// How a child marks every fd from some number on close-on-exec, each falling back to the
/// next where the system lacks it. The names are Linux's (`Inherit`'s test switch names
/// them); each OS uses its own mechanism for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cloexec {
    /// FreeBSD: `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)` (13.1+). macOS has no such
    /// call, and goes on with [`Cloexec::ProcFd`].
    CloseRange,
    /// `F_SETFD` on each fd the OS lists: macOS `proc_pidinfo(PROC_PIDLISTFDS)` into a
    /// buffer on the stack; FreeBSD has no listing a child can make without allocating
    /// (`kinfo_getfile` allocates, `/dev/fd` lists 0-2 only without fdescfs), and goes on
    /// with [`Cloexec::Sweep`].
    ProcFd,
    /// `F_SETFD` on every number below `RLIMIT_NOFILE`.
    Sweep,
}

/// Marks every fd numbered `first` or above close-on-exec, by `how` (and its fallbacks).
///
/// # Safety
///
/// Only in a child between `fork` and `exec`: it changes fds the caller does not own.
pub(crate) unsafe fn cloexec_from(first: RawFd, how: Cloexec) -> io::Result<()> {
    if how == Cloexec::CloseRange {
        // SAFETY: forwarded contract.
        match unsafe { os::close_range_cloexec(first) } {
            Some(Ok(())) => return Ok(()),
            // ENOSYS: no close_range; EINVAL: no CLOSE_RANGE_CLOEXEC; EPERM: a sandbox.
            Some(Err(e))
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::EINVAL | libc::EPERM)
                ) =>
            {
                return Err(e);
            }
            Some(Err(_)) | None => {}
        }
    }
    if how != Cloexec::Sweep {
        // SAFETY: forwarded contract.
        if unsafe { os::cloexec_listed(first) }? {
            return Ok(());
        }
    }
    // SAFETY: forwarded contract.
    unsafe { cloexec_sweep(first) }
}

/// # Safety
///
/// As [`cloexec_from`].
unsafe fn cloexec_sweep(first: RawFd) -> io::Result<()> {
    for n in first.max(0)..nofile_limit() {
        // SAFETY: forwarded contract.
        unsafe { set_cloexec(n) }?;
    }
    Ok(())
}

/// The soft `RLIMIT_NOFILE`
/// ([`getrlimit(2)`](https://man.freebsd.org/cgi/man.cgi?query=getrlimit&sektion=2)):
/// every fd number is below it (`i32::MAX` if unlimited). One syscall, async-signal-safe;
/// the parent reads it too, to refuse a target the child could never take.
pub(crate) fn nofile_limit() -> RawFd {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit
        .current
        .map_or(i32::MAX, |n| i32::try_from(n).unwrap_or(i32::MAX))
}

/// A close-on-exec copy of `raw` numbered `min` or above (`F_DUPFD_CLOEXEC`).
///
/// # Safety
///
/// As [`cloexec_from`]; `raw` must be open.
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

/// Makes `src` appear at `dst` without `FD_CLOEXEC`: `dup2(src, dst)`, or, when they are
/// the same number, clearing its `FD_CLOEXEC`.
///
/// # Safety
///
/// As [`cloexec_from`]; `src` must be open. Whatever was open at `dst` is closed.
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

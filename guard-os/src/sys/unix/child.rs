//! Calls a child makes between `fork` and `exec` on macOS and FreeBSD (invariant R4; on
//! Linux, `sys/child.rs`): raw syscalls only, no allocation, no lock, nothing that is not
//! async-signal-safe. Errors are plain `io::Error` built from an errno (no allocation).
//!
//! As on Linux, these functions take fd numbers and call libc with them directly (never a
//! `BorrowedFd` or `OwnedFd`, since some numbers may not be open), and change every fd of
//! the calling process, which is sound only in a child that is about to `exec`: hence
//! `unsafe`.

use super::super::os::child as os;
use super::child_fds::cloexec_sweep;
pub(crate) use super::child_fds::{dup_above, identity, like_std_error_pipe, nofile_limit, place};
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

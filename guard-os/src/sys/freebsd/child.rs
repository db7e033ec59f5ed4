//! FreeBSD's steps of the child's fd hygiene between `fork` and `exec`
//! (`unix/child.rs`): `close_range(CLOSE_RANGE_CLOEXEC)`; no listing.

use std::io;
use std::os::fd::RawFd;

/// [`close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`](https://man.freebsd.org/cgi/man.cgi?query=close_range&sektion=2)
/// (FreeBSD 13.1+): closes nothing, sets `FD_CLOEXEC` on `[first, ~0]`.
///
/// # Safety
///
/// As `unix::child::cloexec_from`.
pub(crate) unsafe fn close_range_cloexec(first: RawFd) -> Option<io::Result<()>> {
    let first = u32::try_from(first).unwrap_or(0);
    // SAFETY: `close_range` takes plain integers; with CLOSE_RANGE_CLOEXEC it closes
    // nothing, it only sets FD_CLOEXEC on [first, ~0]. The caller is a child about to exec
    // (contract), so no owner of those fds is affected.
    let r = unsafe { libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    Some(if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    })
}

/// No listing a child can make without allocating: `kinfo_getfile` allocates, and
/// `/dev/fd` lists only 0-2 unless fdescfs is mounted there. `Ok(false)`: sweep.
///
/// # Safety
///
/// As `unix::child::cloexec_from`.
pub(crate) unsafe fn cloexec_listed(_first: RawFd) -> io::Result<bool> {
    Ok(false)
}

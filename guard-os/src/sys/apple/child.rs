//! macOS's steps of the child's fd hygiene between `fork` and `exec` (`unix/child.rs`):
//! no `close_range`; the fds listed by `proc_pidinfo(PROC_PIDLISTFDS)`, a thin wrapper of
//! the `proc_info` syscall that allocates nothing, into a buffer on the stack.

use super::super::unix::child_fds::set_cloexec;
use std::ffi::{c_int, c_void};
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::RawFd;

/// How many fds the stack buffer lists (8 bytes each): with more open, the child sweeps.
const LISTED: usize = 2048;

/// macOS has no `close_range`: `None`, go on with the listing.
///
/// # Safety
///
/// As `unix::child::cloexec_from`.
pub(crate) unsafe fn close_range_cloexec(_first: RawFd) -> Option<io::Result<()>> {
    None
}

/// `F_SETFD` on every fd from `first` up that `proc_pidinfo(PROC_PIDLISTFDS)` lists;
/// `Ok(false)` if the list may be incomplete (more fds than the buffer holds) or the call
/// is refused, for the caller to sweep instead.
///
/// # Safety
///
/// As `unix::child::cloexec_from`.
pub(crate) unsafe fn cloexec_listed(first: RawFd) -> io::Result<bool> {
    let mut buf = [MaybeUninit::<libc::proc_fdinfo>::uninit(); LISTED];
    let bytes = (LISTED * size_of::<libc::proc_fdinfo>()) as c_int;
    // SAFETY: `getpid` is async-signal-safe; `buf` has room for `bytes` bytes of entries,
    // and the call writes at most that many.
    let got = unsafe {
        libc::proc_pidinfo(
            libc::getpid(),
            libc::PROC_PIDLISTFDS,
            0,
            buf.as_mut_ptr().cast::<c_void>(),
            bytes,
        )
    };
    let n = usize::try_from(got).unwrap_or(0) / size_of::<libc::proc_fdinfo>();
    if got <= 0 || n >= LISTED {
        return Ok(false);
    }
    for entry in &buf[..n] {
        // SAFETY: the first `n` entries were written by the kernel.
        let fd = unsafe { entry.assume_init_ref() }.proc_fd;
        if fd >= first {
            // SAFETY: forwarded contract.
            unsafe { set_cloexec(fd) }?;
        }
    }
    Ok(true)
}

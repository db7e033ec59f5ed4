//! Calls a child makes between `fork` and `exec` (invariant R4): raw syscalls only, no
//! allocation, no lock, nothing that is not async-signal-safe. Errors are plain `io::Error`
//! built from an errno (no allocation).
//!
//! These functions take fd numbers, and call libc with them directly: they never make a
//! `BorrowedFd` or `OwnedFd` for a number, since some of the numbers (the sweep's, a
//! target's) may not be open, which those types' invariants forbid. They change every fd
//! of the calling process, which is sound only in a child that is about to `exec`: hence
//! `unsafe`.

use super::unix::child_fds::{cloexec_sweep, set_cloexec};
pub(crate) use super::unix::child_fds::{
    dup_above, identity, like_std_error_pipe, nofile_limit, place,
};
use rustix::fd::RawFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::io;
use std::mem::MaybeUninit;

fn err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// How a child marks every fd from some number on close-on-exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cloexec {
    /// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)` (Linux 5.11+), falling back to
    /// [`Cloexec::ProcFd`] where the kernel lacks it.
    CloseRange,
    /// `getdents64` over `/proc/self/fd` and `F_SETFD` on each, falling back to
    /// [`Cloexec::Sweep`] where `/proc` is not mounted.
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
    let first_u = u32::try_from(first).unwrap_or(0);
    if how == Cloexec::CloseRange {
        // SAFETY: `close_range` takes plain integers; with CLOSE_RANGE_CLOEXEC it closes
        // nothing, it only sets FD_CLOEXEC on [first, ~0]. The caller is a child about to
        // exec (contract), so no owner of those fds is affected.
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first_u,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        // ENOSYS: kernel before 5.11; EINVAL: no CLOSE_RANGE_CLOEXEC; EPERM: a seccomp filter.
        if !matches!(
            e.raw_os_error(),
            Some(libc::ENOSYS | libc::EINVAL | libc::EPERM)
        ) {
            return Err(e);
        }
    }
    if how != Cloexec::Sweep {
        // SAFETY: forwarded contract.
        match unsafe { cloexec_via_proc(first) } {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    // SAFETY: forwarded contract.
    unsafe { cloexec_sweep(first) }
}

/// # Safety
///
/// As [`cloexec_from`].
unsafe fn cloexec_via_proc(first: RawFd) -> io::Result<()> {
    let dir = rustix::fs::open(
        c"/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(err)?;
    let own = {
        use std::os::fd::AsRawFd;
        dir.as_raw_fd()
    };
    // On the stack: no allocation in the child.
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = rustix::fs::RawDir::new(&dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(err)?;
        if let Some(n) = parse_fd(entry.file_name().to_bytes())
            && n >= first
            && n != own
        {
            // SAFETY: forwarded contract.
            unsafe { set_cloexec(n) }?;
        }
    }
    Ok(())
}

/// A decimal fd number, without allocating; `None` for `.`/`..` and anything else.
fn parse_fd(name: &[u8]) -> Option<RawFd> {
    if name.is_empty() || name.len() > 10 {
        return None;
    }
    let mut n: i64 = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    RawFd::try_from(n).ok()
}

/// In the child: its own pid (`getpid(2)`, a raw syscall), in decimal, NUL-terminated,
/// into the `len` bytes at `ptr` (nothing if they cannot hold it). No allocation, no
/// lock: async-signal-safe.
///
/// # Safety
///
/// `ptr` points to `len` writable bytes that nothing else reads or writes meanwhile.
pub(super) unsafe fn write_pid(ptr: *mut u8, len: usize) {
    // SAFETY: `getpid` has no preconditions; the raw syscall, since a libc may cache the
    // parent's pid in memory this child shares.
    let pid = unsafe { libc::syscall(libc::SYS_getpid) };
    let mut digits = [0u8; 20];
    let text = format_decimal(u64::try_from(pid).unwrap_or(0), &mut digits);
    if text.len() < len {
        // SAFETY: `slot` is `len` writable bytes that nothing else touches (the
        // contract); `text.len() + 1 <= len`.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), ptr, text.len());
            ptr.add(text.len()).write(0);
        }
    }
}

/// `n` in decimal, in the tail of `buf`, without allocating.
fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// In the child: every caught signal back to its default action, and SIGPIPE too (Rust
/// programs ignore it; std's children get the default).
///
/// # Safety
///
/// Only in a child with a signal handler table of its own (no `CLONE_SIGHAND`), before
/// `exec`: in any other process it would remove that process's handlers.
pub(super) unsafe fn reset_signal_handlers() {
    for sig in 1..65 {
        // SAFETY: a zeroed `sigaction` is a valid value to be overwritten.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `sigaction` reads nothing (null) and writes `old`; it fails harmlessly
        // (EINVAL) for numbers it does not allow.
        if unsafe { libc::sigaction(sig, std::ptr::null(), &raw mut old) } != 0 {
            continue;
        }
        let caught = old.sa_sigaction != libc::SIG_IGN && old.sa_sigaction != libc::SIG_DFL;
        if caught || (sig == libc::SIGPIPE && old.sa_sigaction == libc::SIG_IGN) {
            // SAFETY: as above.
            let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
            dfl.sa_sigaction = libc::SIG_DFL;
            // SAFETY: this child has its own handler table (no CLONE_SIGHAND): the
            // parent's handlers are untouched.
            unsafe { libc::sigaction(sig, &raw const dfl, std::ptr::null_mut()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{format_decimal, parse_fd};

    #[test]
    fn parses_fd_names() {
        assert_eq!(parse_fd(b"17"), Some(17));
        assert_eq!(parse_fd(b"."), None);
        assert_eq!(parse_fd(b".."), None);
        assert_eq!(parse_fd(b"99999999999"), None);
    }

    #[test]
    fn formats_pids_without_allocating() {
        let mut buf = [0; 20];
        assert_eq!(format_decimal(0, &mut buf), b"0");
        assert_eq!(format_decimal(4_194_304, &mut buf), b"4194304");
        assert_eq!(format_decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }
}

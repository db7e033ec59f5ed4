//! The calls behind taking passed fds (the receiving side of the systemd socket-passing
//! convention, [`sd_listen_fds(3)`](https://man7.org/linux/man-pages/man3/sd_listen_fds.3.html)):
//! counting this process's threads, removing the `LISTEN_*` variables, and claiming an fd
//! number inherited at exec.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The variables of the convention, removed together. `LISTEN_PIDFDID` (the pidfd inode id
/// of the `LISTEN_PID` process, set beside it by newer systemd) is never read, but must go
/// with the others: left behind, it would sit stale next to the values a later
/// `Inherit::listen_fds` sets.
pub(crate) const LISTEN_VARS: [&str; 4] = [
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "LISTEN_PIDFDID",
];

/// The number of threads in this process, this one included (`Threads:` in
/// [`proc_pid_status(5)`](https://man7.org/linux/man-pages/man5/proc_pid_status.5.html)).
pub(crate) fn thread_count() -> io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no `Threads:` line"))
}

/// Removes [`LISTEN_VARS`] (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`,
/// `LISTEN_PIDFDID`) from this process's environment
/// (`std::env::remove_var`, which is `unsetenv(3)` under std's environment lock).
///
/// # Safety
///
/// `std::env::remove_var`'s: while this runs, no other thread may read or write the
/// environment other than through `std::env` (which takes the same lock): no
/// `getenv(3)`/`setenv(3)` from C code, no reads of `environ`.
pub(crate) unsafe fn remove_listen_vars() {
    for var in LISTEN_VARS {
        // SAFETY: this function's contract is exactly `remove_var`'s, and the caller upholds it.
        unsafe { std::env::remove_var(var) };
    }
}

/// Takes ownership of fd number `raw`, inherited at exec, and sets its `FD_CLOEXEC`
/// ([`fcntl(F_SETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)): from now on
/// a child gets it only when asked, as every registered fd.
///
/// # Safety
///
/// `raw` must be open, and nothing else in this process may own it, now or later (the
/// caller consumed the claim to it: see `command::listen`).
pub(crate) unsafe fn claim_inherited(raw: RawFd) -> OwnedFd {
    // SAFETY: `raw` is open and owned by nothing else (contract): the `OwnedFd` is its only
    // owner, so its one close is the only one.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // Only EBADF can fail F_SETFD, and `fd` is open (contract).
    let _ = super::set_cloexec(&fd);
    fd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_threads() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        assert!(thread_count().unwrap() >= 2); // this one and `t`, at least
        drop(tx);
        let _ = t.join();
    }
}

//! What `/proc/self/fd` shows: the one reader every test that counts fds goes through;
//! and a `SOCK_SEQPACKET` pair, the kind of fd std's spawn uses for its exec-error channel.

use std::collections::BTreeMap;
use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::{FromRawFd, OwnedFd};

/// Every fd open in this process, by number, with what it refers to (the link's target),
/// without the fd used to read the directory.
///
/// # Errors
///
/// If `/proc/self/fd` cannot be read.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// let f = std::fs::File::open("/dev/null").unwrap();
/// let fds = guard_testkit::open_fds().unwrap();
/// assert_eq!(fds[&f.as_raw_fd()], "/dev/null");
/// ```
pub fn open_fds() -> io::Result<BTreeMap<i32, String>> {
    // The directory's own fd shows up as a link to /proc/<pid>/fd while it is open.
    let own = format!("/proc/{}/fd", std::process::id());
    let mut fds = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // An error: closed meanwhile (the directory's own fd, once read).
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.display().to_string();
            if target != own {
                fds.insert(n, target);
            }
        }
    }
    Ok(fds)
}

/// What fd `n` refers to now (`/proc/self/fd/n`), if it is open.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// let f = std::fs::File::open("/dev/null").unwrap();
/// assert_eq!(guard_testkit::fd_target(f.as_raw_fd()).as_deref(), Some("/dev/null"));
/// assert_eq!(guard_testkit::fd_target(-1), None);
/// ```
pub fn fd_target(n: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/self/fd/{n}"))
        .ok()
        .map(|p| p.display().to_string())
}

/// A connected `AF_UNIX` `SOCK_SEQPACKET` pair, close-on-exec: what std's `Command::spawn`
/// makes on Linux for its exec-error channel (std itself makes no such pair).
///
/// # Panics
///
/// If `socketpair(2)` fails.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsRawFd;
/// let (a, b) = guard_testkit::seqpacket_pair();
/// assert_ne!(a.as_raw_fd(), b.as_raw_fd());
/// ```
#[cfg(target_os = "linux")]
pub fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    // SAFETY: `socketpair` writes two new fds into `fds`, which has room for them.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "socketpair: {}", io::Error::last_os_error());
    // SAFETY: both are new fds that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

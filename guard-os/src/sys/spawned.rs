//! What every OS's spawn shares: the [`Image`] a child execs, the [`Step`] that failed,
//! the [`Spawned`] child with the fd that tells when it exits (Linux a pidfd, macOS and
//! FreeBSD a `kqueue` watching its pid), and `poll(2)` on such fds, which both kinds
//! answer the same way (readable once the child has exited).

use std::ffi::{CStr, c_char, c_int};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
#[cfg(any(not(target_os = "linux"), test))]
use std::os::fd::{FromRawFd, RawFd};

/// `(source, target)` per kept fd.
#[cfg(any(not(target_os = "linux"), test))]
type Moves = Vec<(RawFd, RawFd)>;

/// What the child execs: every pointer array ends with a null pointer, and everything they
/// point to outlives the spawn.
#[derive(Debug)]
pub(crate) struct Image<'a> {
    /// The paths to try in turn (the `PATH` search, done in the parent), as `execvp` does:
    /// a path that does not exist moves on to the next.
    pub(crate) paths: &'a [&'a CStr],
    pub(crate) argv: &'a [*const c_char],
    pub(crate) envp: &'a [*const c_char],
    pub(crate) cwd: Option<&'a CStr>,
    /// Where the child writes its own pid, in decimal and NUL-terminated, before `execve`:
    /// the value of an entry of `envp` (`LISTEN_PID=` and room for the digits), so that a
    /// variable can carry the pid without a shell.
    pub(crate) pid_slot: Option<PidSlot>,
}

/// Room in the parent's memory for the child's pid: `len` bytes at `ptr` (at least 11: ten
/// digits and a NUL), inside a buffer that outlives the spawn and that nothing else reads
/// or writes while it runs. A raw pointer: the child writes through it while `envp` holds
/// a pointer into the same buffer.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // there, `/bin/sh` sets it
pub(crate) struct PidSlot {
    pub(crate) ptr: *mut u8,
    pub(crate) len: usize,
}

/// The child's step that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Creating the child: Linux `mmap` of its stack, or `clone` itself; macOS and FreeBSD
    /// setting up `posix_spawn`'s attributes and file actions.
    Clone,
    /// Placing the fds it keeps: Linux the caller's steps in the child; macOS and
    /// FreeBSD the parent's copies of sources that collide with a target.
    Setup,
    /// `chdir` to the working directory (Linux: macOS's and FreeBSD's `posix_spawn`
    /// reports a failing `chdir` as its one errno, taken as [`Step::Exec`]).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Chdir,
    /// `execve` of every path.
    Exec,
    /// Getting the fd that tells when the child exits, for a child that has exec'd (it
    /// was killed and reaped). Linux: its pidfd (the kernel ignored `CLONE_PIDFD`, before
    /// Linux 5.2, and `pidfd_open` failed, before 5.3). macOS and FreeBSD: a `kqueue`
    /// watching its exit (`EVFILT_PROC`, `NOTE_EXIT`).
    Pidfd,
}

/// The errno a `PATH` search reports after `execve` (or `posix_spawn`) of each candidate
/// failed, as `execvp(3)` chooses it: a path that is not there moves on to the next; one
/// found but not executable (`EACCES`) is remembered and wins if nothing else is found;
/// any other error stops the search. Plain integers: async-signal-safe.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PathSearch {
    denied: bool,
    last: c_int,
}

impl PathSearch {
    /// Nothing tried yet (`ENOENT` if there is no candidate at all).
    pub(crate) const fn new() -> PathSearch {
        PathSearch {
            denied: false,
            last: libc::ENOENT,
        }
    }

    /// Records one candidate's `errno`: true if the search goes on to the next.
    pub(crate) fn go_on(&mut self, errno: c_int) -> bool {
        self.last = errno;
        match errno {
            libc::EACCES => {
                self.denied = true;
                true
            }
            e => not_there(e),
        }
    }

    /// The error to report once the search is over.
    pub(crate) fn error(self) -> io::Error {
        let e = if self.denied && not_there(self.last) {
            libc::EACCES
        } else {
            self.last
        };
        io::Error::from_raw_os_error(e)
    }
}

/// An `execve` errno that says the path is not there (`execvp` tries the next).
fn not_there(errno: c_int) -> bool {
    matches!(
        errno,
        libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT
    )
}

impl Step {
    /// The step as `Error::Spawn`'s `op` names it: the call where there is one.
    pub(crate) fn op(self) -> &'static str {
        match self {
            #[cfg(target_os = "linux")]
            Step::Clone => "clone",
            #[cfg(not(target_os = "linux"))]
            Step::Clone => "posix_spawn setup",
            Step::Setup => "placing the kept fds",
            Step::Chdir => "chdir",
            Step::Exec => "exec",
            #[cfg(target_os = "linux")]
            Step::Pidfd => "pidfd_open",
            #[cfg(not(target_os = "linux"))]
            Step::Pidfd => "kqueue",
        }
    }
}

/// A child that was started; it has exec'd.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: u32,
    /// Close-on-exec, readable once the child has exited, and refers to this child only
    /// (never to a recycled pid): Linux its pidfd, macOS and FreeBSD a `kqueue` with an
    /// `EVFILT_PROC`/`NOTE_EXIT` filter on its pid (registered before it can be reaped).
    pub(crate) pidfd: OwnedFd,
}

/// [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html) of one pidfd (or exit-watching kqueue) for at most
/// `timeout`: true if its process has exited. Retries on `EINTR` (with the full timeout
/// again: the caller's grace period is a lower bound).
pub(crate) fn exited_within(pidfd: impl AsFd, timeout: std::time::Duration) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    let mut p = libc::pollfd {
        fd: pidfd.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid `pollfd` of an fd borrowed for the call.
        let n = unsafe { libc::poll(&raw mut p, 1, ms) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html) for readability, without
/// timeout: each entry of `ready` is set to whether its fd in `fds` is readable (a pidfd, or a
/// child's exit-watching kqueue, is once its process has exited). Retries on `EINTR`.
pub(crate) fn poll_readable(fds: &[impl AsFd], ready: &mut Vec<bool>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `polled` is a valid array of `polled.len()` entries, of open fds
        // borrowed from `fds` for the call.
        let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, -1) };
        if n >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    ready.clear();
    ready.extend(polled.iter().map(|p| p.revents != 0));
    Ok(())
}

/// For `posix_spawn` (macOS, FreeBSD): `moves` with each source that is also a target
/// (and, with `copy_in_place`, each source placed at its own number) replaced by a close-on-exec copy
/// at a number that is no target, and the copies, to hold until the spawn returns.
#[cfg(any(not(target_os = "linux"), test))]
pub(crate) fn copy_off_targets(
    moves: &[(RawFd, RawFd)],
    copy_in_place: bool,
) -> io::Result<(Moves, Vec<OwnedFd>)> {
    let is_target = |n: RawFd| moves.iter().any(|&(_, t)| t == n);
    let mut copies = Vec::new();
    let mut out = Vec::with_capacity(moves.len());
    for &(source, target) in moves {
        let collides = if source == target {
            copy_in_place
        } else {
            is_target(source)
        };
        if !collides {
            out.push((source, target));
            continue;
        }
        let mut min = 3;
        loop {
            // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` creates a new fd at a free number and closes
            // nothing; `source` is open (the caller's contract). The new fd is ours.
            let r = unsafe { libc::fcntl(source, libc::F_DUPFD_CLOEXEC, min) };
            if r == -1 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `r` is a new fd, owned by nobody else.
            let copy = unsafe { OwnedFd::from_raw_fd(r) };
            if !is_target(r) {
                out.push((r, target));
                copies.push(copy);
                break;
            }
            min = r.saturating_add(1); // dropped: closed, and the next try starts above
        }
    }
    Ok((out, copies))
}

/// For FreeBSD's file actions: the numbers from 3 up that are no target of `moves` and lie
/// below the highest (each to close), and the first number above every target (to close
/// from).
#[cfg(any(target_os = "freebsd", test))]
pub(crate) fn closes(moves: &[(RawFd, RawFd)]) -> (Vec<RawFd>, RawFd) {
    let above = moves
        .iter()
        .map(|&(_, t)| t.saturating_add(1))
        .max()
        .unwrap_or(3)
        .max(3);
    let below = (3..above)
        .filter(|&n| !moves.iter().any(|&(_, t)| t == n))
        .collect();
    (below, above)
}

#[cfg(test)]
mod tests {
    use super::{PathSearch, closes, copy_off_targets};
    use std::os::fd::{AsRawFd, OwnedFd};

    fn open() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    #[test]
    fn swapped_sources_are_copied_off_every_target() {
        let (a, b) = (open(), open());
        let (ra, rb) = (a.as_raw_fd(), b.as_raw_fd());
        let moves = [(ra, rb), (rb, ra), (ra, 40)];
        let (out, copies) = copy_off_targets(&moves, false).unwrap();
        let targets: Vec<_> = moves.iter().map(|m| m.1).collect();
        assert_eq!(out.iter().map(|m| m.1).collect::<Vec<_>>(), targets);
        assert!(out.iter().all(|(s, _)| !targets.contains(s)), "{out:?}");
        assert_eq!(copies.len(), 3, "each source is a target: {out:?}");
        assert!(crate::sys::is_cloexec(&copies[0]).unwrap());
    }

    #[test]
    fn in_place_sources_are_copied_only_when_asked() {
        let a = open();
        let ra = a.as_raw_fd();
        let (out, copies) = copy_off_targets(&[(ra, ra)], false).unwrap();
        assert_eq!((out, copies.len()), (vec![(ra, ra)], 0));
        let (out, copies) = copy_off_targets(&[(ra, ra)], true).unwrap();
        assert_eq!(copies.len(), 1);
        assert_eq!(out, [(copies[0].as_raw_fd(), ra)]);
    }

    #[test]
    fn a_path_search_reports_as_execvp() {
        let after = |errnos: &[i32]| {
            let mut search = PathSearch::new();
            for &e in errnos {
                if !search.go_on(e) {
                    break;
                }
            }
            search.error().raw_os_error()
        };
        assert_eq!(after(&[]), Some(libc::ENOENT));
        assert_eq!(after(&[libc::ENOENT, libc::ENOTDIR]), Some(libc::ENOTDIR));
        assert_eq!(after(&[libc::EACCES, libc::ENOENT]), Some(libc::EACCES));
        assert_eq!(after(&[libc::ENOEXEC, libc::EACCES]), Some(libc::ENOEXEC));
        assert_eq!(after(&[libc::EACCES, libc::E2BIG]), Some(libc::E2BIG));
    }

    #[test]
    fn closes_every_number_but_the_targets() {
        assert_eq!(closes(&[]), (vec![], 3));
        assert_eq!(closes(&[(9, 0), (8, 1)]), (vec![], 3));
        assert_eq!(closes(&[(9, 3), (8, 6)]), (vec![4, 5], 7));
    }
}

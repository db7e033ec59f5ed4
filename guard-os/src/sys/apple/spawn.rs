//! macOS's fd steps of a spawn (`unix/spawn.rs`): `POSIX_SPAWN_CLOEXEC_DEFAULT`, so the
//! child gets only the fds the file actions name: `adddup2` for each kept fd moved to its
//! target, `addinherit_np` for one kept at its own number and for the stdin, stdout and
//! stderr nothing replaces. The kernel applies it in the `posix_spawn` syscall itself: fds
//! other code opened without `FD_CLOEXEC` (macOS has no `SOCK_CLOEXEC`, no `accept4`) never
//! reach a guard child, whatever other threads do meanwhile.

use std::ffi::c_int;
use std::io;
use std::os::fd::RawFd;

// Declared here: the libc crate (0.2.191) has `posix_spawn_file_actions_addchdir_np` for
// Apple but not `addinherit_np` (`<spawn.h>`, macOS 10.7+; `posix_spawn_file_actions_addinherit_np(3)`).
unsafe extern "C" {
    fn posix_spawn_file_actions_addinherit_np(
        actions: *mut libc::posix_spawn_file_actions_t,
        fd: c_int,
    ) -> c_int;
}

/// Every fd not named by a file action is closed at the exec, kept or not.
pub(crate) const SPAWN_FLAGS: c_int = libc::POSIX_SPAWN_CLOEXEC_DEFAULT;

/// Sources are copied to a free number only when they collide with another target:
/// `addinherit_np` keeps one at its own number.
pub(crate) const COPY_IN_PLACE: bool = false;

pub(crate) use libc::posix_spawn_file_actions_addchdir_np as addchdir_np;

/// The file actions that give the child 0-2 (those open and not replaced) and each
/// `(source, target)` of `moves`. `close_others` is moot: `POSIX_SPAWN_CLOEXEC_DEFAULT`
/// closes everything else in any case.
///
/// # Safety
///
/// `actions` is an initialised file actions object; every source is open, and none is
/// another move's target.
pub(crate) unsafe fn fd_actions(
    actions: *mut libc::posix_spawn_file_actions_t,
    moves: &[(RawFd, RawFd)],
    _close_others: bool,
) -> io::Result<()> {
    use super::super::conv::errno_result as check;
    for n in 0..3 {
        // SAFETY: `fcntl(F_GETFD)` reads a flag of a number, open or not.
        let open = unsafe { libc::fcntl(n, libc::F_GETFD) } != -1;
        if open && !moves.iter().any(|&(_, t)| t == n) {
            // SAFETY: an initialised object (contract) and an open fd.
            check(unsafe { posix_spawn_file_actions_addinherit_np(actions, n) })?;
        }
    }
    for &(source, target) in moves {
        // SAFETY: an initialised object (contract); `source` is open.
        check(unsafe {
            if source == target {
                posix_spawn_file_actions_addinherit_np(actions, source)
            } else {
                libc::posix_spawn_file_actions_adddup2(actions, source, target)
            }
        })?;
    }
    Ok(())
}

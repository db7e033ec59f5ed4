//! FreeBSD's fd steps of a spawn (`unix/spawn.rs`): each kept fd `dup2`'ed to its target
//! (one kept at its own number too, from a copy: `dup2` clears `FD_CLOEXEC` on its target),
//! then, unless the plan trusts `FD_CLOEXEC`, every other number from 3 up closed:
//! `addclose` for those below the highest target, `addclosefrom_np` above it (FreeBSD
//! 13.1+). libc's `posix_spawn` runs them in its `vfork`-style child, which reports a
//! failing action's errno as `posix_spawn`'s result.

use std::ffi::{c_char, c_int};
use std::io;
use std::os::fd::RawFd;

// Declared here: the libc crate (0.2.191) has neither for FreeBSD (`<spawn.h>`,
// FreeBSD 13.1+: `posix_spawn_file_actions_addclosefrom_np(3)`,
// `posix_spawn_file_actions_addchdir_np(3)`).
unsafe extern "C" {
    fn posix_spawn_file_actions_addclosefrom_np(
        actions: *mut libc::posix_spawn_file_actions_t,
        from: c_int,
    ) -> c_int;
    /// `chdir` in the child.
    pub(crate) fn posix_spawn_file_actions_addchdir_np(
        actions: *mut libc::posix_spawn_file_actions_t,
        path: *const c_char,
    ) -> c_int;
}

pub(crate) use posix_spawn_file_actions_addchdir_np as addchdir_np;

/// No flag of FreeBSD's own.
pub(crate) const SPAWN_FLAGS: c_int = 0;

/// A source kept at its own number is copied first, and the copy `dup2`'ed back.
pub(crate) const COPY_IN_PLACE: bool = true;

/// The file actions that place each `(source, target)` of `moves`, then, with
/// `close_others`, close every number from 3 up that is no target.
///
/// # Safety
///
/// `actions` is an initialised file actions object; every source is open, and none is a
/// target.
pub(crate) unsafe fn fd_actions(
    actions: *mut libc::posix_spawn_file_actions_t,
    moves: &[(RawFd, RawFd)],
    close_others: bool,
) -> io::Result<()> {
    use super::super::conv::errno_result as check;
    for &(source, target) in moves {
        // SAFETY: an initialised object (contract); `source` is open.
        check(unsafe { libc::posix_spawn_file_actions_adddup2(actions, source, target) })?;
    }
    if !close_others {
        return Ok(());
    }
    let (below, above) = super::super::spawned::closes(moves);
    for n in below {
        // SAFETY: an initialised object (contract). FreeBSD's child ignores a close of
        // a number that is not open.
        check(unsafe { libc::posix_spawn_file_actions_addclose(actions, n) })?;
    }
    // SAFETY: an initialised object (contract).
    check(unsafe { posix_spawn_file_actions_addclosefrom_np(actions, above) })
}

//! Starting a child on macOS and FreeBSD: [`posix_spawn(3)`](https://man.freebsd.org/cgi/man.cgi?query=posix_spawn&sektion=3)
//! with file actions (never `fork`: macOS makes it one syscall, FreeBSD a `vfork`-style
//! child inside libc), waiting for it with `waitpid`, signalling it with `kill`, and a
//! `kqueue` that tells when it exits.
//!
//! Each OS's own fd hygiene is its file actions (`apple/spawn.rs`: `POSIX_SPAWN_CLOEXEC_DEFAULT`
//! and `addinherit_np`; `freebsd/spawn.rs`: `addclosefrom_np`); what they share is here:
//! the attributes (SIGPIPE back to its default, no signal blocked, as std's children get),
//! the parent's copies of sources that collide with a target, the `PATH` search done in the
//! parent (one `posix_spawn` per candidate, as `execvp` tries each), and the exit watch.
//!
//! No pidfd: the pid names the child until it is reaped, and only its `Child` (or the
//! reaper, after it) reaps it, so `kill` before that cannot reach a recycled pid.
//! Something else that reaps it (`waitpid(-1)`, `SIGCHLD` set to `SIG_IGN`) breaks that.

use super::super::conv::errno_result as check;
use super::super::os::spawn as os;
pub(crate) use super::super::spawned::{
    Image, PidSlot, Spawned, Step, exited_within, poll_readable,
};
use super::super::spawned::{PathSearch, copy_off_targets};
use std::ffi::c_int;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `posix_spawn`'s attributes and file actions, destroyed on drop.
struct Attrs {
    attr: libc::posix_spawnattr_t,
    actions: libc::posix_spawn_file_actions_t,
}

impl Attrs {
    fn new() -> io::Result<Attrs> {
        let mut attr = MaybeUninit::<libc::posix_spawnattr_t>::uninit();
        // SAFETY: initialises the attribute object at `attr`, which has room for one.
        check(unsafe { libc::posix_spawnattr_init(attr.as_mut_ptr()) })?;
        let mut actions = MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        // SAFETY: as above, for the file actions object.
        let r = unsafe { libc::posix_spawn_file_actions_init(actions.as_mut_ptr()) };
        if let Err(e) = check(r) {
            // SAFETY: `attr` was initialised above and is destroyed once.
            unsafe { libc::posix_spawnattr_destroy(attr.as_mut_ptr()) };
            return Err(e);
        }
        // SAFETY: both were initialised above.
        Ok(unsafe {
            Attrs {
                attr: attr.assume_init(),
                actions: actions.assume_init(),
            }
        })
    }
}

impl Drop for Attrs {
    fn drop(&mut self) {
        // SAFETY: both objects were initialised in `new` and are destroyed once, here.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&raw mut self.actions);
            libc::posix_spawnattr_destroy(&raw mut self.attr);
        }
    }
}

/// Starts `image` in a child that gets 0-2 (unless moved over), and each `(source,
/// target)` of `moves` at its target; with `close_others`, nothing else (macOS: nothing
/// else in any case, `POSIX_SPAWN_CLOEXEC_DEFAULT`). The targets are unique (validated in
/// the parent); a source that is also a target is first copied in the parent to a number
/// that is none, so the order of the `dup2`s does not matter.
///
/// # Safety
///
/// Every source in `moves` is open until this returns; every pointer in `image` is valid
/// and its arrays are null-terminated.
pub(crate) unsafe fn spawn(
    image: &Image<'_>,
    moves: &[(RawFd, RawFd)],
    close_others: bool,
) -> Result<Spawned, (Step, io::Error)> {
    debug_assert!(
        image.pid_slot.is_none(),
        "LISTEN_PID goes through /bin/sh here"
    );
    let (moves, _copies) =
        copy_off_targets(moves, os::COPY_IN_PLACE).map_err(|e| (Step::Setup, e))?;
    let mut attrs = Attrs::new().map_err(|e| (Step::Clone, e))?;
    // SAFETY: `attrs` holds initialised objects; `moves`' sources are open (contract, and
    // `_copies` holds the copies); `cwd` is a valid C string (contract), copied by the call.
    unsafe { configure(&mut attrs, &moves, close_others, image.cwd) }
        .map_err(|e| (Step::Clone, e))?;
    let mut search = PathSearch::new();
    for path in image.paths {
        let mut pid: libc::pid_t = 0;
        // SAFETY: valid C strings and null-terminated arrays (contract); `attrs`' objects are
        // initialised; `posix_spawn` does not keep the pointers. The `*mut` casts are its C
        // signature (it writes through none of them).
        let r = unsafe {
            libc::posix_spawn(
                &raw mut pid,
                path.as_ptr(),
                &raw const attrs.actions,
                &raw const attrs.attr,
                image.argv.as_ptr().cast::<*mut libc::c_char>(),
                image.envp.as_ptr().cast::<*mut libc::c_char>(),
            )
        };
        if r == 0 {
            let pid = pid.unsigned_abs();
            return match exit_watch(pid) {
                Ok(pidfd) => Ok(Spawned { pid, pidfd }),
                Err(e) => {
                    // SAFETY: our own child, not reaped yet: the pid cannot be recycled.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                    let _ = waitpid(pid, true);
                    Err((Step::Pidfd, e))
                }
            };
        }
        if !search.go_on(r) {
            break;
        }
    }
    Err((Step::Exec, search.error()))
}

/// Sets the attributes (SIGPIPE to its default, an empty signal mask, the OS's own flags)
/// and the file actions (the OS's fd steps, then the working directory).
///
/// # Safety
///
/// As [`spawn`], with `moves` free of collisions.
unsafe fn configure(
    attrs: &mut Attrs,
    moves: &[(RawFd, RawFd)],
    close_others: bool,
    cwd: Option<&std::ffi::CStr>,
) -> io::Result<()> {
    let mut pipe = MaybeUninit::<libc::sigset_t>::uninit();
    let mut none = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initialises each set; `sigaddset` adds a valid signal.
    let (pipe, none) = unsafe {
        libc::sigemptyset(pipe.as_mut_ptr());
        libc::sigaddset(pipe.as_mut_ptr(), libc::SIGPIPE);
        libc::sigemptyset(none.as_mut_ptr());
        (pipe.assume_init(), none.assume_init())
    };
    let flags = libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK | os::SPAWN_FLAGS;
    // SAFETY: an initialised attribute object and valid signal sets, copied by the calls.
    unsafe {
        check(libc::posix_spawnattr_setsigdefault(
            &raw mut attrs.attr,
            &raw const pipe,
        ))?;
        check(libc::posix_spawnattr_setsigmask(
            &raw mut attrs.attr,
            &raw const none,
        ))?;
        check(libc::posix_spawnattr_setflags(
            &raw mut attrs.attr,
            flags as libc::c_short,
        ))?;
    }
    // SAFETY: an initialised file actions object; the sources are open (contract).
    unsafe { os::fd_actions(&raw mut attrs.actions, moves, close_others) }?;
    if let Some(dir) = cwd {
        // SAFETY: an initialised file actions object and a valid C string, copied.
        check(unsafe { os::addchdir_np(&raw mut attrs.actions, dir.as_ptr()) })?;
    }
    Ok(())
}

/// A close-on-exec `kqueue` with an `EVFILT_PROC`/`NOTE_EXIT` filter on `pid`: readable once
/// the child has exited. A child that has exited already (a zombie, not reaped: only its
/// `Child` reaps it) may be refused (`ESRCH`): the `kqueue` is then made readable at once
/// (`EVFILT_USER`, `NOTE_TRIGGER`).
fn exit_watch(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: `kqueue` takes no argument and returns a new fd or -1.
    let kq = unsafe { libc::kqueue() };
    if kq == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd, owned by nobody else.
    let kq = unsafe { OwnedFd::from_raw_fd(kq) };
    // macOS and FreeBSD before 14 have no atomic `kqueue` close-on-exec flag; a kqueue is not
    // inherited across `fork` on either, and guard's spawns pass none.
    // SAFETY: `fcntl(F_SETFD)` on an fd we own.
    if unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    match add_filter(&kq, pid as usize, libc::EVFILT_PROC, libc::NOTE_EXIT) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            add_filter(&kq, 0, libc::EVFILT_USER, 0)?;
            add_filter(&kq, 0, libc::EVFILT_USER, libc::NOTE_TRIGGER)?;
        }
        other => other?,
    }
    Ok(kq)
}

/// `kevent(2)` registering one filter (`EV_ADD`) on `kq`.
fn add_filter(kq: &OwnedFd, ident: usize, filter: i16, fflags: u32) -> io::Result<()> {
    // SAFETY: `kevent` is plain data; all zeroes is a valid value, then filled in.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident;
    ev.filter = filter;
    ev.flags = libc::EV_ADD;
    ev.fflags = fflags;
    // SAFETY: one valid change, no event list, no timeout (returns at once).
    let r = unsafe {
        libc::kevent(
            kq.as_raw_fd(),
            &raw const ev,
            1,
            std::ptr::null_mut(),
            0,
            std::ptr::null(),
        )
    };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// [`waitpid(2)`](https://man.freebsd.org/cgi/man.cgi?query=waitpid&sektion=2) of `pid`
/// (with `WNOHANG` if `!block`): its wait status, `None` if it still runs. Retries on
/// `EINTR`.
fn waitpid(pid: u32, block: bool) -> io::Result<Option<i32>> {
    let options = if block { 0 } else { libc::WNOHANG };
    let mut status: c_int = 0;
    loop {
        // SAFETY: writes the status into `status`; `pid` is our child.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &raw mut status, options) };
        if r > 0 {
            return Ok(Some(status));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Waits for the child `pid` (blocking or not): its wait status, `None` if it still runs.
/// The exit watch is not needed (`waitpid` names the child: the pid is ours until it is
/// reaped).
pub(crate) fn wait(pid: u32, _watch: impl AsFd, block: bool) -> io::Result<Option<i32>> {
    waitpid(pid, block)
}

/// [`kill(2)`](https://man.freebsd.org/cgi/man.cgi?query=kill&sektion=2) of `signal` to the
/// child `pid`, which is not reaped yet (the caller's `Child` is the only one to reap it),
/// so the pid is still its own.
pub(crate) fn send_signal(pid: u32, _watch: impl AsFd, signal: c_int) -> io::Result<()> {
    // SAFETY: plain integers.
    if unsafe { libc::kill(pid as libc::pid_t, signal) } == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

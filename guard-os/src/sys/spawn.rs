//! Starting a child without copying this process's page tables:
//! [`clone(2)`](https://man7.org/linux/man-pages/man2/clone.2.html) with `CLONE_VM |
//! CLONE_VFORK | CLONE_PIDFD`, the way glibc's `posix_spawn` starts its children.
//!
//! The child runs on a stack of its own, in this process's memory, while the calling thread
//! is suspended until it has exec'd or exited. It resets every signal handler to the
//! default (a handler of the parent's must never run in the shared memory), runs the
//! caller's async-signal-safe steps, changes directory, clears its signal mask and execs.
//! A failing step stores its errno in this process's memory (no pipe: nothing can be
//! written into an fd) and exits with 127; the parent reaps it and reports the error.

use super::conv::errno;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// What the child execs: every pointer array ends with a null pointer, and everything they
/// point to outlives [`spawn`].
#[derive(Debug)]
pub(crate) struct Image<'a> {
    /// The paths to try in turn (the `PATH` search, done in the parent), as `execvp` does:
    /// a path that does not exist moves on to the next.
    pub(crate) paths: &'a [&'a CStr],
    pub(crate) argv: &'a [*const c_char],
    pub(crate) envp: &'a [*const c_char],
    pub(crate) cwd: Option<&'a CStr>,
}

/// The child's step that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Creating the child (`mmap` of its stack, or `clone` itself).
    Clone,
    /// The caller's steps (placing the fds it keeps).
    Setup,
    /// `chdir` to the working directory.
    Chdir,
    /// `execve` of every path.
    Exec,
}

/// A child that was started; it has exec'd.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: u32,
    /// Close-on-exec, refers to this child only (never to a recycled pid).
    pub(crate) pidfd: OwnedFd,
}

/// The child's report to the parent, in the parent's memory.
struct Shared<'a> {
    image: &'a Image<'a>,
    setup: &'a mut dyn FnMut() -> io::Result<()>,
    /// 0 while nothing failed, else the failing `Step` + 1.
    step: AtomicI32,
    errno: AtomicI32,
}

const STACK: usize = 64 * 1024;
const GUARD: usize = 4096;

/// Starts `image` in a child that first runs `setup`.
///
/// # Safety
///
/// `setup` runs in the child, in this process's memory, while other threads of this
/// process run on: it must be async-signal-safe (raw syscalls only, no allocation, no
/// lock), must not unwind, and may change only the child's fds. Every pointer in `image`
/// must be valid and its arrays null-terminated.
pub(crate) unsafe fn spawn(
    image: &Image<'_>,
    setup: &mut dyn FnMut() -> io::Result<()>,
) -> Result<Spawned, (Step, io::Error)> {
    let mut shared = Shared {
        image,
        setup,
        step: AtomicI32::new(0),
        errno: AtomicI32::new(0),
    };
    // SAFETY: an anonymous private mapping at an address the kernel picks: it aliases
    // nothing; it is unmapped below, after the child has exec'd or exited.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK + GUARD,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err((Step::Clone, io::Error::last_os_error()));
    }
    // SAFETY: the lowest page of the mapping just made: an overflow of the child's stack
    // faults there instead of writing below it.
    unsafe { libc::mprotect(stack, GUARD, libc::PROT_NONE) };
    let mut pidfd: c_int = -1;
    let mut all: [u64; 16] = [u64::MAX; 16];
    let mut old: [u64; 16] = [0; 16];
    // SAFETY: `rt_sigprocmask` with sigset buffers of 128 bytes (the kernel reads and writes
    // its 8): every signal is blocked on this thread, also glibc's internal ones, so no
    // handler runs in the child before it resets them; restored below.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            all.as_mut_ptr(),
            old.as_mut_ptr(),
            8usize,
        )
    };
    // SAFETY: `child_main` runs on the new stack (its top is passed, 16-aligned, the
    // mapping is STACK + GUARD bytes), with `shared`, which outlives it: CLONE_VFORK
    // suspends this thread until the child has exec'd or exited. CLONE_VM shares the
    // memory (no page table copied); without CLONE_FILES the child gets a copy of the fd
    // table; CLONE_PIDFD stores a close-on-exec pidfd into `pidfd`; SIGCHLD makes it an
    // ordinary child to wait for.
    let pid = unsafe {
        let top = stack.cast::<u8>().add(STACK + GUARD).cast::<c_void>();
        libc::clone(
            child_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
            (&raw mut shared).cast::<c_void>(),
            &raw mut pidfd,
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores this thread's mask saved above.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            old.as_mut_ptr(),
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    // SAFETY: the mapping made above; the child no longer runs on it (it exec'd or exited).
    unsafe { libc::munmap(stack, STACK + GUARD) };
    if pid == -1 {
        return Err((Step::Clone, clone_error));
    }
    // SAFETY: CLONE_PIDFD stored a new fd, owned by nobody else, in `pidfd`.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    match shared.step.load(Ordering::SeqCst) {
        0 => Ok(Spawned {
            pid: pid.unsigned_abs(),
            pidfd,
        }),
        step => {
            let _ = wait(&pidfd, false); // reap it: it has exited
            let step = match step {
                1 => Step::Clone,
                2 => Step::Setup,
                3 => Step::Chdir,
                _ => Step::Exec,
            };
            let e = io::Error::from_raw_os_error(shared.errno.load(Ordering::SeqCst));
            Err((step, e))
        }
    }
}

/// The child. Async-signal-safe only; never returns (execs or `_exit`s).
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `Shared`, alive and not touched by the suspended
    // parent thread until this child has exec'd or exited.
    let Shared {
        image,
        setup,
        step,
        errno,
    } = unsafe { &mut *arg.cast::<Shared<'_>>() };
    let fail = |failed: Step, e: io::Error| -> ! {
        errno.store(e.raw_os_error().unwrap_or(0), Ordering::SeqCst);
        step.store(failed as i32 + 1, Ordering::SeqCst);
        // SAFETY: `_exit` ends this child only (no CLONE_THREAD), running no atexit handler.
        unsafe { libc::_exit(127) }
    };
    reset_signal_handlers();
    if let Err(e) = setup() {
        fail(Step::Setup, e);
    }
    if let Some(dir) = image.cwd {
        // SAFETY: `dir` is a valid C string (the `Image` contract).
        if unsafe { libc::chdir(dir.as_ptr()) } == -1 {
            fail(Step::Chdir, io::Error::last_os_error());
        }
    }
    let empty: [u64; 16] = [0; 16];
    // SAFETY: `rt_sigprocmask` reads 8 bytes of `empty`: the new image starts with no
    // signal blocked, as std's children do.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            empty.as_ptr(),
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    let mut denied = false;
    let mut last = libc::ENOENT;
    // As `execvp`: a path that is missing moves on to the next; one found but not
    // executable is remembered (EACCES wins if nothing else is found).
    for path in image.paths {
        // SAFETY: valid C strings and null-terminated arrays (the `Image` contract).
        unsafe { libc::execve(path.as_ptr(), image.argv.as_ptr(), image.envp.as_ptr()) };
        last = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        match last {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => break,
        }
    }
    if denied
        && matches!(
            last,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT
        )
    {
        last = libc::EACCES;
    }
    fail(Step::Exec, io::Error::from_raw_os_error(last))
}

/// In the child: every caught signal back to its default action, and SIGPIPE too (Rust
/// programs ignore it; std's children get the default).
fn reset_signal_handlers() {
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

/// [`waitid(P_PIDFD)`](https://man7.org/linux/man-pages/man2/waitid.2.html) with
/// `WEXITED` (and `WNOHANG` if `!block`): the child's wait status as `waitpid` encodes it,
/// `None` if it still runs. Retries on `EINTR`.
pub(crate) fn wait(pidfd: impl AsFd, block: bool) -> io::Result<Option<i32>> {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    let mut options = WaitIdOptions::EXITED;
    if !block {
        options |= WaitIdOptions::NOHANG;
    }
    let status = loop {
        match waitid(WaitId::PidFd(pidfd.as_fd()), options) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other.map_err(errno)?,
        }
    };
    Ok(status.map(|s| {
        if let Some(code) = s.exit_status() {
            (code & 0xff) << 8
        } else {
            let sig = s.terminating_signal().unwrap_or(0);
            if s.dumped() { sig | 0x80 } else { sig }
        }
    }))
}

/// [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
/// of `SIGKILL`: reaches the child the pidfd refers to, never a recycled pid.
pub(crate) fn kill(pidfd: impl AsFd) -> io::Result<()> {
    rustix::process::pidfd_send_signal(pidfd, rustix::process::Signal::KILL).map_err(errno)
}

/// [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html) for readability, without
/// timeout: each entry of `ready` is set to whether its fd in `fds` is readable (a pidfd is
/// once its process has exited). Retries on `EINTR`.
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

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
use super::spawned::PathSearch;
pub(crate) use super::spawned::{Image, PidSlot, Spawned, Step, exited_within, poll_readable};
use std::ffi::{c_int, c_void};
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The child's report to the parent, in the parent's memory.
struct Shared<'a> {
    image: &'a Image<'a>,
    setup: &'a mut dyn FnMut() -> io::Result<()>,
    /// 0 while nothing failed, else the failing `Step` + 1.
    step: AtomicI32,
    errno: AtomicI32,
}

/// How the parent gets the child's pidfd: [`PidfdVia::Clone`] but in tests of the
/// fallbacks, which force what an older kernel does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PidfdVia {
    /// `CLONE_PIDFD`; where the kernel refuses it, `pidfd_open`.
    Clone,
    /// `pidfd_open` (as if `CLONE_PIDFD` were refused).
    Open,
    /// Neither (as if `pidfd_open` failed with `ENOSYS`).
    Nothing,
}

const STACK: usize = 64 * 1024;
const GUARD: usize = 4096;

/// Starts `image` in a child that first runs `setup`, getting its pidfd `via` that way.
///
/// # Safety
///
/// `setup` runs in the child, in this process's memory, while other threads of this
/// process run on: it must be async-signal-safe (raw syscalls only, no allocation, no
/// lock), must not unwind, and may change only the child's fds. Every pointer in `image`
/// must be valid and its arrays null-terminated; its `pid_slot`, if any, must be valid
/// per [`PidSlot`] until this returns.
pub(crate) unsafe fn spawn(
    image: &Image<'_>,
    setup: &mut dyn FnMut() -> io::Result<()>,
    via: PidfdVia,
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
    let start = |flags: c_int, pidfd: &mut c_int, shared: &mut Shared<'_>| unsafe {
        let top = stack.cast::<u8>().add(STACK + GUARD).cast::<c_void>();
        libc::clone(
            child_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD | flags,
            std::ptr::from_mut(shared).cast::<c_void>(),
            std::ptr::from_mut(pidfd),
        )
    };
    let (mut pid, mut clone_error) = if via == PidfdVia::Clone {
        let pid = start(libc::CLONE_PIDFD, &mut pidfd, &mut shared);
        (pid, io::Error::last_os_error())
    } else {
        (-1, io::Error::from_raw_os_error(libc::EINVAL)) // as a kernel refusing the flag
    };
    if pid == -1
        && matches!(
            clone_error.raw_os_error(),
            Some(libc::EINVAL | libc::ENOSYS)
        )
    {
        // A kernel (or a seccomp filter) that refuses CLONE_PIDFD: without it, and
        // `pidfd_open` below.
        pid = start(0, &mut pidfd, &mut shared);
        clone_error = io::Error::last_os_error();
    }
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
    let pidfd = if pidfd >= 0 {
        // SAFETY: CLONE_PIDFD stored a new fd, owned by nobody else, in `pidfd`.
        unsafe { OwnedFd::from_raw_fd(pidfd) }
    } else {
        // No CLONE_PIDFD: the child is not reaped yet, so `pid` is still its own.
        let opened = if via == PidfdVia::Nothing {
            Err(io::Error::from_raw_os_error(libc::ENOSYS))
        } else {
            pidfd_open(pid)
        };
        match opened {
            Ok(fd) => fd,
            Err(e) => {
                // SAFETY: `kill` and `waitpid` on our own child, not reaped yet: the pid
                // cannot have been recycled.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    while libc::waitpid(pid, std::ptr::null_mut(), 0) == -1
                        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
                    {
                    }
                }
                return Err((Step::Pidfd, e));
            }
        }
    };
    match shared.step.load(Ordering::SeqCst) {
        0 => Ok(Spawned {
            pid: pid.unsigned_abs(),
            pidfd,
        }),
        step => {
            // Reap it: it is exiting. Blocking: CLONE_VFORK resumes this thread when the
            // child releases its memory, before it has become a zombie, and `WNOHANG`
            // then finds nothing (the child would stay a zombie).
            let _ = wait(0, &pidfd, true);
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

/// [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html) of `pid`.
fn pidfd_open(pid: c_int) -> io::Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid).ok_or(io::ErrorKind::InvalidInput)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).map_err(errno)
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
    // SAFETY: this is the child, with its own handler table (no CLONE_SIGHAND), before exec.
    unsafe { super::child::reset_signal_handlers() };
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
    if let Some(slot) = image.pid_slot {
        // SAFETY: the `Image` contract: a `PidSlot` that nothing else touches while the
        // parent's thread is suspended.
        unsafe { super::child::write_pid(slot.ptr, slot.len) };
    }
    let mut search = PathSearch::new();
    for path in image.paths {
        // SAFETY: valid C strings and null-terminated arrays (the `Image` contract).
        unsafe { libc::execve(path.as_ptr(), image.argv.as_ptr(), image.envp.as_ptr()) };
        if !search.go_on(io::Error::last_os_error().raw_os_error().unwrap_or(0)) {
            break;
        }
    }
    fail(Step::Exec, search.error())
}

/// [`waitid(P_PIDFD)`](https://man7.org/linux/man-pages/man2/waitid.2.html) with
/// `WEXITED` (and `WNOHANG` if `!block`): the child's wait status as `waitpid` encodes it,
/// `None` if it still runs. Retries on `EINTR`. (`pid` is for the other OSes' signature:
/// the pidfd names the child here.)
pub(crate) fn wait(_pid: u32, pidfd: impl AsFd, block: bool) -> io::Result<Option<i32>> {
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
/// of `signal` (a number, as `kill(2)` takes it). (`pid` is for the other OSes' signature.)
pub(crate) fn send_signal(_pid: u32, pidfd: impl AsFd, signal: c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain integers and a null `siginfo` (the kernel fills in a default one).
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_fd().as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

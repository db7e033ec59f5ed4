//! Helpers shared by guard-os's integration tests: a watchdog, /proc/self/fd listings,
//! child processes re-executing the test binary, fds opened the way C code would and
//! threads churning fds. What other packages' tests need too is in guard-testkit.
#![allow(dead_code)]

use std::os::fd::OwnedFd;
use std::process::{Child, Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

#[allow(unused_imports)] // each test binary uses a different subset
pub use guard_testkit::{full, payload, serial, size, temp_path};

/// Runs `f` on its own thread and fails the test (instead of hanging it) if it does not
/// finish within `secs` seconds. A panic in `f` is propagated.
pub fn watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    guard_testkit::watchdog(Duration::from_secs(secs), f)
}

/// The fds open in this process, per /proc/self/fd, without the directory's own fd.
pub fn open_fds() -> Vec<i32> {
    let fds = guard_testkit::open_fds().expect("read /proc/self/fd");
    fds.into_keys().collect()
}

/// A command re-executing this test binary to run only the test `name`, with `role` in
/// the `GUARD_OS_TEST_ROLE` environment variable (the test checks it and plays the role).
pub fn child(name: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1", "-q"])
        .env("GUARD_OS_TEST_ROLE", role);
    cmd
}

/// Runs the test `name` alone in a child process of its own (playing `role`), at most
/// `secs` seconds, and fails if it did not pass there. For tests that choose fd numbers or
/// need process-wide state: in this process other tests' threads open and close fds all the
/// time (the churn tests' without pause, some 50 fds open at once), so an fd a test opens
/// can land on a number it meant as another fd's target, or on one its checks expect free.
pub fn in_a_child(name: &str, role: &str, secs: u64) {
    let out = output_of(&mut child(name, role), secs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a child ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// For a test that runs alone in a child process of its own: in the child playing `role`,
/// runs `body`; in the test process, runs the test `name` in such a child (see
/// [`in_a_child`]) under a watchdog of `secs` seconds; in a child playing another role,
/// nothing.
pub fn alone(name: &'static str, role: &'static str, secs: u64, body: impl FnOnce()) {
    match self::role().as_deref() {
        Some(r) if r == role => body(),
        Some(_) => {}
        None => watchdog(secs, move || {
            in_a_child(name, role, secs.saturating_sub(10))
        }),
    }
}

/// The role this process plays, if it is a child started by [`child`].
pub fn role() -> Option<String> {
    std::env::var("GUARD_OS_TEST_ROLE").ok()
}

/// Runs `cmd` with its stdout and stderr captured, at most `secs` seconds (see
/// [`wait_output`]).
pub fn output_of(cmd: &mut Command, secs: u64) -> Output {
    guard_testkit::output_of(cmd, Duration::from_secs(secs))
}

/// Waits for `child` at most `secs` seconds, reading its piped output meanwhile; kills it
/// and panics on timeout.
pub fn wait_output(child: Child, secs: u64) -> Output {
    guard_testkit::wait_output(child, Duration::from_secs(secs))
}

/// An fd opened the way C code would: no `O_CLOEXEC`, not registered.
pub fn raw_open_without_cloexec() -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain open(2); the result is owned by the returned OwnedFd.
    let n = unsafe { libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY) };
    assert!(
        n >= 0,
        "open /dev/zero: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `n` was just opened and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(n) }
}

/// Two threads opening and closing fds (a registered file, a registered pipe, a raw fd
/// without `O_CLOEXEC`) until `stop`, calling `during` while each round's fds are open;
/// each thread returns its count of rounds.
pub fn churn(stop: &Arc<AtomicBool>, during: fn()) -> Vec<JoinHandle<usize>> {
    (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut rounds = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let f = guard_os::ReadFile::open("/dev/null").unwrap();
                    let (r, w) = guard_os::pipe().unwrap();
                    let raw = raw_open_without_cloexec();
                    during();
                    w.close().unwrap();
                    drop((f, r, raw));
                    rounds += 1;
                }
                rounds
            })
        })
        .collect()
}

/// Whether `pid` is a zombie child of this process: from outside, `/proc/<pid>/stat`.
pub fn is_zombie_of_ours(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let mut rest = stat.rsplit_once(") ").unwrap().1.split(' ');
    let state = rest.next().unwrap();
    let ppid: u32 = rest.next().unwrap().parse().unwrap();
    state == "Z" && ppid == std::process::id()
}

/// Whether any child of this process is waitable (exited, not reaped), asked without
/// reaping it: `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)`.
pub fn any_unreaped_child() -> bool {
    // SAFETY: a zeroed siginfo_t is a valid buffer for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid siginfo_t; WNOWAIT leaves any child as it is.
    let r = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &raw mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: `si_pid` is valid to read after waitid (0 when no child was waitable).
    r == 0 && unsafe { info.si_pid() } != 0
}

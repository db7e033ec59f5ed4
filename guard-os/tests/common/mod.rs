//! Helpers shared by the integration tests: a watchdog, /proc/self/fd listings, child
//! processes re-executing the test binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::Duration;

#[allow(unused_imports)] // each test binary uses a different subset
pub use guard_testkit::{full, payload, size};

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

/// A unique path in the temp dir.
pub fn temp_path(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("guard-os-test-{}-{tag}-{n}", std::process::id()))
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

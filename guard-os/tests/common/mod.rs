//! Helpers shared by the integration tests: a watchdog, /proc/self/fd listings, child
//! processes re-executing the test binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `GUARD_FULL=1` in the environment: run the stress tests at the sizes the issue asks for
/// (1,000 spawns under churn, 100k open/close cycles) instead of the CI sizes.
pub fn full() -> bool {
    std::env::var_os("GUARD_FULL").is_some_and(|v| v == "1")
}

/// `ci` normally, `full` under `GUARD_FULL=1`.
pub fn size(ci: usize, full: usize) -> usize {
    if self::full() { full } else { ci }
}

/// Runs `f` on its own thread and fails the test (instead of hanging it) if it does not
/// finish within `secs` seconds. A panic in `f` is propagated.
pub fn watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => match handle.join().expect("watchdog thread") {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(_) => panic!("test did not finish within {secs}s (hang)"),
    }
}

/// The fds open in this process, per /proc/self/fd, without the directory's own fd.
pub fn open_fds() -> Vec<i32> {
    let own = PathBuf::from(format!("/proc/{}/fd", std::process::id()));
    let mut fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n: i32 = e.file_name().to_str()?.parse().ok()?;
            match std::fs::read_link(e.path()) {
                Ok(target) if target == own => None,
                Ok(_) => Some(n),
                Err(_) => None, // closed meanwhile: the directory's fd itself
            }
        })
        .collect();
    fds.sort_unstable();
    fds
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
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child");
    wait_output(child, secs)
}

/// Waits for `child` at most `secs` seconds; kills it and panics on timeout.
pub fn wait_output(mut child: Child, secs: u64) -> Output {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match child.try_wait().expect("try_wait") {
            Some(_) => return child.wait_with_output().expect("wait_with_output"),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child did not finish within {secs}s");
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The lines between `BEGIN` and `END` markers in a child's stdout (libtest prints its own
/// lines around them).
pub fn payload(out: &Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        match line.trim() {
            "BEGIN" => inside = true,
            "END" => inside = false,
            l if inside => lines.push(l.to_owned()),
            _ => {}
        }
    }
    lines
}

/// A unique path in the temp dir.
pub fn temp_path(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("guard-os-test-{}-{tag}-{n}", std::process::id()))
}

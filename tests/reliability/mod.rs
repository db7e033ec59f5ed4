//! Helpers shared by the reliability suites (`tests/reliability_*.rs`): sizes, a watchdog,
//! `/proc/self/fd` snapshots, machine-readable result lines, child processes and event
//! capture.
//!
//! Every suite is its own test binary, so process-wide state (the event hook, the stuck
//! deadline, rlimits, fd numbers) never leaks from one suite into another. Inside a binary,
//! tests that depend on such state take [`serial`].
//!
//! Result lines: each test prints `RELIABILITY {json}` on stdout (seen with `--nocapture`);
//! `reliability/report.py` turns them into `RELIABILITY.md`.

#![allow(dead_code)] // each suite uses a different subset

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// `GUARD_FULL=1`: run at the sizes (the variable guard-os's tests use too); `ci`
/// or `full` by it.
#[allow(unused_imports)] // each suite uses a different subset
pub use guard_testkit::{full, size};

/// "ci" or "full", for the result lines.
pub fn size_name() -> &'static str {
    if full() { "full" } else { "ci" }
}

/// Serialises the tests of one binary that look at fd numbers, the event hook or other
/// process-wide state.
#[allow(unused_imports)]
pub use guard_testkit::serial;

/// Scenarios run under a watchdog in this process, and how many of them hung.
static WATCHED: AtomicU64 = AtomicU64::new(0);
static HUNG: AtomicU64 = AtomicU64::new(0);

/// (scenarios watched, scenarios that hung) so far in this process.
pub fn watched() -> (u64, u64) {
    (
        WATCHED.load(Ordering::Relaxed),
        HUNG.load(Ordering::Relaxed),
    )
}

/// Runs `f` on its own thread; fails the test (never hangs it) if `f` has not finished
/// within `secs` seconds. A panic in `f` propagates. A hang is also printed as a result
/// line, so that the report counts it.
pub fn watchdog<T: Send + 'static>(
    what: &str,
    secs: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    WATCHED.fetch_add(1, Ordering::Relaxed);
    let limit = Duration::from_secs(secs);
    match guard_testkit::try_watchdog(&format!("watched: {what}"), limit, f) {
        Ok(v) => v,
        Err(hung) => {
            HUNG.fetch_add(1, Ordering::Relaxed);
            Record::new("watchdog", what)
                .count("hung_after_s", secs)
                .emit();
            panic!("{what}: {hung} (hang)")
        }
    }
}

/// One fd: its number and what it points to.
pub type FdEntry = (i32, String);

/// What `/proc/self/fd` shows: number -> link target, without the directory's own fd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdSnapshot(pub BTreeMap<i32, String>);

impl FdSnapshot {
    /// Reads `/proc/self/fd` now.
    pub fn take() -> FdSnapshot {
        FdSnapshot(guard_testkit::open_fds().expect("read /proc/self/fd"))
    }

    /// The numbers open now and not in `base`, and those in `base` and not open now (or
    /// open to something else).
    pub fn diff(&self, base: &FdSnapshot) -> (Vec<FdEntry>, Vec<FdEntry>) {
        let added = self
            .0
            .iter()
            .filter(|(n, t)| base.0.get(n) != Some(t))
            .map(|(n, t)| (*n, t.clone()))
            .collect();
        let removed = base
            .0
            .iter()
            .filter(|(n, t)| self.0.get(n) != Some(t))
            .map(|(n, t)| (*n, t.clone()))
            .collect();
        (added, removed)
    }

    /// Number of fds.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// True if `n` is an open fd (`fcntl(F_GETFD)` succeeds).
pub fn is_open(n: i32) -> bool {
    // SAFETY: F_GETFD on any number only reads the fd table; EBADF if it is not open.
    unsafe { libc::fcntl(n, libc::F_GETFD) >= 0 }
}

/// Polls `cond` every millisecond until it holds or `secs` pass; true if it held.
pub fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One machine-readable result line: `RELIABILITY {"suite": ..., "test": ..., ...}`.
#[derive(Debug)]
pub struct Record {
    json: String,
}

impl Record {
    /// A record for `test` of `suite`, with the size it ran at.
    pub fn new(suite: &str, test: &str) -> Record {
        let mut r = Record {
            json: String::from("{"),
        };
        r.push_str("suite", suite);
        r.push_str("test", test);
        r.push_str("size", size_name());
        r
    }

    fn key(&mut self, key: &str) {
        if self.json.len() > 1 {
            self.json.push(',');
        }
        escape(&mut self.json, key);
        self.json.push(':');
    }

    fn push_str(&mut self, key: &str, value: &str) {
        self.key(key);
        escape(&mut self.json, value);
    }

    /// Adds a number.
    pub fn num(mut self, key: &str, value: impl Into<f64>) -> Record {
        let v: f64 = value.into();
        self.key(key);
        if v.fract() == 0.0 && v.abs() < 9e15 {
            let _ = write!(self.json, "{}", v as i64);
        } else {
            let _ = write!(self.json, "{v:.3}");
        }
        self
    }

    /// Adds a count.
    pub fn count(mut self, key: &str, value: u64) -> Record {
        self.key(key);
        let _ = write!(self.json, "{value}");
        self
    }

    /// Adds a string.
    pub fn text(mut self, key: &str, value: &str) -> Record {
        self.push_str(key, value);
        self
    }

    /// Adds a boolean.
    pub fn flag(mut self, key: &str, value: bool) -> Record {
        self.key(key);
        self.json.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds seconds elapsed since `start`.
    pub fn secs(self, key: &str, start: Instant) -> Record {
        self.num(key, start.elapsed().as_secs_f64())
    }

    /// Prints the line.
    pub fn emit(mut self) {
        self.json.push('}');
        println!("RELIABILITY {}", self.json);
    }
}

fn escape(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The environment variable that tells a re-executed test binary which role to play.
pub const ROLE: &str = "GUARD_RELIABILITY_ROLE";

/// A command re-executing this test binary to run only the test `name`, playing `role`.
pub fn child(name: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args([
        "--exact",
        name,
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(ROLE, role)
    .stdin(Stdio::null());
    cmd
}

/// The role this process plays, if it was started by [`child`].
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// Waits for `child` at most `secs`; on timeout kills it (SIGKILL) and returns `None`.
pub fn wait_timeout(child: &mut Child, secs: f64) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `cmd` with captured output, at most `secs`; panics if it hangs.
pub fn run_output(mut cmd: Command, secs: f64) -> Output {
    guard_testkit::output_of(&mut cmd, Duration::from_secs_f64(secs))
}

/// The lines between `BEGIN` and `END` in a child's stdout (libtest prints around them).
#[allow(unused_imports)]
pub use guard_testkit::payload;

/// A path in the temp dir unique to this process and call (`guard-test-<pid>-<tag>-<n>`).
#[allow(unused_imports)]
pub use guard_testkit::temp_path;

/// One event seen by the hook, in the parts the suites check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// `failed`, `panicked`, `stuck`, `unreleased`, `inline`, `unavailable`.
    pub what: &'static str,
    /// The resource's type name (empty where the event has none).
    pub resource: String,
    /// The error or panic message, with its source chain (the event's `Display`).
    pub text: String,
    /// The OS error behind a failed release, if it is a `guard_os::Error`.
    pub errno: Option<i32>,
}

/// Captures every event until dropped (then the default hook is back). Take [`serial`]
/// first: the hook is process-wide.
#[derive(Debug)]
pub struct Events {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Events {
    /// Starts capturing.
    pub fn capture() -> Events {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let sink = seen.clone();
        guard::event::set_hook(move |event| {
            use guard::event::Event;
            let (what, resource, errno) = match event {
                Event::ReleaseFailed {
                    resource, error, ..
                } => {
                    let errno = error
                        .downcast_ref::<guard::os::Error>()
                        .and_then(guard::os::Error::raw_os_error);
                    ("failed", *resource, errno)
                }
                Event::ReleasePanicked { resource, .. } => ("panicked", *resource, None),
                Event::Stuck { resource, .. } => ("stuck", *resource, None),
                Event::Unreleased { origin, .. } => ("unreleased", origin.type_name(), None),
                Event::ReleasedInline { resource } => ("inline", *resource, None),
                _ => ("other", "", None),
            };
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Seen {
                    what,
                    resource: resource.to_owned(),
                    text: event.to_string(),
                    errno,
                });
        });
        Events { seen }
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes everything seen so far.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        guard::event::reset_hook();
    }
}

/// `guard::finalizer::flush` under a bound: everything dropped before is released.
pub fn flush() {
    guard::finalizer::flush_timeout(Duration::from_secs(30)).expect("flush");
}

/// Lowers this process's soft `RLIMIT_NOFILE` to `n` (children of the test binary only).
pub fn set_nofile(n: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let hard = getrlimit(Resource::Nofile).maximum;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(n),
            maximum: hard,
        },
    )
    .expect("setrlimit(RLIMIT_NOFILE)");
}

/// Panic messages starting with this are expected by the test that raises them: the panic
/// hook installed by [`quiet_expected_panics`] does not print them.
pub const EXPECTED: &str = "expected panic";

/// Installs (once) a panic hook that stays silent for [`EXPECTED`] panics and prints every
/// other one as usual.
pub fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !message.starts_with(EXPECTED) {
                default(info);
            }
        }));
    });
}

/// Joins every thread, then resumes the first panic among them (joining them all first, so
/// that no thread of a failed test keeps running under the next one).
pub fn join_all<T>(handles: Vec<std::thread::JoinHandle<T>>) -> Vec<T> {
    let results: Vec<std::thread::Result<T>> = handles.into_iter().map(|h| h.join()).collect();
    let mut values = Vec::new();
    for r in results {
        match r {
            Ok(v) => values.push(v),
            Err(p) => std::panic::resume_unwind(p),
        }
    }
    values
}

/// In a child started with role "list" (`child(LIST, "list")`): prints every fd this
/// process has and what it points to, between `BEGIN` and `END`. Elsewhere: nothing.
pub fn list_fds_in_role() {
    if role().as_deref() != Some("list") {
        return;
    }
    let fds = FdSnapshot::take();
    println!("BEGIN");
    for (n, target) in &fds.0 {
        println!("{n} {target}");
    }
    println!("END");
}

/// Waits for `pid` at most `timeout`: its exit code, or `None` if it hung (then it is
/// killed and reaped) or died of a signal.
pub fn wait_pid(pid: libc::pid_t, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: waitpid on a child of this process, WNOHANG.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        if Instant::now() >= deadline {
            // SAFETY: killing and reaping a child of this process.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

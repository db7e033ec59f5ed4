//! What every scenario shares: the error type, the verdict (did guard's guarantee hold?),
//! a watchdog that turns a hang into a clear failure, `/proc/self/fd` listings, temporary
//! directories and child processes waited for with a deadline.
//!
//! Included with `#[path]` by each example, by the tour and by `tests/examples.rs`; not
//! every includer uses every helper.
#![allow(dead_code)]

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Any error a scenario can hit (a failed open, a refused spawn, ...): printed, never
/// unwrapped.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// `Result` with [`Error`].
pub type Result<T = ()> = std::result::Result<T, Error>;

/// The first argument of a child process started by a scenario (the same binary, playing
/// another role): `<exe> __guard-example <role> ...`.
pub const CHILD_ARG: &str = "__guard-example";

/// The role this process was started to play, if it is such a child.
pub fn child_role() -> Option<String> {
    let mut args = std::env::args();
    (args.nth(1).as_deref() == Some(CHILD_ARG))
        .then(|| args.next())
        .flatten()
}

/// What a scenario found: the checks that failed (each already printed).
#[derive(Debug, Default)]
pub struct Verdict {
    failures: Vec<String>,
}

impl Verdict {
    /// Records a check: prints `FAILED: what` and remembers it if `ok` is false.
    pub fn check(&mut self, ok: bool, what: impl fmt::Display) -> bool {
        if !ok {
            println!("  FAILED: {what}");
            self.failures.push(what.to_string());
        }
        ok
    }

    /// True if every check passed.
    pub fn held(&self) -> bool {
        self.failures.is_empty()
    }

    /// The checks that failed.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }
}

/// Prints a scenario's title and its two or three lines of explanation.
pub fn section(title: &str, about: &[&str]) {
    println!("\n== {title}");
    for line in about {
        println!("   {line}");
    }
    println!();
}

/// Prints one row of a table: a label, a right-aligned value and a note.
pub fn row(label: &str, value: impl fmt::Display, note: &str) {
    let value = value.to_string();
    if note.is_empty() {
        println!("  {label:<44} {value:>6}");
    } else {
        println!("  {label:<44} {value:>6}   {note}");
    }
}

/// The end of an example's `main`: the verdict, or the error, and the exit code.
pub fn exit_code(name: &str, outcome: std::result::Result<&Verdict, &Error>) -> ExitCode {
    match outcome {
        Ok(v) if v.held() => {
            println!("\n{name}: guard's guarantee held.");
            ExitCode::SUCCESS
        }
        Ok(v) => {
            println!("\n{name}: the guarantee did NOT hold:");
            for f in v.failures() {
                println!("  - {f}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("\n{name}: error: {}", chain(&**e));
            ExitCode::from(2)
        }
    }
}

/// An error and its sources, on one line.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        next = cause.source();
    }
    s
}

/// Ends the process (exit code 3) with a message if it is still armed after `limit`: a
/// blocking step that hangs becomes a clear failure. Disarmed when dropped.
#[derive(Debug)]
pub struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    /// Arms a watchdog for the step `what`.
    pub fn arm(what: &'static str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    eprintln!(
                        "watchdog: `{what}` did not finish within {limit:?}: exiting instead of hanging"
                    );
                    std::process::exit(3);
                }
            });
        if let Err(e) = spawned {
            eprintln!("watchdog for `{what}` could not start: {e}");
        }
        Watchdog { disarm: Some(tx) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.disarm.take()); // the watchdog thread sees the channel close and returns
    }
}

/// Every fd open in this process (per `/proc/self/fd`), ascending, with what it refers to;
/// without the fd used to read the directory.
pub fn open_fds() -> Result<Vec<(i32, String)>> {
    Ok(guard_testkit::open_fds()?.into_iter().collect())
}

/// How many fds are open in this process.
pub fn fd_count() -> Result<usize> {
    Ok(guard_testkit::open_fds()?.len())
}

/// What fd `n` refers to now (`/proc/self/fd/n`), if it is open.
pub fn fd_target(n: i32) -> Option<String> {
    guard_testkit::fd_target(n)
}

/// The last segment of a type name: `guard_os::file::ReadFile` -> `ReadFile`.
pub fn short(type_name: &str) -> &str {
    let base = type_name.split('<').next().unwrap_or(type_name);
    base.rsplit("::").next().unwrap_or(base)
}

/// A directory under the temp dir, removed (with its contents) when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/guard-example-<pid>-<tag>`.
    pub fn new(tag: &str) -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("guard-example-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child's exit status and output.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Waits at most `limit` for `child` (spawned with piped stdout and stderr), reading its
/// output meanwhile; kills it on timeout.
pub fn wait_with_deadline(mut child: Child, limit: Duration) -> Result<Finished> {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("child process did not finish within {limit:?}: killed").into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Finished {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

//! The fault cases of scenario 2: a close that fails (an fd closed behind the registry's
//! back), a panic inside the `for_each` callback, and process exit with resources live.

use crate::common::{self, CHILD_ARG, Result, TempDir, Verdict};
use crate::fd_registry::Events;
use guard::os::{CommandExt, Inherit, ReadFile, WriteFile, fds};
use guard::{Counted, Kind};
use parking_lot::Mutex;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The role of the child that exits with resources live.
pub const EXIT_ROLE: &str = "fd-registry-exit";

/// Files the panicking callback drops before it panics.
const PANICKED: usize = 30;

/// The panic message of the panicking callback (silenced: it is expected).
const PANIC: &str = "the for_each callback panics (on purpose)";

/// What the fault cases found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The error `close()` returned for an fd closed behind the registry's back.
    pub failed_close_error: Option<String>,
    /// After that failed close, the registry no longer listed the number.
    pub failed_close_deregistered: bool,
    /// A new file that got the freed number was still open after a pass and a flush: the
    /// failed close was not retried on somebody else's fd.
    pub new_owner_survived: bool,
    /// The event hook got the error of a failed close that had been deferred by a lease.
    pub deferred_failure_reported: bool,
    /// Events the scenario caused on purpose (the rest count as evidence of double closes).
    pub expected_events: Vec<String>,
    /// The panic came out of `for_each` to its caller.
    pub panic_propagated: bool,
    /// After the panic: the files the callback dropped were closed, and the registry lists
    /// exactly what it listed before them.
    pub panic_consistent: bool,
    /// The exit child's summary line (`drained=true unique_live=1 ...`).
    pub exit_summary: String,
    /// Evidence of double closes found here.
    pub closed_twice: Vec<String>,
    /// The checks.
    pub verdict: Verdict,
}

impl Outcome {
    /// True if every check passed.
    pub fn held(&self) -> bool {
        self.verdict.held()
    }
}

/// Runs the three fault cases.
pub fn run(dir: &TempDir, exe: &Path, events: &Events) -> Result<Outcome> {
    let mut out = Outcome::default();
    failed_close(dir, &mut out, events)?;
    panic_in_callback(dir, &mut out)?;
    exit_with_live_resources(dir, exe, &mut out)?;
    Ok(out)
}

/// Closes `n` behind the registry's back, as foreign code (a C library) might.
fn close_behind_the_registrys_back(n: i32) -> Result {
    // SAFETY: deliberately breaks I/O safety to simulate foreign code closing an fd it does
    // not own. Nothing in this process opens an fd between this and the registry's own
    // close of `n`, so the number is not reused meanwhile and no other fd is affected.
    if unsafe { libc::close(n) } != 0 {
        return Err(format!("close({n}): {}", std::io::Error::last_os_error()).into());
    }
    Ok(())
}

/// A close that fails: returned to the caller, the entry removed anyway, never retried;
/// and when a lease deferred it, reported to the event hook.
fn failed_close(dir: &TempDir, out: &mut Outcome, events: &Events) -> Result {
    let path = dir.join("victim");
    std::fs::write(&path, b"victim")?;
    let victim = ReadFile::open(&path)?;
    let n = victim.as_raw_fd();
    close_behind_the_registrys_back(n)?;
    let result = victim.close();
    let mut listed = false;
    fds().for_each(|fd| listed |= fd.number() == n);
    out.failed_close_deregistered = !listed;
    println!(
        "  a close that fails: fd {n} was closed behind the registry's back (as C code might)"
    );
    match result {
        Ok(()) => println!("    close() returned Ok (!)"),
        Err(e) => {
            let text = common::chain(&e);
            println!("    close() returned the error: {text}");
            out.failed_close_error = Some(text);
        }
    }
    println!(
        "    the registry {} fd {n} (the entry goes even when close fails; never retried)",
        if listed {
            "STILL LISTS"
        } else {
            "no longer lists"
        }
    );

    let new_path = dir.join("new-owner");
    std::fs::write(&new_path, b"new owner")?;
    let new_owner = ReadFile::open(&new_path)?;
    let m = new_owner.as_raw_fd();
    fds().for_each(|_| {});
    guard::finalizer::flush()?;
    let expected = new_path.display().to_string();
    out.new_owner_survived = common::fd_target(m).as_deref() == Some(expected.as_str());
    println!(
        "    a new file got fd {m}{}; after another pass and a flush it is {}",
        if m == n { " (the same number)" } else { "" },
        if out.new_owner_survived {
            "still open"
        } else {
            "CLOSED"
        }
    );
    new_owner.close()?;

    // The same, while a pass leases the fd: the close is deferred, so its error goes to the
    // event hook (nobody is left to return it to).
    std::fs::write(&path, b"victim")?;
    let victim = Mutex::new(Some(ReadFile::open(&path)?));
    let n = victim.lock().as_ref().map_or(-1, AsRawFd::as_raw_fd);
    let mut deferred = None;
    let mut behind = Ok(());
    fds().for_each(|fd| {
        if fd.number() == n
            && let Some(v) = victim.lock().take()
        {
            behind = close_behind_the_registrys_back(n);
            deferred = Some(v.close()); // under visit: deferred to the end of this visit
        }
    });
    behind?;
    guard::finalizer::flush()?;
    let needle = format!("closing fd {n} failed");
    let reported: Vec<String> = events
        .lock()
        .iter()
        .filter(|e| e.contains(&needle))
        .cloned()
        .collect();
    out.deferred_failure_reported = reported.len() == 1;
    out.expected_events.extend(reported.iter().cloned());
    println!(
        "  the same while a pass visits the fd: close() returned {} (deferred to the end of",
        match &deferred {
            Some(Ok(())) => "Ok at once".to_owned(),
            Some(Err(e)) => format!("an error ({e})"),
            None => "nothing (never called)".to_owned(),
        }
    );
    println!("    that visit); the deferred close failed, and the event hook got its error:");
    for r in &reported {
        println!("      {r}");
    }

    let v = &mut out.verdict;
    v.check(
        out.failed_close_error
            .as_deref()
            .is_some_and(|e| e.contains("Bad file descriptor")),
        "the failed close did not return EBADF",
    );
    v.check(
        out.failed_close_deregistered,
        "the registry still listed the fd whose close failed",
    );
    v.check(
        out.new_owner_survived,
        "a new file reusing the number was closed: the failed close was retried",
    );
    v.check(
        out.deferred_failure_reported,
        format!(
            "the deferred close failure was reported {} times, not once",
            reported.len()
        ),
    );
    Ok(())
}

/// A panic inside the callback, after it dropped files the pass has leased.
fn panic_in_callback(dir: &TempDir, out: &mut Outcome) -> Result {
    let mut paths = Vec::new();
    let mut files = Vec::new();
    let before = fds().len();
    for i in 0..PANICKED {
        let p = dir.join(format!("panic-{i:02}")).display().to_string();
        std::fs::write(&p, b"panic")?;
        files.push(ReadFile::open(&p)?);
        paths.push(p);
    }
    let files = Mutex::new(Some(files));
    let caught = with_silenced_panic(|| {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            fds().for_each(|_| {
                drop(files.lock().take()); // closes every file: the leased ones deferred
                panic!("{PANIC}");
            })
        }))
    });
    out.panic_propagated = caught.is_err();
    let open_now: Vec<String> = common::open_fds()?.into_iter().map(|(_, t)| t).collect();
    let still_open = paths.iter().filter(|p| open_now.contains(p)).count();
    let mut visited = 0;
    fds().for_each(|_| visited += 1);
    let after = fds().len();
    out.panic_consistent = still_open == 0 && after == before && visited == before;
    println!(
        "  a panic inside the callback, right after it dropped {PANICKED} files the pass had leased:"
    );
    println!(
        "    the panic reached the caller: {}; the leases ended, the files are closed ({} still open);",
        if out.panic_propagated { "yes" } else { "no" },
        still_open
    );
    println!(
        "    the registry lists {after} fds, as before them ({before}); a new pass visited {visited}"
    );
    if still_open > 0 {
        out.closed_twice.push(format!(
            "{still_open} files dropped in the panicking callback still open"
        ));
    }
    let v = &mut out.verdict;
    v.check(out.panic_propagated, "the callback's panic was swallowed");
    v.check(
        out.panic_consistent,
        "the registry was left inconsistent by a panicking callback",
    );
    Ok(())
}

/// Runs `f` with the panic hook silenced for [`PANIC`] only.
fn with_silenced_panic<T>(f: impl FnOnce() -> T) -> T {
    type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;
    let previous: Arc<Hook> = Arc::new(std::panic::take_hook());
    let chained = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let message = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied());
        if message != Some(PANIC) {
            chained(info);
        }
    }));
    let result = f();
    drop(std::panic::take_hook());
    std::panic::set_hook(Box::new(move |info| previous(info)));
    result
}

/// Runs the exit child and reads its report.
fn exit_with_live_resources(dir: &TempDir, exe: &Path, out: &mut Outcome) -> Result {
    let journal = dir.join("journal");
    let child = Command::new(exe)
        .arg(CHILD_ARG)
        .arg(EXIT_ROLE)
        .arg(&journal)
        .inherit(Inherit::new())?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", exe.display()))?;
    let done = common::wait_with_deadline(child, Duration::from_secs(20))?;
    println!("  process exit with resources still live (a child process; its exit report):");
    for line in done.stdout.lines().filter(|l| !l.starts_with("SUMMARY")) {
        println!("    | {line}");
    }
    out.exit_summary = done
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("SUMMARY "))
        .unwrap_or_default()
        .to_owned();
    let written = std::fs::read(&journal).unwrap_or_default();
    println!(
        "    the journal's buffered line {} (Rust never drops statics): the report named it",
        if written.is_empty() {
            "was lost"
        } else {
            "was written"
        }
    );
    let v = &mut out.verdict;
    v.check(
        done.status.success(),
        format!("the exit child failed: {}{}", done.status, done.stderr),
    );
    for want in ["drained=true", "unique_live=1", "pending=0"] {
        v.check(
            out.exit_summary.split(' ').any(|w| w == want),
            format!("the exit report lacks {want}: `{}`", out.exit_summary),
        );
    }
    v.check(
        done.stdout.contains("WriteFile"),
        "the exit report did not name the live journal",
    );
    Ok(())
}

/// If this process is the exit child, plays it and returns its exit code.
pub fn child_main() -> Option<std::process::ExitCode> {
    if common::child_role().as_deref() != Some(EXIT_ROLE) {
        return None;
    }
    let journal = std::env::args_os().nth(3)?;
    Some(match exit_child(Path::new(&journal)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exit child: {}", common::chain(&*e));
            std::process::ExitCode::FAILURE
        }
    })
}

/// The exit child: drops counted files just before exiting, keeps a counted file and a
/// journal (unique, with a buffered line) in statics, and prints the runtime's exit report.
pub fn exit_child(journal: &Path) -> Result {
    static KEPT: OnceLock<Counted<ReadFile>> = OnceLock::new();
    static JOURNAL: OnceLock<Mutex<WriteFile>> = OnceLock::new();
    let rt = guard::runtime().with_drain_deadline(Duration::from_secs(5));
    for _ in 0..10 {
        drop(Counted::new(ReadFile::open("/dev/null")?)); // closes still pending at exit
    }
    let _ = KEPT.set(Counted::new(ReadFile::open("/dev/null")?));
    let mut log = WriteFile::create(journal)?;
    log.write_all(b"a line still in the buffer\n")?;
    let _ = JOURNAL.set(Mutex::new(log)); // a global logger: never released
    let exit = rt.finish();
    println!("{exit}");
    println!(
        "SUMMARY drained={} unique_live={} counted_live={} pending={}",
        exit.flush.is_ok(),
        exit.report.live_count(Kind::Unique),
        exit.report.live_count(Kind::Counted),
        exit.report.stats().pending
    );
    Ok(())
}

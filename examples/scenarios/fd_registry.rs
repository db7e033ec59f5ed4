//! Scenario 2 (seed 001, Wingo): a registry of every live fd, with a `for_each` meant to
//! close or keep them all before exec. Wingo's `_all_fds` breaks when other threads or
//! finalisers close entries during a pass, when a close fails and leaves a closed (soon
//! reused) number in the table, when the callback raises. guard's `fds().for_each` leases
//! each entry while its callback runs, so a close waits for the visit and happens once.
//!
//! The scenario drives each of those cases against real fds and checks, from
//! `/proc/self/fd`, that no visited fd was closed or reused under its visit, that no fd was
//! closed twice (someone else's fd closed, an unexpected `EBADF`), and that none leaked.
//! The faults (a failed close, a panic, exit) are in `fd_registry_faults.rs`.

use crate::common::{self, Result, TempDir, Verdict, Watchdog};
use crate::fd_registry_faults as faults;
use guard::Counted;
use guard::event::{self, Event};
use guard::os::{Fd, LiveFd, ReadFile, fds};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The scenario's title in the tour.
pub const TITLE: &str = "fd_registry: a table of every live fd, iterated while it changes";

/// What the scenario shows, in three lines.
pub const ABOUT: &[&str] = &[
    "Wingo's _all_fds and for_each_fd: other threads and finalisers close entries during a",
    "pass, a close fails, the callback raises, the process exits with fds live. guard leases",
    "each entry while its callback runs: a close waits for the visit and happens exactly once.",
];

/// Files owned by another thread during the first pass.
const OWNED: usize = 48;
/// Of those, closed (completely) before the pass starts: never to be visited.
const CLOSED_BEFORE: usize = 8;
/// Counted files whose last handles are dropped during the second pass.
const COUNTED: usize = 48;

/// What the scenario found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Fds the first pass visited while another thread was closing fds and churning.
    pub visits: usize,
    /// Closes by the owning thread that met a visit: they returned at once and the fd
    /// stayed open (the same file) until the visit ended.
    pub deferred_closes: usize,
    /// Counted files whose last handle was dropped during the second pass.
    pub finalised_during_pass: usize,
    /// Of those, visited after the drop (leased by the pass, so still open).
    pub visited_after_last_handle: usize,
    /// How long `flush()` took when called from inside the callback.
    pub flush_in_callback: Option<Duration>,
    /// The failed close and the panic: see `fd_registry_faults`.
    pub faults: faults::Outcome,
    /// Every visit that saw a closed fd, or a number reused by another file (R1).
    pub visited_after_close: Vec<String>,
    /// Evidence of an fd closed twice: an unexpected `EBADF`, another owner's fd gone.
    pub closed_twice: Vec<String>,
    /// Fds open at the end that were not open at the start.
    pub leaked: Vec<(i32, String)>,
    /// The checks.
    pub verdict: Verdict,
}

/// What the event hook saw: failed closes nobody could be told about directly.
pub type Events = Arc<Mutex<Vec<String>>>;

/// Runs the scenario. `exe` is a program that plays the exit child (this binary, or the
/// `fd_registry` example when called from a test).
pub fn run(exe: &Path) -> Result<Outcome> {
    let _watchdog = Watchdog::arm("fd_registry", Duration::from_secs(60));
    let mut out = Outcome::default();
    let dir = TempDir::new("fd-registry")?;
    let events: Events = Arc::default();
    let sink = events.clone();
    event::set_hook(move |e: &Event<'_>| {
        let mut text = e.to_string();
        if let Event::ReleaseFailed { error, .. } = e {
            text = format!("{}{}", text, causes(*error, &text));
        }
        sink.lock().push(text);
    });
    let before = common::open_fds()?;

    let result = (|| {
        concurrent_closes(&dir, &mut out)?;
        finalised_during_pass(&dir, &mut out)?;
        out.faults = faults::run(&dir, exe, &events)?;
        Ok::<_, common::Error>(())
    })();
    guard::finalizer::flush()?;
    event::reset_hook();
    result?;

    let after = common::open_fds()?;
    out.leaked = after
        .iter()
        .filter(|f| !before.contains(f))
        .cloned()
        .collect();
    for gone in before.iter().filter(|f| !after.contains(f)) {
        out.closed_twice.push(format!(
            "fd {} ({}) open before the scenario was closed by it",
            gone.0, gone.1
        ));
    }
    let unexpected: Vec<String> = events
        .lock()
        .iter()
        .filter(|e| !out.faults.expected_events.contains(e))
        .cloned()
        .collect();
    for e in unexpected {
        out.closed_twice.push(format!("unexpected report: {e}"));
    }
    out.closed_twice
        .extend(out.faults.closed_twice.iter().cloned());

    println!(
        "\n  /proc/self/fd after the scenario: {} leaked, {} closed that were not ours",
        out.leaked.len(),
        out.closed_twice
            .iter()
            .filter(|c| c.contains("was closed by it"))
            .count()
    );
    let v = &mut out.verdict;
    v.check(
        out.visited_after_close.is_empty(),
        format!("visited after close: {:?}", out.visited_after_close),
    );
    v.check(
        out.closed_twice.is_empty(),
        format!("closed twice: {:?}", out.closed_twice),
    );
    v.check(out.leaked.is_empty(), format!("leaked: {:?}", out.leaked));
    v.check(
        out.deferred_closes > 0,
        "no close met a visit: nothing was tested",
    );
    v.check(out.faults.held(), "a fault case failed (see above)");
    Ok(out)
}

/// The causes of `error` that `shown` does not already include, each after `: `.
fn causes(error: &(dyn std::error::Error + 'static), shown: &str) -> String {
    let mut more = String::new();
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !shown.contains(&text) && !more.contains(&text) {
            more.push_str(": ");
            more.push_str(&text);
        }
        next = cause.source();
    }
    more
}

/// Checks that a visited fd is open and refers to `expect` (when known), recording a
/// violation otherwise; returns what it refers to.
fn check_visit(fd: &LiveFd<'_>, out: &mut Outcome, when: &str) -> Option<String> {
    let open = rustix::io::fcntl_getfd(fd.as_fd()).is_ok();
    let target = common::fd_target(fd.number());
    if !open || target.is_none() {
        out.visited_after_close
            .push(format!("fd {} was closed {when}", fd.number()));
    }
    target
}

/// A request to the owning thread: close file `index` now, and say how it went.
type CloseRequest = (usize, mpsc::Sender<Option<guard::os::Result<()>>>);

/// Pass 1: another thread owns the files and closes them while the pass looks at them,
/// and a third thread opens and closes fds as fast as it can (to reuse any freed number).
fn concurrent_closes(dir: &TempDir, out: &mut Outcome) -> Result {
    let paths: Vec<String> = (0..OWNED)
        .map(|i| dir.join(format!("owned-{i:02}")).display().to_string())
        .collect();
    let mut owned: HashMap<usize, ReadFile> = HashMap::new();
    for (i, p) in paths.iter().enumerate() {
        std::fs::write(p, b"owned")?;
        owned.insert(i, ReadFile::open(p)?);
    }
    let closed_before: BTreeSet<usize> = (OWNED - CLOSED_BEFORE..OWNED).collect();
    for i in &closed_before {
        if let Some(f) = owned.remove(i) {
            f.close()?;
        }
    }
    let churn_file = dir.join("churn");
    std::fs::write(&churn_file, b"churn")?;
    let stop = AtomicBool::new(false);
    let churn_errors = Mutex::new(Vec::new());
    let (requests, inbox) = mpsc::channel::<CloseRequest>();

    std::thread::scope(|t| -> Result {
        // The owner: closes its files when asked, from its own thread.
        t.spawn(move || {
            let mut owned = owned;
            for (i, reply) in inbox {
                let _ = reply.send(owned.remove(&i).map(ReadFile::close));
            }
            for (_, f) in owned {
                let _ = f.close();
            }
        });
        // The churn: opens and closes files and pipes, checking every close.
        t.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = churn_once(&churn_file) {
                    churn_errors.lock().push(e.to_string());
                }
            }
        });
        let started = Instant::now();
        let mut closed_ahead = BTreeSet::new();
        let mut ahead_visited = 0;
        fds().for_each(|fd| {
            let Some(target) = check_visit(fd, out, "when its visit began") else {
                return;
            };
            let Some(i) = paths.iter().position(|p| *p == target) else {
                return; // churn, pipes, or fds of other code
            };
            if closed_ahead.contains(&i) {
                ahead_visited += 1; // closed before its visit: the pass should have skipped it
            }
            if closed_before.contains(&i) {
                out.visited_after_close.push(format!(
                    "fd {} (owned-{i:02}) visited after its close had completed",
                    fd.number()
                ));
            }
            out.visits += 1;
            let (tx, rx) = mpsc::channel();
            let ask = if i % 3 == 0 { Some(i) } else { None };
            let ahead = (i % 3 == 1 && i + 1 < OWNED - CLOSED_BEFORE).then_some(i + 1);
            for j in ask.iter().chain(ahead.iter()) {
                if requests.send((*j, tx.clone())).is_ok()
                    && let Ok(Some(Ok(()))) = rx.recv_timeout(Duration::from_secs(5))
                    && *j == i
                {
                    out.deferred_closes += 1; // close() returned: the fd must stay open
                }
                if Some(*j) == ahead {
                    closed_ahead.insert(*j);
                }
            }
            std::thread::sleep(Duration::from_micros(200)); // let the churn reuse numbers
            let now = check_visit(fd, out, "during its visit");
            if now.as_deref() != Some(target.as_str()) {
                out.visited_after_close.push(format!(
                    "fd {} changed during its visit: {target} -> {now:?}",
                    fd.number()
                ));
            }
        });
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        drop(requests);
        println!("  pass 1: the owning thread closes files while the pass looks at them; a third");
        println!(
            "  thread opens and closes fds as fast as it can, to reuse any number freed early"
        );
        println!(
            "    {} files visited in {took:.0?}, each open and the same file for its whole visit",
            out.visits
        );
        println!(
            "    {} closed by their owner during their own visit: close() returned at once, the",
            out.deferred_closes
        );
        println!("      fd was closed as soon as its visit returned");
        println!(
            "    {} closed by their owner just before their visit: {ahead_visited} visited anyway",
            closed_ahead.len()
        );
        println!(
            "      (a close takes over the pass's lease and closes at once); {CLOSED_BEFORE} closed before the pass: skipped"
        );
        Ok(())
    })?;
    let open_now: Vec<String> = common::open_fds()?.into_iter().map(|(_, t)| t).collect();
    for p in paths.iter().filter(|p| open_now.contains(p)) {
        out.closed_twice
            .push(format!("{p} still open after its owner closed it"));
    }
    for e in churn_errors.into_inner() {
        out.closed_twice.push(format!("churn: {e}"));
    }
    Ok(())
}

/// One round of churn: a file adopted as a generic `Fd`, and a pipe; every close checked.
fn churn_once(path: &Path) -> Result {
    let fd = Fd::adopt(std::fs::File::open(path)?.into());
    let (reader, writer) = guard::os::pipe()?;
    let n = fd.as_raw_fd();
    fd.close()
        .map_err(|e| format!("closing churn fd {n}: {e}"))?;
    writer.close()?;
    reader.close()?;
    Ok(())
}

/// Pass 2: the last handles to counted files are dropped inside the callback, and the
/// finalizer flushed from there: their closes meet the pass's leases.
fn finalised_during_pass(dir: &TempDir, out: &mut Outcome) -> Result {
    let mut paths = Vec::new();
    let mut handles = Vec::new();
    for i in 0..COUNTED {
        let p = dir.join(format!("counted-{i:02}")).display().to_string();
        std::fs::write(&p, b"counted")?;
        handles.push(Counted::new(ReadFile::open(&p)?));
        paths.push(p);
    }
    let mut handles = Some(handles);
    let mut flush_result = Ok(());
    fds().for_each(|fd| {
        if let Some(h) = handles.take() {
            out.finalised_during_pass = h.len();
            drop(h); // the last handles: queued for the finalizer
            let started = Instant::now();
            flush_result = guard::finalizer::flush_timeout(Duration::from_secs(10));
            out.flush_in_callback = Some(started.elapsed());
        }
        let Some(target) = check_visit(fd, out, "when its visit began") else {
            return;
        };
        if paths.contains(&target) {
            out.visited_after_last_handle += 1;
            std::thread::sleep(Duration::from_micros(200));
            if common::fd_target(fd.number()).as_deref() != Some(target.as_str()) {
                out.visited_after_close.push(format!(
                    "counted fd {} closed during its visit",
                    fd.number()
                ));
            }
        }
    });
    flush_result?;
    guard::finalizer::flush()?;
    let open_now: Vec<String> = common::open_fds()?.into_iter().map(|(_, t)| t).collect();
    let still_open = paths.iter().filter(|p| open_now.contains(p)).count();
    println!(
        "  pass 2: the callback drops the last handles to {COUNTED} counted files and flushes"
    );
    println!(
        "    guard::finalizer::flush() inside the callback returned in {:.0?}: no deadlock",
        out.flush_in_callback.unwrap_or_default()
    );
    println!(
        "    {} were visited after their last handle went (open for the whole visit, closed when it returned);",
        out.visited_after_last_handle
    );
    println!(
        "    {} were closed by the finalizer at once and never visited; still open now: {still_open}",
        COUNTED - out.visited_after_last_handle
    );
    if still_open > 0 {
        out.closed_twice.push(format!(
            "{still_open} counted files still open after the flush"
        ));
    }
    Ok(())
}

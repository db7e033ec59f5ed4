//! Scenario: futurelocks (seed 002's ending; Oxide's RFD 609). A future polled by reference
//! in `tokio::select!` queues on a fair async mutex; the other branch wins, and its body
//! awaits the same mutex. tokio's mutex hands the lock to the first waiter, which is never
//! polled again: the task waits for itself. guard-tokio's mutex wakes a waiter to come and
//! try, and the branch that is polled takes it. A guard held by a future that is not polled
//! no lock design can help: guard's detector names it, with both sites.

use crate::common::{Result, Verdict, Watchdog};
use guard::event::{self, Event};
use guard_tokio::lock::Mutex;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex, mpsc};
use std::time::Duration;
use tokio::time::sleep;

/// The scenario's title in the tour.
pub const TITLE: &str =
    "futurelock: select! polls a lock waiter by reference, then awaits the lock";

/// What the scenario shows, in three lines.
pub const ABOUT: &[&str] = &[
    "RFD 609: a fair async mutex hands the lock to a waiter select! no longer polls, and the",
    "task waits for itself. guard's mutex lets the branch that is polled take it. A guard held",
    "by a future that is not polled is reported, with the lock's and the holder's sites.",
];

/// How long RFD 609's program gets before it is declared futurelocked.
pub const PATIENCE: Duration = Duration::from_millis(500);

/// What the scenario found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// RFD 609's program with `tokio::sync::Mutex` was still waiting after [`PATIENCE`].
    pub tokio_hung: bool,
    /// The same program with guard's mutex completed (its counter: op2's 10).
    pub guard_total: Option<u32>,
    /// The detector's report on the guard held across `select!`, as printed.
    pub report: Option<String>,
    /// The line where the held-across-select lock was created, and where op1 acquired it.
    pub lines: (u32, u32),
    /// The report's creation and holder lines.
    pub reported_lines: Option<(u32, Option<u32>)>,
    /// `lock_timeout`'s error for the same wait, as printed.
    pub timeout: Option<String>,
    /// The checks.
    pub verdict: Verdict,
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
}

/// RFD 609's program: a background task holds the lock for a moment; `op1` queues on it and
/// is polled by reference in a `select!` whose other branch wins and awaits the lock.
macro_rules! rfd609 {
    ($mutex:expr) => {
        async {
            let lock = Arc::new($mutex);
            let held = lock.clone().lock_owned().await;
            tokio::spawn(async move {
                sleep(Duration::from_millis(20)).await;
                drop(held); // tokio: hands the lock to op1; guard: wakes op1 to come and try
            });
            let op1 = async { *lock.lock().await += 1 };
            tokio::pin!(op1);
            tokio::select! {
                _ = &mut op1 => {}
                _ = sleep(Duration::from_millis(5)) => *lock.lock().await += 10,
            }
            *lock.lock().await
        }
    };
}

/// Runs `program` on a thread of its own; `None` if it has not finished after [`PATIENCE`]
/// (the thread is abandoned).
fn within_patience<F>(
    name: &str,
    program: impl FnOnce() -> F + Send + 'static,
) -> Result<Option<u32>>
where
    F: Future<Output = u32>,
{
    let (done, finished) = mpsc::channel();
    let rt = runtime()?;
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = done.send(rt.block_on(program()));
        })?;
    Ok(finished.recv_timeout(PATIENCE).ok())
}

/// Runs the scenario, printing what happens.
pub fn run() -> Result<Outcome> {
    let _watchdog = Watchdog::arm("futurelock", Duration::from_secs(30));
    let mut out = Outcome::default();

    println!("  RFD 609's program: op1 queues on the lock, select! by reference, op2 awaits it");
    out.tokio_hung =
        within_patience("tokio-mutex", || rfd609!(tokio::sync::Mutex::new(0)))?.is_none();
    if out.tokio_hung {
        println!(
            "    tokio::sync::Mutex: still waiting after {PATIENCE:?}: futurelocked (abandoned)"
        );
    } else {
        println!("    tokio::sync::Mutex: completed: the futurelock did not show this time");
    }
    out.guard_total = within_patience("guard-mutex", || rfd609!(Mutex::new(0)))?;
    match out.guard_total {
        Some(total) => {
            println!("    guard_tokio::lock::Mutex: completed, op2 took the lock (counter {total})")
        }
        None => println!("    guard_tokio::lock::Mutex: still waiting after {PATIENCE:?}"),
    }

    held_across_select(&mut out)?;

    let v = &mut out.verdict;
    v.check(
        out.guard_total == Some(10),
        format!("guard's mutex: {:?}", out.guard_total),
    );
    v.check(
        out.report.is_some(),
        "the guard held across select! was not reported",
    );
    v.check(
        out.reported_lines == Some((out.lines.0, Some(out.lines.1))),
        format!(
            "the report named lines {:?}, not {:?}",
            out.reported_lines, out.lines
        ),
    );
    v.check(out.timeout.is_some(), "lock_timeout did not time out");
    Ok(out)
}

/// The variant no lock design prevents: op1 takes the guard, `select!` moves on, and the
/// branch's body waits for the lock op1 holds and will never release.
fn held_across_select(out: &mut Outcome) -> Result {
    let reports = Arc::new(StdMutex::new(Vec::new()));
    let sink = reports.clone();
    event::set_hook(move |e: &Event<'_>| {
        if let Event::LockWait {
            site, holder_site, ..
        } = e
        {
            let lines = (site.line(), holder_site.map(|s| s.line()));
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((e.to_string(), lines));
        }
    });
    let created = line!() + 2;
    let result = runtime()?.block_on(async {
        let lock = Mutex::new(0);
        lock.set_patience(Duration::from_millis(100));
        let acquired = line!() + 2;
        let op1 = async {
            let mut held = lock.lock().await;
            sleep(Duration::from_secs(3600)).await; // select! will not poll this again
            *held += 1;
        };
        tokio::pin!(op1);
        tokio::select! {
            _ = &mut op1 => {}
            _ = sleep(Duration::from_millis(5)) => {}
        }
        (
            acquired,
            lock.lock_timeout(Duration::from_millis(300))
                .await
                .map(drop),
        )
    });
    event::reset_hook();
    let (acquired, timed_out) = result;
    out.lines = (created, acquired);
    let first = reports
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .first()
        .cloned();
    println!(
        "  held across select!: op1 takes the guard, select! moves on, its body awaits the lock"
    );
    if let Some((text, lines)) = first {
        println!("    the detector: {text}");
        out.report = Some(text);
        out.reported_lines = Some(lines);
    }
    if let Err(e) = timed_out {
        println!("    lock_timeout: {e}");
        out.timeout = Some(e.to_string());
    }
    Ok(())
}

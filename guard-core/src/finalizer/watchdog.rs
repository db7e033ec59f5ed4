//! The watchdog: notices a release that has run past the stuck deadline, takes the rest of
//! its batch away from the stuck worker, and starts a fresh worker on it (invariant F3).

use super::state::{Finalizer, spawn_worker};
use super::stats::stuck_deadline;
use crate::event::{self, Event};
use crate::loom::Ordering;
use std::time::{Duration, Instant};

/// Starts the watchdog thread, `guard-finalizer-watchdog`.
pub(crate) fn spawn(f: &'static Finalizer) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("guard-finalizer-watchdog".into())
        .spawn(move || run(f))
        .map(drop)
}

/// How often to look: a quarter of the deadline, between 1 ms and 250 ms. A stuck release
/// is detected between one deadline and one deadline plus a tick after it started.
fn tick(deadline: Duration) -> Duration {
    (deadline / 4).clamp(Duration::from_millis(1), Duration::from_millis(250))
}

fn run(f: &'static Finalizer) {
    // The job seen running, and when the watchdog first saw it.
    let mut seen: Option<(u64, Instant)> = None;
    let mut need_worker = false;
    loop {
        let deadline = stuck_deadline();
        std::thread::sleep(tick(deadline));
        if need_worker {
            need_worker = start_replacement(f, None, 0);
        }
        let Some((seq, name)) = f.shift.running() else {
            seen = None;
            continue;
        };
        match seen {
            Some((s, since)) if s == seq => {
                let elapsed = since.elapsed();
                if elapsed >= deadline {
                    seen = None;
                    need_worker = take_over(f, seq, name, elapsed);
                }
            }
            _ => seen = Some((seq, Instant::now())),
        }
    }
}

/// Takes the rest of job `seq`'s batch and starts a fresh worker on it. Returns true if a
/// worker still has to be started.
fn take_over(f: &'static Finalizer, seq: u64, name: &'static str, elapsed: Duration) -> bool {
    let c = &f.counters;
    // Count it outstanding before the steal, so the stuck worker's own decrement (when it
    // returns) can never come first.
    c.stuck_outstanding.fetch_add(1, Ordering::Relaxed);
    let Some(rest) = f.shift.steal(seq) else {
        c.stuck_outstanding.fetch_sub(1, Ordering::Relaxed);
        return false;
    };
    c.stuck.fetch_add(1, Ordering::Relaxed);
    f.shift.reset();
    let retry = start_replacement(f, Some(rest), seq);
    report_stuck(name, elapsed);
    retry
}

/// Reports a stuck release without letting the hook block the watchdog: the hook may be
/// what is stuck (the default one writes to stderr, which can be a full pipe, and holds
/// stderr's lock meanwhile). A short-lived thread delivers it; inline only if no thread
/// can be spawned.
fn report_stuck(resource: &'static str, elapsed: Duration) {
    let spawned = std::thread::Builder::new()
        .name("guard-finalizer-report".into())
        .spawn(move || event::emit(&Event::Stuck { resource, elapsed }));
    if spawned.is_err() {
        event::emit(&Event::Stuck { resource, elapsed });
    }
}

/// Starts a worker; if the thread cannot be spawned, reports it (the rest of the batch,
/// dropped with the failed closure, then runs here on the watchdog) and asks to retry.
fn start_replacement(
    f: &'static Finalizer,
    rest: Option<crate::counted::queue::Batch>,
    seq: u64,
) -> bool {
    match spawn_worker(f, rest, seq) {
        Ok(()) => false,
        Err(error) => {
            event::emit(&Event::FinalizerUnavailable { error: &error });
            true
        }
    }
}

//! The watchdog: notices a release that has run past the stuck deadline, takes the rest of
//! its batch away from the stuck worker, and starts a fresh worker on it (invariant F3),
//! as long as fewer than [`max_stuck_workers`] are stuck; past the cap, it reports the
//! release and lets the queue wait.

use super::batch::Batch;
use super::cap::max_stuck_workers;
use super::deadline::stuck_deadline;
use super::global::Finalizer;
use super::worker::spawn_worker;
use crate::event::{self, Event};
use crate::loom::{Ordering, StdMutex};
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

/// A takeover whose fresh worker could not be spawned yet: the stolen rest of the batch
/// (kept here, unrun, so that nothing runs it twice and no release blocks the watchdog)
/// and the sequence number to continue from.
type Waiting = Option<(Option<Batch>, u64)>;

fn run(f: &'static Finalizer) {
    // The job seen running, and when the watchdog first saw it.
    let mut seen: Option<(u64, Instant)> = None;
    // The last job declared stuck and left holding the queue (the cap was reached).
    let mut held = 0;
    let mut waiting: Waiting = None;
    loop {
        let deadline = stuck_deadline();
        std::thread::sleep(tick(deadline));
        if let Some((rest, seq)) = waiting.take() {
            waiting = start_replacement(f, rest, seq);
        }
        let Some((seq, name)) = f.shift.running() else {
            seen = None;
            continue;
        };
        match seen {
            Some((s, since)) if s == seq => {
                let elapsed = since.elapsed();
                if elapsed < deadline {
                    continue;
                }
                let c = &f.counters;
                if c.stuck_outstanding.load(Ordering::Acquire) < max_stuck_workers() {
                    seen = None;
                    waiting = take_over(f, seq, name, elapsed, held == seq);
                } else if held != seq {
                    // Past the cap: report it once, and look again on every tick (a stuck
                    // worker that comes back makes room for the hand-over).
                    held = seq;
                    c.held.store(seq, Ordering::Release);
                    c.stuck.fetch_add(1, Ordering::Relaxed);
                    report_stuck(name, elapsed, f.shift.reporting());
                }
            }
            _ => seen = Some((seq, Instant::now())),
        }
    }
}

/// Takes the rest of job `seq`'s batch and starts a fresh worker on it. What is returned
/// still waits for a worker. `reported`: the job was already declared stuck (while the cap
/// held the queue behind it), so it is not counted or reported again.
fn take_over(
    f: &'static Finalizer,
    seq: u64,
    name: &'static str,
    elapsed: Duration,
    reported: bool,
) -> Waiting {
    let c = &f.counters;
    let in_hook = f.shift.reporting();
    // Count it outstanding before the steal, so the stuck worker's own decrement (when it
    // returns) can never come first.
    c.stuck_outstanding.fetch_add(1, Ordering::Relaxed);
    let Some(rest) = f.shift.steal(seq) else {
        c.stuck_outstanding.fetch_sub(1, Ordering::Relaxed);
        return None;
    };
    f.shift.reset();
    let waiting = start_replacement(f, Some(rest), seq);
    if !reported {
        c.stuck.fetch_add(1, Ordering::Relaxed);
        report_stuck(name, elapsed, in_hook);
    }
    waiting
}

/// Stuck reports waiting for the reporter thread, and whether one runs.
struct Reports {
    waiting: Vec<(&'static str, Duration, bool)>,
    delivering: bool,
}

static REPORTS: StdMutex<Reports> = StdMutex::new(Reports {
    waiting: Vec::new(),
    delivering: false,
});

/// Reports waiting beyond this many are not delivered (they are still counted in
/// `Stats::stuck`): a hook blocked for good must not make the watchdog's memory grow.
const MAX_WAITING_REPORTS: usize = 64;

fn reports() -> std::sync::MutexGuard<'static, Reports> {
    REPORTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reports a stuck release without letting the hook block the watchdog: the hook may be
/// what is stuck (the default one writes to stderr, which can be a full pipe, and holds
/// stderr's lock meanwhile). One short-lived thread at a time delivers the reports; inline
/// only if no thread can be spawned. `in_hook`: the release had returned and the hook
/// reporting it is what blocks, so the event blames the hook.
fn report_stuck(resource: &'static str, elapsed: Duration, in_hook: bool) {
    let mut r = reports();
    if r.waiting.len() < MAX_WAITING_REPORTS {
        r.waiting.push((resource, elapsed, in_hook));
    }
    if r.delivering {
        return;
    }
    r.delivering = true;
    drop(r);
    let spawned = std::thread::Builder::new()
        .name("guard-finalizer-report".into())
        .spawn(deliver_reports);
    if spawned.is_err() {
        deliver_reports();
    }
}

/// Delivers waiting reports, oldest first, until none is left (the lock is never held
/// while the hook runs).
fn deliver_reports() {
    loop {
        let (resource, elapsed, in_hook) = {
            let mut r = reports();
            if r.waiting.is_empty() {
                r.delivering = false;
                return;
            }
            r.waiting.remove(0)
        };
        if in_hook {
            event::emit(&Event::HookStuck { resource, elapsed });
        } else {
            event::emit(&Event::Stuck { resource, elapsed });
        }
    }
}

/// Starts a worker that continues from job `seq` with `rest`; if no thread can be spawned,
/// reports it (once per outage) and hands both back, to be tried again on the next tick.
/// (The queue waits meanwhile: no worker runs, so nothing is released twice or out of
/// turn.)
fn start_replacement(f: &'static Finalizer, rest: Option<Batch>, seq: u64) -> Waiting {
    match spawn_worker(f, rest, seq) {
        Ok(()) => {
            f.end_outage();
            None
        }
        Err((error, rest)) => {
            f.report_unavailable(&error);
            Some((rest, seq))
        }
    }
}

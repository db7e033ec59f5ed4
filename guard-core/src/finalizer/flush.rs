//! Waiting for the finalizer (invariant F4).

use super::global::Finalizer;
use super::marker::push_marker;
use super::start::ensure_started;
use super::stats::stats;
use super::worker::on_finalizer_thread;
use crate::error::FlushError;
use crate::loom::Ordering;
use std::time::{Duration, Instant};

/// How often `flush_timeout` looks again at releases that are stuck.
const STUCK_POLL: Duration = Duration::from_millis(2);

/// Waits until every counted resource dropped before this call has been released.
///
/// A release that is stuck (past the [deadline](super::set_stuck_deadline)) does not make
/// this hang: once the watchdog has handed the queue to a fresh worker and everything else
/// is released, `flush` returns [`FlushError::Stuck`]. It returns that error too, without
/// waiting further, when the [cap on stuck workers](super::set_max_stuck_workers) is
/// reached and the queue waits behind a stuck release.
///
/// # Errors
///
/// [`FlushError::InFinalizer`] when called from a release running on the finalizer;
/// [`FlushError::Stuck`] if some releases are stuck; [`FlushError::Timeout`] only if the
/// finalizer thread could never be started and releases are waiting.
///
/// # Examples
///
/// ```
/// use guard_core::finalizer::{self, FlushError};
///
/// match finalizer::flush() {
///     Ok(()) => assert_eq!(finalizer::stats().pending, 0),
///     Err(FlushError::Stuck { .. }) => eprintln!("a release is stuck"),
///     Err(e) => panic!("{e}"),
/// }
/// ```
pub fn flush() -> Result<(), FlushError> {
    flush_until(None, false)
}

/// Like [`flush`], but gives up after `timeout`. Like `flush`, it does not wait for a
/// release already declared stuck: it returns [`FlushError::Stuck`] as soon as the rest is
/// released (to wait for stuck releases too, use [`flush_all_timeout`]).
///
/// # Errors
///
/// As [`flush`], plus [`FlushError::Timeout`] (with the count still pending) when the
/// timeout passes before the queue is drained.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// guard_core::finalizer::flush_timeout(Duration::from_secs(5)).unwrap();
/// ```
pub fn flush_timeout(timeout: Duration) -> Result<(), FlushError> {
    flush_until(Some(Instant::now() + timeout), false)
}

/// Like [`flush_timeout`], but also waits, until the timeout, for releases declared stuck
/// to return: `Ok` means every counted resource dropped before the call has been released.
///
/// # Errors
///
/// As [`flush_timeout`]; [`FlushError::Stuck`] when the timeout passes while a stuck
/// release still runs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// guard_core::finalizer::flush_all_timeout(Duration::from_secs(5)).unwrap();
/// ```
pub fn flush_all_timeout(timeout: Duration) -> Result<(), FlushError> {
    flush_until(Some(Instant::now() + timeout), true)
}

fn flush_until(deadline: Option<Instant>, wait_stuck: bool) -> Result<(), FlushError> {
    if on_finalizer_thread() {
        return Err(FlushError::InFinalizer);
    }
    let f = Finalizer::global();
    let start = Instant::now();
    if !f.is_started() {
        if stats().pending == 0 {
            return Ok(());
        }
        ensure_started();
        if !f.is_started() {
            let pending = stats().pending;
            return Err(FlushError::Timeout {
                waited: start.elapsed(),
                pending,
            });
        }
    }
    // Nothing pending and nothing stuck: everything dropped before this call is released
    // (stats read the outcomes before the count handed over, so 0 is not a race).
    if f.counters.stuck_outstanding.load(Ordering::Acquire) == 0 && stats().pending == 0 {
        return Ok(());
    }
    let signal = push_marker(&f.queue);
    // Wait in short steps: past the cap on stuck workers, the queue can wait behind a
    // stuck release, and only `flush_all_timeout` waits for those.
    loop {
        let step = Instant::now() + STUCK_POLL * 8;
        let until = deadline.map_or(step, |d| d.min(step));
        if signal.wait_until(Some(until)) {
            break;
        }
        let held = queue_held(f);
        if held && !wait_stuck {
            return Err(FlushError::Stuck {
                stuck: f.counters.stuck_outstanding.load(Ordering::Acquire) + 1,
            });
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if held {
                return Err(FlushError::Stuck {
                    stuck: f.counters.stuck_outstanding.load(Ordering::Acquire) + 1,
                });
            }
            let pending = stats().pending;
            return Err(FlushError::Timeout {
                waited: start.elapsed(),
                pending,
            });
        }
    }
    // Stuck releases run on their own, abandoned workers; `flush_all_timeout` gives them
    // until its deadline (a short poll is enough for a rare, slow event).
    loop {
        match f.counters.stuck_outstanding.load(Ordering::Acquire) {
            0 => return Ok(()),
            stuck if !wait_stuck || deadline.is_none_or(|d| Instant::now() >= d) => {
                return Err(FlushError::Stuck { stuck });
            }
            _ => std::thread::sleep(STUCK_POLL),
        }
    }
}

/// True while the queue waits behind a release declared stuck when the cap on stuck
/// workers was reached (the job declared is still the one running).
fn queue_held(f: &Finalizer) -> bool {
    let held = f.counters.held.load(Ordering::Acquire);
    held != 0 && f.shift.running().is_some_and(|(seq, _)| seq == held)
}

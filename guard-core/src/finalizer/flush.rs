//! Waiting for the finalizer (invariant F4).

use super::state::{Finalizer, ensure_started, on_finalizer_thread};
use crate::counted::marker::push_marker;
use crate::error::FlushError;
use crate::loom::Ordering;
use std::time::{Duration, Instant};

/// How often `flush_timeout` looks again at releases that are stuck.
const STUCK_POLL: Duration = Duration::from_millis(2);

/// Waits until every counted resource dropped before this call has been released.
///
/// A release that is stuck (past the [deadline](super::set_stuck_deadline)) does not make
/// this hang: once the watchdog has handed the queue to a fresh worker and everything else
/// is released, `flush` returns [`FlushError::Stuck`].
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
/// guard_core::finalizer::flush().unwrap();
/// assert_eq!(guard_core::finalizer::stats().pending, 0);
/// ```
pub fn flush() -> Result<(), FlushError> {
    flush_until(None)
}

/// Like [`flush`], but gives up after `timeout`, and waits for stuck releases too: if some
/// release outlived the stuck deadline, this keeps waiting for it to return, until the
/// timeout.
///
/// # Errors
///
/// As [`flush`], plus [`FlushError::Timeout`] (with the count still pending) when the
/// timeout passes before the queue is drained, and [`FlushError::Stuck`] when it passes
/// while a stuck release still runs.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// guard_core::finalizer::flush_timeout(Duration::from_secs(5)).unwrap();
/// ```
pub fn flush_timeout(timeout: Duration) -> Result<(), FlushError> {
    flush_until(Some(Instant::now() + timeout))
}

fn flush_until(deadline: Option<Instant>) -> Result<(), FlushError> {
    if on_finalizer_thread() {
        return Err(FlushError::InFinalizer);
    }
    let f = Finalizer::global();
    let start = Instant::now();
    if !f.is_started() {
        if f.queue.is_empty() {
            return Ok(());
        }
        ensure_started();
        if !f.is_started() {
            let pending = super::stats().pending;
            return Err(FlushError::Timeout {
                waited: start.elapsed(),
                pending,
            });
        }
    }
    let signal = push_marker(&f.queue);
    if !signal.wait_until(deadline) {
        let pending = super::stats().pending;
        return Err(FlushError::Timeout {
            waited: start.elapsed(),
            pending,
        });
    }
    // With a deadline, stuck releases get until then to return (they run on their own,
    // abandoned workers; a short poll is enough for a rare, slow event).
    loop {
        match f.counters.stuck_outstanding.load(Ordering::Acquire) {
            0 => return Ok(()),
            stuck if deadline.is_none_or(|d| Instant::now() >= d) => {
                return Err(FlushError::Stuck { stuck });
            }
            _ => std::thread::sleep(STUCK_POLL),
        }
    }
}

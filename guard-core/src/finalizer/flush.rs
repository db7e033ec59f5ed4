//! Waiting for the finalizer (invariant F4).

use super::state::{Finalizer, ensure_started, on_finalizer_thread};
use crate::counted::marker::push_marker;
use crate::error::FlushError;
use crate::loom::Ordering;
use std::time::{Duration, Instant};

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

/// Like [`flush`], but gives up after `timeout`.
///
/// # Errors
///
/// As [`flush`], plus [`FlushError::Timeout`] (with the count still pending) when the
/// timeout passes first.
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
    match f.counters.stuck_outstanding.load(Ordering::Relaxed) {
        0 => Ok(()),
        stuck => Err(FlushError::Stuck { stuck }),
    }
}

//! Starting the finalizer's threads: the first worker, then the watchdog.

use super::global::Finalizer;
use super::watchdog;
use super::worker::spawn_worker;
use crate::loom::StdOrdering;

/// Starts the finalizer (worker and watchdog) if it is not running yet. Cheap when it is.
#[inline]
pub(crate) fn ensure_started() {
    let f = Finalizer::global();
    if !f.is_started() {
        start(f);
    }
}

/// Starts what is not running yet: the worker, then the watchdog. A part that cannot be
/// spawned is reported, and tried again by the next call; a worker that runs is never
/// started a second time.
fn start(f: &'static Finalizer) {
    super::fork::register_once();
    let mut worker_started = f.start_lock.lock().unwrap_or_else(|e| e.into_inner());
    if f.is_started() {
        return;
    }
    if !*worker_started {
        if let Err((error, _)) = spawn_worker(f, None, 0) {
            f.report_unavailable(&error);
            return;
        }
        *worker_started = true;
    }
    match watchdog::spawn(f) {
        Ok(()) => {
            f.end_outage();
            f.started.store(true, StdOrdering::Release);
        }
        Err(error) => f.report_unavailable(&error),
    }
}

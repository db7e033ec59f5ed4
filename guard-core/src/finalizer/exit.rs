//! Noticing that the process is exiting: once `main` has returned (or the main thread has
//! called `std::process::exit`), the C runtime destroys the main thread's thread-locals and
//! then ends every thread, the finalizer's included, whatever it still holds. Releases
//! queued from then on might never run, so they run inline instead (`inline.rs`).
//!
//! The sign is a thread-local of the main thread whose destructor sets the finalizer's
//! `exiting` flag: the main thread's thread-locals are destroyed only on the way out of the
//! process. It is armed by [`watch_main_exit`], which `runtime()` calls.

use super::global::Finalizer;
use crate::loom::StdOrdering;

/// Sets `exiting` when the main thread's thread-locals are destroyed.
struct Sentinel;

impl Drop for Sentinel {
    fn drop(&mut self) {
        Finalizer::global()
            .intake
            .exiting
            .store(true, StdOrdering::Relaxed);
    }
}

thread_local! {
    static SENTINEL: Sentinel = const { Sentinel };
}

/// Arms the exit sentinel if called on the main thread (a no-op elsewhere, and after the
/// first call). Thread-locals are destroyed in the reverse order of their first use, so
/// values the main thread's thread-locals held before this call are dropped after the
/// sentinel, inline; those of thread-locals first used later are dropped before it, onto
/// the queue, which the finalizer may still run before the process ends.
pub(crate) fn watch_main_exit() {
    if std::thread::current().name() == Some("main") {
        // Touching it registers its destructor.
        SENTINEL.with(|_| {});
    }
}

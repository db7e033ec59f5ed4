//! fd pressure (invariant F5): on `EMFILE`/`ENFILE`, drain pending counted releases and
//! retry once.

use crate::sys;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long an fd creation that hit `EMFILE`/`ENFILE` waits for pending counted releases
/// before its one retry.
///
/// # Examples
///
/// ```
/// // The worst case an fd creation can add when the process is out of fds:
/// assert!(guard_os::PRESSURE_FLUSH_TIMEOUT <= std::time::Duration::from_secs(2));
/// ```
pub const PRESSURE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

static PRESSURE_RETRIES: AtomicU64 = AtomicU64::new(0);

/// How many fd creations hit `EMFILE`/`ENFILE` and were retried after draining the
/// finalizer (invariant F5), since the process started.
///
/// # Examples
///
/// ```
/// let _retried_so_far = guard_os::pressure_retries();
/// ```
pub fn pressure_retries() -> u64 {
    PRESSURE_RETRIES.load(Ordering::Relaxed)
}

/// Runs `create`; if it fails with `EMFILE` or `ENFILE`, waits (at most
/// [`PRESSURE_FLUSH_TIMEOUT`]) for the finalizer to release what is pending, and retries
/// once (F5). Deferral holds counted fds a little longer; this gives them back when the
/// process runs short.
pub(crate) fn retry_on_pressure<T>(mut create: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match create() {
        Err(e) if matches!(e.raw_os_error(), Some(sys::EMFILE | sys::ENFILE)) => {
            PRESSURE_RETRIES.fetch_add(1, Ordering::Relaxed);
            // On the finalizer thread this refuses at once; the retry is then merely cheap.
            let _ = guard_core::finalizer::flush_timeout(PRESSURE_FLUSH_TIMEOUT);
            create()
        }
        other => other,
    }
}

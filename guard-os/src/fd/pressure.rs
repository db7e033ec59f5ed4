//! fd pressure (invariant F5): an fd creation that fails with `EMFILE`/`ENFILE` while the
//! finalizer holds releases pending waits on the finalizer's progress and tries again,
//! until it succeeds, nothing is pending any more, or a deadline passes.

use crate::sys;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long, in all, an fd creation that hit `EMFILE`/`ENFILE` waits for pending counted
/// releases before it gives up and returns the error.
///
/// # Examples
///
/// ```
/// // The worst case an fd creation can add when the process is out of fds:
/// assert!(guard_os::PRESSURE_FLUSH_TIMEOUT <= std::time::Duration::from_secs(2));
/// ```
pub const PRESSURE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one wait on the finalizer lasts before the creation is tried again: short, so
/// that a creator takes numbers as soon as some are freed, not after the whole queue.
const PROGRESS_SLICE: Duration = Duration::from_millis(2);

static PRESSURE_RETRIES: AtomicU64 = AtomicU64::new(0);

/// How many fd creations hit `EMFILE`/`ENFILE` and waited for the finalizer (invariant
/// F5), since the process started. Each such creation counts once, however many times it
/// tried again.
///
/// # Examples
///
/// ```
/// let _retried_so_far = guard_os::pressure_retries();
/// ```
pub fn pressure_retries() -> u64 {
    PRESSURE_RETRIES.load(Ordering::Relaxed)
}

/// Runs `create`, an fd creation (guard's own, `std::fs::File::open`, a C library's call),
/// and makes room for it when the process is out of fds because of guard: if it fails
/// with `EMFILE` or `ENFILE` while counted releases are pending on the finalizer (a
/// dropped [`Counted`](guard_core::Counted) fd is closed there, a little later), it waits
/// for the finalizer's progress and calls `create` again, until `create` succeeds, nothing
/// is pending any more (the error is then the process's own, and comes back at once), or
/// [`PRESSURE_FLUSH_TIMEOUT`] has passed. Every fd guard creates goes through it (F5).
///
/// Other errors come back at once. On the finalizer thread (inside a release) it cannot
/// wait for the finalizer, and `create` runs once.
///
/// # Errors
///
/// The last error of `create`.
///
/// # Examples
///
/// ```
/// // std's open, with room made from guard's pending closes when the process is out of fds:
/// let file = guard_os::retry_on_pressure(|| std::fs::File::open("/dev/null"))?;
/// # drop(file);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A C library's call that reports failure with -1 and `errno`:
///
/// ```
/// let fd = guard_os::retry_on_pressure(|| {
///     let fd = c_library_open(); // e.g. a C function returning an fd, or -1 with errno
///     if fd < 0 { Err(std::io::Error::last_os_error()) } else { Ok(fd) }
/// })?;
/// # fn c_library_open() -> i32 { 3 }
/// # let _ = fd;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn retry_on_pressure<T>(mut create: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let first = match create() {
        Err(e) if is_pressure(&e) => e,
        other => return other,
    };
    PRESSURE_RETRIES.fetch_add(1, Ordering::Relaxed);
    let deadline = Instant::now() + PRESSURE_FLUSH_TIMEOUT;
    let mut last = first;
    loop {
        // Nothing pending: the fds are the process's own, and waiting cannot help.
        if guard_core::finalizer::stats().pending == 0 {
            // One more try: a release may have finished between the failure and the check.
            return create();
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(last);
        }
        // On the finalizer thread this refuses at once: no wait can help there.
        if let Err(guard_core::FlushError::InFinalizer) =
            guard_core::finalizer::flush_timeout(PROGRESS_SLICE.min(deadline - now))
        {
            return create();
        }
        match create() {
            Err(e) if is_pressure(&e) => last = e,
            other => return other,
        }
    }
}

fn is_pressure(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(sys::EMFILE | sys::ENFILE))
}

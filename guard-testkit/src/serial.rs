//! What tests of one binary share in their process: a lock for those that touch
//! process-wide state, and unique temporary paths.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests of one test binary that look at fd numbers, children, an event
/// hook or other process-wide state (an fd number freed by one test could be reused by
/// another meanwhile; a zombie check would see another test's child). One lock per test
/// binary; a test that panicked while holding it does not poison it for the others.
///
/// # Examples
///
/// ```
/// let _serial = guard_testkit::serial();
/// // ... look at /proc/self/fd without other tests opening fds meanwhile
/// ```
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A path in the temp dir unique to this process and call, not created:
/// `guard-test-<pid>-<tag>-<n>`.
///
/// # Examples
///
/// ```
/// let (a, b) = (guard_testkit::temp_path("lock"), guard_testkit::temp_path("lock"));
/// assert_ne!(a, b);
/// assert!(a.starts_with(std::env::temp_dir()));
/// ```
pub fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("guard-test-{}-{tag}-{n}", std::process::id()))
}

//! The stuck deadline: how long one release may run before the watchdog declares it stuck.

use crate::loom::{StdAtomicU64, StdOrdering};
use std::time::Duration;

/// Nanoseconds a release may run before the watchdog declares it stuck. Configuration, not
/// modelled state: a plain std atomic.
static STUCK_AFTER_NANOS: StdAtomicU64 = StdAtomicU64::new(1_000_000_000);

/// Sets how long one release may run before it is declared stuck and a fresh worker takes
/// over the queue (default 1 s). Clamped to at least 1 ms.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// guard_core::finalizer::set_stuck_deadline(Duration::from_millis(500));
/// assert_eq!(guard_core::finalizer::stuck_deadline(), Duration::from_millis(500));
/// guard_core::finalizer::set_stuck_deadline(Duration::from_secs(1));
/// ```
pub fn set_stuck_deadline(deadline: Duration) {
    let nanos = u64::try_from(deadline.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1_000_000);
    STUCK_AFTER_NANOS.store(nanos, StdOrdering::Relaxed);
}

/// The current stuck deadline ([`set_stuck_deadline`]).
///
/// # Examples
///
/// ```
/// assert!(guard_core::finalizer::stuck_deadline() >= std::time::Duration::from_millis(1));
/// ```
pub fn stuck_deadline() -> Duration {
    Duration::from_nanos(STUCK_AFTER_NANOS.load(StdOrdering::Relaxed))
}

//! The cap on stuck workers: how many workers may be left behind, each in a release past
//! the stuck deadline, while replacements serve the queue.

use crate::loom::{StdAtomicU64, StdOrdering};

/// Default [`max_stuck_workers`].
pub const DEFAULT_MAX_STUCK_WORKERS: u64 = 4;

/// The cap. Configuration, not modelled state: a plain std atomic.
static MAX_STUCK_WORKERS: StdAtomicU64 = StdAtomicU64::new(DEFAULT_MAX_STUCK_WORKERS);

/// Sets how many workers may be stuck at once (default
/// [`DEFAULT_MAX_STUCK_WORKERS`]; at least 1).
///
/// When a release outlives the [stuck deadline](super::set_stuck_deadline), the watchdog
/// leaves its worker behind and starts a replacement on the rest of the queue. Once `max`
/// workers are stuck, it starts no more: the next stuck release is reported as stuck, and
/// the queue waits behind it until that release returns or one of the stuck workers comes
/// back (the watchdog then hands the queue over as before). So the finalizer never runs
/// more than `max + 1` workers, however many releases block. Meanwhile [`flush`](super::flush)
/// and [`flush_timeout`](super::flush_timeout) return
/// [`FlushError::Stuck`](crate::FlushError::Stuck) instead of waiting.
///
/// # Examples
///
/// ```
/// use guard_core::finalizer;
/// finalizer::set_max_stuck_workers(2);
/// assert_eq!(finalizer::max_stuck_workers(), 2);
/// finalizer::set_max_stuck_workers(finalizer::DEFAULT_MAX_STUCK_WORKERS);
/// ```
pub fn set_max_stuck_workers(max: u64) {
    MAX_STUCK_WORKERS.store(max.max(1), StdOrdering::Relaxed);
}

/// The current cap on stuck workers ([`set_max_stuck_workers`]).
///
/// # Examples
///
/// ```
/// assert!(guard_core::finalizer::max_stuck_workers() >= 1);
/// ```
pub fn max_stuck_workers() -> u64 {
    MAX_STUCK_WORKERS.load(StdOrdering::Relaxed)
}

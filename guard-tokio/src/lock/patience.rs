//! The process default for how long a task may wait for a lock before it reports.

use super::loom::{Ordering, StdAtomicU64};
use std::time::Duration;

/// The process default for [`Mutex::set_patience`](super::Mutex::set_patience).
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(1);

static PATIENCE: StdAtomicU64 = StdAtomicU64::new(0);

/// How long a task may wait for a [`Mutex`](super::Mutex) before it reports through
/// guard's event hook ([`Event::LockWait`](guard_core::event::Event::LockWait)), for
/// locks without a patience of their own.
///
/// # Examples
///
/// ```
/// assert_eq!(guard_tokio::lock::default_patience(), guard_tokio::lock::DEFAULT_PATIENCE);
/// ```
pub fn default_patience() -> Duration {
    match PATIENCE.load(Ordering::Relaxed) {
        0 => DEFAULT_PATIENCE,
        n => Duration::from_nanos(n),
    }
}

/// Sets [`default_patience`] for the process (a zero duration restores
/// [`DEFAULT_PATIENCE`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// guard_tokio::lock::set_default_patience(Duration::from_secs(5));
/// assert_eq!(guard_tokio::lock::default_patience(), Duration::from_secs(5));
/// # guard_tokio::lock::set_default_patience(Duration::ZERO);
/// ```
pub fn set_default_patience(patience: Duration) {
    let nanos = u64::try_from(patience.as_nanos()).unwrap_or(u64::MAX);
    PATIENCE.store(nanos, Ordering::Relaxed);
}

//! Counters the finalizer keeps, and the stuck deadline.

use crate::loom::{AtomicU64, Ordering, StdAtomicBool, StdAtomicU64, StdOrdering};
use std::fmt;
use std::time::Duration;

/// A snapshot of the finalizer's counters ([`stats`]).
///
/// Every enqueued release ends as exactly one of released, failed or panicked; until then
/// it is pending. `stuck` counts releases that outlived the deadline (they are still
/// counted in one of the three outcomes once they return).
///
/// # Examples
///
/// ```
/// let s = guard_core::finalizer::stats();
/// assert_eq!(s.pending, s.enqueued - s.released - s.failed - s.panicked);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Releases handed to the finalizer so far.
    pub enqueued: u64,
    /// Releases that returned `Ok`.
    pub released: u64,
    /// Releases that returned an error (reported to the event hook).
    pub failed: u64,
    /// Releases that panicked (caught, reported to the event hook).
    pub panicked: u64,
    /// Releases declared stuck by the watchdog.
    pub stuck: u64,
    /// Releases enqueued and not yet finished.
    pub pending: u64,
    /// The deepest the queue was seen: the largest batch the finalizer took at once.
    pub high_water: u64,
    /// Releases run inline on the dropping thread because the runtime had shut down.
    pub inline: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "enqueued {}, released {}, failed {}, panicked {}, stuck {}, pending {}, high-water {}",
            self.enqueued,
            self.released,
            self.failed,
            self.panicked,
            self.stuck,
            self.pending,
            self.high_water
        )?;
        if self.inline > 0 {
            write!(f, ", inline after shutdown {}", self.inline)?;
        }
        Ok(())
    }
}

/// What every drop of a last handle reads besides the queue head: kept on its own lines,
/// away from the worker's counters. (The count of handed-over releases is in `tally`.)
#[derive(Default)]
pub(crate) struct Intake {
    /// Set once the last runtime guard is gone: release inline from then on.
    pub(crate) shutdown: StdAtomicBool,
}

/// The counters written by workers and the watchdog.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) released: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) stuck: AtomicU64,
    /// Stuck releases that have not returned yet.
    pub(crate) stuck_outstanding: AtomicU64,
    pub(crate) high_water: AtomicU64,
    pub(crate) inline: AtomicU64,
}

impl Counters {
    /// Notes the queue's depth when a batch of `taken` jobs is taken from it.
    pub(crate) fn note_depth(&self, taken: u64) {
        let pending = taken;
        self.high_water.fetch_max(pending, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        // Read outcomes (Acquire) before the tally, so `pending` never underflows.
        let released = self.released.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        let panicked = self.panicked.load(Ordering::Acquire);
        let enqueued = super::tally::total();
        Stats {
            enqueued,
            released,
            failed,
            panicked,
            stuck: self.stuck.load(Ordering::Relaxed),
            pending: enqueued.saturating_sub(released + failed + panicked),
            high_water: self.high_water.load(Ordering::Relaxed),
            inline: self.inline.load(Ordering::Relaxed),
        }
    }
}

/// The finalizer's counters now.
///
/// # Examples
///
/// ```
/// let before = guard_core::finalizer::stats();
/// assert!(before.high_water >= before.pending || before.pending > 0);
/// ```
pub fn stats() -> Stats {
    super::state::Finalizer::global().counters.snapshot()
}

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

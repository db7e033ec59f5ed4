//! [`Stats`]: a snapshot of the finalizer's counters, and [`stats`], which takes it.

use super::global::Finalizer;
use super::push_count;
use crate::loom::Ordering;
use std::fmt;

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
    /// Releases handed to the finalizer so far, with those run inline (at exit, or on a
    /// drained lane: [`inline_idle`](Self::inline_idle)).
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
    /// Releases run inline on the dropping thread because the process was exiting.
    pub inline: u64,
    /// Releases run on the dropping thread because nothing that thread dropped was pending
    /// (the finalizer idle for it) and the type promises a release that takes no lock
    /// ([`CountedResource::RELEASE_TAKES_NO_LOCK`](crate::CountedResource::RELEASE_TAKES_NO_LOCK)).
    /// Counted in `enqueued` and in their outcome too.
    pub inline_idle: u64,
    /// Admission checks (one per 32 last drops of a thread) that met the
    /// [bound](super::set_pending_bound) and waited for room.
    pub waited_for_room: u64,
    /// Admission checks that met the bound while the finalizer made no progress, and went
    /// past it instead of waiting.
    pub past_bound: u64,
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
        if self.waited_for_room > 0 || self.past_bound > 0 {
            write!(
                f,
                ", waited for room {}, past the bound {}",
                self.waited_for_room, self.past_bound
            )?;
        }
        if self.inline_idle > 0 {
            write!(f, ", inline while idle {}", self.inline_idle)?;
        }
        if self.inline > 0 {
            write!(f, ", inline at exit {}", self.inline)?;
        }
        Ok(())
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
    let f = Finalizer::global();
    let c = &f.counters;
    // Read outcomes (Acquire) before the push count, so `pending` never underflows.
    let released = c.released.load(Ordering::Acquire);
    let failed = c.failed.load(Ordering::Acquire);
    let panicked = c.panicked.load(Ordering::Acquire);
    let enqueued = push_count::total();
    Stats {
        enqueued,
        released,
        failed,
        panicked,
        stuck: c.stuck.load(Ordering::Relaxed),
        pending: enqueued.saturating_sub(released + failed + panicked),
        high_water: c.high_water.load(Ordering::Relaxed),
        inline: c.inline.load(Ordering::Relaxed),
        inline_idle: c.inline_idle.load(Ordering::Relaxed),
        waited_for_room: f.bound.waited.load(Ordering::Relaxed),
        past_bound: f.bound.past.load(Ordering::Relaxed),
    }
}

//! The bound on pending releases: how many counted releases may wait for the finalizer
//! before a dropping thread waits for room, and what that thread does when the finalizer
//! makes no progress.
//!
//! Admission is checked once every [`CHECK_EVERY`] pushes of a thread (the per-thread push
//! count publishes its pushes in chunks, so the drop path gains no atomic read-modify-write):
//! a chunk's *ticket* is the number of pushes published up to and including it, and it is
//! admitted once the finalizer has finished `ticket - bound` releases. Each waiter waits for
//! a fixed count, so waiters are served in order and none starves.
//!
//! The policy keeps Tratt's deadlock out whatever the bound: a thread that holds a lock the
//! pending releases need cannot wait for them. So a drop waits for room only while the
//! finalizer makes progress; once no release has finished for the
//! [patience](set_stall_patience), it enqueues past the bound, the stall is reported once
//! ([`Event::PendingBoundExceeded`]), and until a release finishes again every drop that
//! meets the full queue goes past it at once. A wait therefore ends after at most
//! `ticket - finished` progress steps, each within one patience: it is finite whenever the
//! finished count is. A finalizer worker (a release that drops counted values) never waits.

use crate::event::{self, Event};
use crate::loom::{AtomicU64, Ordering, StdAtomicU64, StdOrdering};
use std::time::{Duration, Instant};

/// Pushes a thread makes between two admission checks (and publishes at once).
pub(crate) const CHECK_EVERY: u64 = 32;

/// The bound ([`set_pending_bound`]). Configuration, not modelled state.
static BOUND: StdAtomicU64 = StdAtomicU64::new(DEFAULT_PENDING_BOUND);
/// The patience in nanoseconds ([`set_stall_patience`]).
static PATIENCE_NANOS: StdAtomicU64 = StdAtomicU64::new(100_000_000);

/// The default [`pending_bound`].
pub const DEFAULT_PENDING_BOUND: u64 = 1 << 16;

/// Sets how many counted releases may be pending before a drop of a last handle waits for
/// room (default [`DEFAULT_PENDING_BOUND`]; clamped to at least 1).
///
/// The bound is checked once every 32 last drops of a thread, so pending releases may
/// exceed it by up to 31 per producing thread. A drop waits only while the finalizer makes
/// progress: if no release finishes for the [patience](set_stall_patience) (a release
/// blocked on a lock the dropping thread holds, say), the drop enqueues past the bound,
/// reported by [`Event::PendingBoundExceeded`] and counted in
/// [`Stats::past_bound`](super::Stats::past_bound). Releases dropped by a release, on the
/// finalizer itself, never wait.
///
/// # Examples
///
/// ```
/// guard_core::finalizer::set_pending_bound(10_000);
/// assert_eq!(guard_core::finalizer::pending_bound(), 10_000);
/// guard_core::finalizer::set_pending_bound(guard_core::finalizer::DEFAULT_PENDING_BOUND);
/// ```
pub fn set_pending_bound(bound: u64) {
    BOUND.store(bound.max(1), StdOrdering::Relaxed);
}

/// The current bound on pending releases ([`set_pending_bound`]).
///
/// # Examples
///
/// ```
/// assert!(guard_core::finalizer::pending_bound() >= 1);
/// ```
#[inline]
pub fn pending_bound() -> u64 {
    BOUND.load(StdOrdering::Relaxed)
}

/// Sets how long a drop that meets a full queue waits for the finalizer to finish a
/// release before it gives up waiting and enqueues past the bound (default 100 ms; clamped
/// to at least 1 ms). Keep it under the [stuck deadline](super::set_stuck_deadline), so a
/// stall is noticed before the watchdog's hand-overs let a release through now and then.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// guard_core::finalizer::set_stall_patience(Duration::from_millis(20));
/// assert_eq!(guard_core::finalizer::stall_patience(), Duration::from_millis(20));
/// guard_core::finalizer::set_stall_patience(Duration::from_millis(100));
/// ```
pub fn set_stall_patience(patience: Duration) {
    let nanos = u64::try_from(patience.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1_000_000);
    PATIENCE_NANOS.store(nanos, StdOrdering::Relaxed);
}

/// The current patience ([`set_stall_patience`]).
///
/// # Examples
///
/// ```
/// assert!(guard_core::finalizer::stall_patience() >= std::time::Duration::from_millis(1));
/// ```
pub fn stall_patience() -> Duration {
    Duration::from_nanos(PATIENCE_NANOS.load(StdOrdering::Relaxed))
}

/// How an admission check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// There was room.
    Room,
    /// The drop waited, and room was made.
    Waited,
    /// The finalizer made no progress: the drop goes past the bound. `first` for the drop
    /// that declared the stall (it reports it).
    Past { first: bool },
}

/// The state of the bound that producers share: what they count, and the stall they saw.
#[derive(Default)]
pub(crate) struct Bound {
    /// A finished count some producer read (the finished count is monotone, so it is at
    /// least this now): a chunk whose ticket it admits needs no read of the worker's
    /// counters, whose line the worker writes with every release.
    seen: AtomicU64,
    /// 1 + the finished count at which a stall was declared; 0 before any. While the
    /// finished count is still that, the finalizer has not moved since: no drop waits.
    stalled_at: AtomicU64,
    /// Checks that waited for room.
    pub(crate) waited: AtomicU64,
    /// Checks that went past the bound.
    pub(crate) past: AtomicU64,
}

impl Bound {
    /// In a forked child: the finished count starts again from zero, so a stall declared
    /// in the parent means nothing here.
    pub(crate) fn forget_after_fork(&self) {
        self.seen.store(0, Ordering::Relaxed);
        self.stalled_at.store(0, Ordering::Relaxed);
    }

    /// True if the chunk whose ticket is `ticket` is admitted against `bound` by a finished
    /// count already seen: the common case, which reads only lines producers share.
    #[inline]
    pub(crate) fn has_room(&self, ticket: u64, bound: u64) -> bool {
        ticket.saturating_sub(bound) <= self.seen.load(Ordering::Relaxed)
    }

    /// Admits the chunk whose ticket is `ticket` (pushes published up to and including
    /// it), against `bound`: returns once `finished()` (releases finished, a monotone
    /// count) reaches `ticket - bound`, or once it has not moved for `patience`.
    pub(crate) fn admit(
        &self,
        ticket: u64,
        bound: u64,
        patience: Duration,
        finished: impl Fn() -> u64,
    ) -> Admission {
        let target = ticket.saturating_sub(bound);
        if target <= self.seen.load(Ordering::Relaxed) {
            return Admission::Room;
        }
        let mut seen = finished();
        self.seen.fetch_max(seen, Ordering::Relaxed);
        if seen >= target {
            return Admission::Room;
        }
        if self.stalled_at.load(Ordering::Acquire) == seen + 1 {
            self.past.fetch_add(1, Ordering::Relaxed);
            return Admission::Past { first: false };
        }
        let mut clock = Stall::new();
        loop {
            clock.pause();
            let now = finished();
            if now >= target {
                self.seen.fetch_max(now, Ordering::Relaxed);
                self.waited.fetch_add(1, Ordering::Relaxed);
                return Admission::Waited;
            }
            if now != seen {
                seen = now;
                clock = Stall::new();
            } else if clock.expired(patience) {
                self.past.fetch_add(1, Ordering::Relaxed);
                let first = self.stalled_at.swap(seen + 1, Ordering::AcqRel) != seen + 1;
                return Admission::Past { first };
            }
        }
    }
}

/// How long the finished count has not moved, as a waiter sees it: a clock in real runs, a
/// count of rounds in loom models (where time does not pass).
struct Stall {
    since: Instant,
    rounds: u32,
}

impl Stall {
    fn new() -> Self {
        Stall {
            since: Instant::now(),
            rounds: 0,
        }
    }

    /// Waits a little: yields first, then sleeps for growing spans up to 1 ms (a throttled
    /// producer gets through at the finalizer's pace, not faster, so sleeping costs it
    /// nothing and leaves the core to the finalizer).
    fn pause(&mut self) {
        self.rounds = self.rounds.saturating_add(1);
        #[cfg(not(guard_loom))]
        if self.rounds <= 16 {
            std::thread::yield_now();
        } else {
            let micros = 10u64 << (self.rounds - 16).min(7);
            std::thread::sleep(Duration::from_micros(micros.min(1000)));
        }
        #[cfg(guard_loom)]
        crate::loom::thread::yield_now();
    }

    fn expired(&self, patience: Duration) -> bool {
        if cfg!(guard_loom) {
            self.rounds >= 2
        } else {
            self.since.elapsed() >= patience
        }
    }
}

/// Admits a chunk of the calling thread's pushes (its ticket from the push count), against
/// the global bound and patience, and reports a stall it declares. Not for finalizer
/// workers (they must never wait for themselves): the caller checks, after
/// [`Bound::has_room`] said no.
#[cold]
#[inline(never)]
pub(crate) fn admit(bound: &Bound, ticket: u64, limit: u64, finished: impl Fn() -> u64) {
    if let Admission::Past { first: true } = bound.admit(ticket, limit, stall_patience(), &finished)
    {
        report_stall(ticket.saturating_sub(finished()), limit);
    }
}

/// Reports a stall on a short-lived thread: the dropping thread may hold a lock the hook
/// takes. If no thread can be spawned, the stall is only counted (`Stats::past_bound`).
fn report_stall(pending: u64, bound: u64) {
    let patience = stall_patience();
    let _ = std::thread::Builder::new()
        .name("guard-finalizer-report".into())
        .spawn(move || {
            event::emit(&Event::PendingBoundExceeded {
                pending,
                bound,
                patience,
            });
        });
}

//! The keep word of a handle: an acquisition kept by the holder thread for the next task's
//! turn, claimed by that task with one CAS, or unlocked by the thread if nobody claimed it
//! within [`KEEP_GRACE`] (the task it was kept for may never be polled again).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long an acquisition kept for the next task waits to be claimed before the holder
/// thread unlocks it.
const KEEP_GRACE: Duration = Duration::from_micros(50);

/// The word's bit: an acquisition is kept. Above it, a count of keeps, so that a lapse or
/// a claim cannot mistake a later keep for the one it saw.
const KEPT: u32 = 1;

/// The keep word, shared by a handle's clones, its acquisitions and its holder thread.
#[derive(Clone, Default)]
pub(super) struct Keep(Arc<AtomicU32>);

impl Keep {
    /// Marks the OS lock kept; returns the word's value for this keep. Called only by the
    /// task holding the OS lock, so the count is this one's. SeqCst: see
    /// [`is_kept`](Self::is_kept).
    pub(super) fn keep(&self) -> u32 {
        let kept = (self.0.load(Ordering::Relaxed) | KEPT).wrapping_add(2);
        self.0.store(kept, Ordering::SeqCst);
        kept
    }

    /// Ends the keep `kept` (a task claiming it, or the thread unlocking it): false if the
    /// other side ended it first.
    pub(super) fn end(&self, kept: u32) -> bool {
        self.0
            .compare_exchange(kept, kept & !KEPT, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether an acquisition is kept now. The thread stores `Parked` then calls this, and
    /// a keeper stores the keep then reads the phase (all SeqCst): either the keeper sees
    /// the thread parked (and unlocks for real), or the thread sees the keep (and stays
    /// awake to time it).
    pub(super) fn is_kept(&self) -> bool {
        self.0.load(Ordering::SeqCst) & KEPT != 0
    }
}

/// The holder thread's timing of a keep.
#[derive(Default)]
pub(super) struct Lapse {
    /// The kept value seen, and since when.
    seen: Option<(u32, Instant)>,
}

impl Lapse {
    /// Looks at the word at `now`: the kept value if it has been kept, unclaimed, for
    /// [`KEEP_GRACE`].
    pub(super) fn check(&mut self, keep: &Keep, now: Instant) -> Option<u32> {
        let kept = keep.0.load(Ordering::Relaxed);
        self.seen = match self.seen {
            _ if kept & KEPT == 0 => None,
            Some((was, since)) if was == kept => {
                if now.duration_since(since) >= KEEP_GRACE {
                    return Some(kept);
                }
                Some((was, since))
            }
            _ => Some((kept, now)),
        };
        None
    }

    /// Whether a keep is being timed (the thread must not park).
    pub(super) fn timing(&self) -> bool {
        self.seen.is_some()
    }
}

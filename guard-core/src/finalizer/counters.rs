//! [`Counters`]: the outcomes the finalizer's workers and watchdog count, and
//! [`Counters::record`], which counts one job's outcome and reports its failure.

use super::job::{RunOutcome, VTable};
use crate::event::{self, Event};
use crate::loom::{AtomicU64, Ordering};
use crate::resource::Kind;

/// The counters written by workers and the watchdog.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) released: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) stuck: AtomicU64,
    /// Stuck releases that have not returned yet (workers left behind).
    pub(crate) stuck_outstanding: AtomicU64,
    /// The sequence number of the last job declared stuck while the cap on stuck workers
    /// was reached: the queue waits behind it while it still runs (0: none yet).
    pub(crate) held: AtomicU64,
    pub(crate) high_water: AtomicU64,
    /// Releases run at exit on the dropping thread (`inline.rs`).
    pub(crate) inline: AtomicU64,
    /// Releases run on the dropping thread because its lane was drained (`inline.rs`).
    pub(crate) inline_idle: AtomicU64,
}

impl Counters {
    /// In a forked child: the child counts its own releases, from zero.
    pub(crate) fn zero_after_fork(&self) {
        for c in [
            &self.released,
            &self.failed,
            &self.panicked,
            &self.stuck,
            &self.stuck_outstanding,
            &self.high_water,
            &self.inline,
            &self.inline_idle,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Notes the queue's depth when a batch of `taken` jobs is taken from it.
    pub(crate) fn note_depth(&self, taken: u64) {
        self.high_water.fetch_max(taken, Ordering::Relaxed);
    }

    /// Releases finished so far, whatever their outcome (a monotone count).
    pub(crate) fn finished(&self) -> u64 {
        self.released.load(Ordering::Acquire)
            + self.failed.load(Ordering::Acquire)
            + self.panicked.load(Ordering::Acquire)
    }

    /// Records how one job went: counters, and an event for failures.
    pub(crate) fn record(&self, vtable: &'static VTable, outcome: RunOutcome) {
        match outcome {
            RunOutcome::Marker => {}
            RunOutcome::Reported(of, outcome) => self.record(of, *outcome),
            RunOutcome::Released => {
                self.released.fetch_add(1, Ordering::Release);
            }
            RunOutcome::Failed(error) => {
                event::emit(&Event::ReleaseFailed {
                    resource: (vtable.type_name)(),
                    kind: Kind::Counted,
                    error: &*error,
                });
                // The error is the user's type: its `Drop` may panic, and this worker must
                // not unwind (the watchdog could then take a batch the unwinding ran).
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(error)));
                self.failed.fetch_add(1, Ordering::Release);
            }
            RunOutcome::Panicked(p) => {
                event::emit(&Event::ReleasePanicked {
                    resource: (vtable.type_name)(),
                    field: p.field(),
                    message: p.message(),
                });
                self.panicked.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// A worker whose stuck job finally returned (its outcome is already counted): one
    /// stuck release fewer. Counted last, so a flush that sees none left also sees the
    /// outcome.
    pub(crate) fn finish_stuck(&self) {
        self.stuck_outstanding.fetch_sub(1, Ordering::Release);
    }
}

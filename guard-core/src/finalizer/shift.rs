//! [`Shift`]: a worker's batch in progress, shared with the watchdog, and the hand-over
//! that lets the watchdog take the rest of the batch away from a worker stuck in one
//! release.

use super::batch::Batch;
use super::job::{Node, RunOutcome, VTable};
use crate::loom::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use crate::panic::drop_payload;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

/// A worker's shift, shared with the watchdog: which job runs now and what is left of the
/// batch. `busy` holds the running job's sequence number, or `IDLE`, or `ABANDONED` once
/// the watchdog took the batch over. Sequence numbers are never reused.
pub(crate) struct Shift {
    busy: AtomicU64,
    rest: AtomicPtr<Node>,
    running: AtomicPtr<VTable>,
    /// True while the running job's outcome is being reported (through the event hook):
    /// a job stuck then is stuck in the hook, not in its release.
    reporting: AtomicBool,
}

const IDLE: u64 = 0;
const ABANDONED: u64 = u64::MAX;

/// How a worker's batch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShiftEnd {
    /// Every job ran; the worker carries on.
    Finished,
    /// The watchdog took the rest of the batch: this worker must exit.
    Abandoned,
}

impl Shift {
    pub(crate) fn new() -> Self {
        Shift {
            busy: AtomicU64::new(IDLE),
            rest: AtomicPtr::new(ptr::null_mut()),
            running: AtomicPtr::new(ptr::null_mut()),
            reporting: AtomicBool::new(false),
        }
    }

    /// Runs `batch` job by job. Before each job, publishes the rest of the batch and the
    /// job's sequence number; then runs the job and hands its outcome to `done` (which
    /// counts and reports it: reporting runs user hooks, so it stays inside the watched
    /// window too); then claims the job back with a CAS. If the watchdog won that CAS, it
    /// owns the rest of the batch and this worker stops: `Abandoned`.
    pub(crate) fn work(
        &self,
        mut batch: Batch,
        seq: &mut u64,
        mut done: impl FnMut(&'static VTable, RunOutcome),
    ) -> ShiftEnd {
        while let Some(node) = batch.pop() {
            // SAFETY: `pop` hands over an owned node.
            let vtable = unsafe { node.as_ref() }.vtable;
            *seq += 1;
            self.rest.store(batch.head, Ordering::Relaxed);
            self.running
                .store(ptr::from_ref(vtable).cast_mut(), Ordering::Relaxed);
            self.busy.store(*seq, Ordering::Release);
            // SAFETY: `node` is owned and unlinked; it is never touched again.
            let outcome = unsafe { (vtable.run)(node) };
            // `done` reports through user hooks. It catches their panics itself; this catch
            // is the backstop: were the worker to unwind here, with `rest` published, the
            // watchdog would later take (and run again) jobs the unwinding ran.
            self.reporting.store(true, Ordering::Relaxed);
            let reported = catch_unwind(AssertUnwindSafe(|| done(vtable, outcome)));
            self.reporting.store(false, Ordering::Relaxed);
            if let Err(payload) = reported {
                drop_payload(payload);
            }
            let kept = self
                .busy
                .compare_exchange(*seq, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if !kept {
                // The watchdog owns `batch.head` now.
                batch.head = ptr::null_mut();
                return ShiftEnd::Abandoned;
            }
        }
        ShiftEnd::Finished
    }

    /// The running job's sequence number and type name, if a job is running.
    pub(crate) fn running(&self) -> Option<(u64, &'static str)> {
        let seq = self.busy.load(Ordering::Acquire);
        if seq == IDLE || seq == ABANDONED {
            return None;
        }
        let vtable = self.running.load(Ordering::Relaxed);
        // SAFETY: `running` only ever holds `&'static VTable`s, stored before `busy`
        // (Release) and read after it (Acquire).
        let name = unsafe { vtable.as_ref() }.map_or("<unknown>", |v| (v.type_name)());
        Some((seq, name))
    }

    /// True if the running job's release has returned and its outcome is being reported
    /// (a snapshot, meaningful while [`running`](Self::running) shows the job).
    pub(crate) fn reporting(&self) -> bool {
        self.reporting.load(Ordering::Relaxed)
    }

    /// Takes the rest of the batch from a worker still running job `seq`. `None` if that
    /// job has finished meanwhile (the worker keeps its batch).
    pub(crate) fn steal(&self, seq: u64) -> Option<Batch> {
        self.busy
            .compare_exchange(seq, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let head = self.rest.swap(ptr::null_mut(), Ordering::Relaxed);
        Some(Batch { head, len: 0 })
    }

    /// In a forked child: forgets the parent's worker and the rest of its batch (the parent
    /// runs them), so that the child's watchdog sees no job running.
    pub(crate) fn forget_after_fork(&self) {
        self.rest.store(ptr::null_mut(), Ordering::Relaxed);
        self.running.store(ptr::null_mut(), Ordering::Relaxed);
        self.busy.store(IDLE, Ordering::Release);
    }

    /// Readies the shift for a fresh worker after a steal.
    pub(crate) fn reset(&self) {
        self.busy.store(IDLE, Ordering::Release);
    }
}

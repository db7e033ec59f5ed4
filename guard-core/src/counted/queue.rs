//! The finalizer's queue: an intrusive, lock-free multi-producer stack that the consumer
//! empties a batch at a time, plus the hand-over protocol that lets a watchdog take the
//! rest of a batch away from a worker stuck in one release.
//!
//! Producers ([`Queue::push`]) pay one CAS on the head; the node is the allocation that held
//! the value, so nothing is allocated on the dropping thread. Only the push that finds the
//! stack empty looks at the consumer's state, and it wakes the consumer only if the consumer
//! sleeps: at most one wake per batch. The consumer takes the whole stack with one swap and
//! reverses it, so jobs run in the order they were pushed.
//!
//! Lost wake-ups are excluded by a Dekker pair: the producer pushes, issues a SeqCst fence
//! and reads the state; the consumer writes `SLEEPING`, issues a SeqCst fence and re-reads
//! the head. The two fences are totally ordered, so one of them sees the other's write.
//! (Fences rather than SeqCst accesses: loom models SeqCst fences exactly, SeqCst accesses
//! only as AcqRel; and the producer pays the fence only on the empty to non-empty push.) The wake itself goes through a mutex and condvar, checked
//! under the mutex, so a notification cannot fall between the check and the wait.

use crate::error::{BoxError, Panicked};
use crate::loom::{AtomicPtr, AtomicU8, AtomicU64, Condvar, Mutex, Ordering, fence};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, NonNull};
use std::time::Duration;

/// The header every queued job starts with (`#[repr(C)]`, first field of its allocation).
#[repr(C)]
pub(crate) struct Node {
    next: AtomicPtr<Node>,
    vtable: &'static VTable,
}

impl Node {
    pub(crate) fn new(vtable: &'static VTable) -> Self {
        Node {
            next: AtomicPtr::new(ptr::null_mut()),
            vtable,
        }
    }
}

/// How to run a job, and what to call it in reports.
pub(crate) struct VTable {
    /// Runs the job and frees its allocation.
    ///
    /// # Safety
    ///
    /// `node` heads an allocation of the type this vtable was made for; it is owned by the
    /// caller, unlinked, and never used again.
    pub(crate) run: unsafe fn(NonNull<Node>) -> RunOutcome,
    /// The type name of what the job releases.
    pub(crate) type_name: fn() -> &'static str,
    /// True for flush markers: they release nothing and do not count as queued releases.
    pub(crate) is_marker: bool,
}

/// How one job went.
pub(crate) enum RunOutcome {
    Released,
    Failed(BoxError),
    Panicked(Panicked),
    Marker,
}

/// An owned, unlinked job: a node whose vtable may consume it exactly once.
pub(crate) struct Job {
    node: NonNull<Node>,
}

impl Job {
    /// Takes ownership of `node`.
    ///
    /// # Safety
    ///
    /// `node` heads a live allocation of the type its vtable was made for, owned by the
    /// caller (who gives it up), and is in no queue.
    pub(crate) unsafe fn from_raw(node: NonNull<Node>) -> Self {
        Job { node }
    }

    fn into_raw(self) -> NonNull<Node> {
        let node = self.node;
        std::mem::forget(self);
        node
    }

    /// What the job releases.
    pub(crate) fn vtable(&self) -> &'static VTable {
        // SAFETY: a `Job` owns a live node.
        unsafe { self.node.as_ref() }.vtable
    }

    /// Runs the job here and now, consuming it.
    pub(crate) fn run(self) -> RunOutcome {
        let vtable = self.vtable();
        let node = self.into_raw();
        // SAFETY: we own the node (type invariant) and never touch it again.
        unsafe { (vtable.run)(node) }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // A job dropped without running would skip a release: run it rather than lose it.
        let vtable = self.vtable();
        // SAFETY: we own the node; it is not used after this.
        let _ = unsafe { (vtable.run)(self.node) };
    }
}

// SAFETY: a job owns its node outright; the values jobs carry are `Send` (counted resources
// are `Send + 'static`, flush markers hold only an `Arc` of sync state).
unsafe impl Send for Job {}

/// Keeps a value on cache lines of its own (128 bytes: two lines, for the adjacent-line
/// prefetcher), so producers and the worker do not invalidate each other's lines.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

const RUNNING: u8 = 0;
const SLEEPING: u8 = 1;
const NOTIFIED: u8 = 2;

/// The queue: a Treiber stack of [`Node`]s and the consumer's sleep state.
pub(crate) struct Queue {
    /// Producers' line: every push CASes it; the consumer swaps it once per batch.
    head: CachePadded<AtomicPtr<Node>>,
    state: AtomicU8,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Queue {
    pub(crate) fn new() -> Self {
        Queue {
            head: CachePadded(AtomicPtr::new(ptr::null_mut())),
            state: AtomicU8::new(RUNNING),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Pushes a job. Lock-free (one CAS, retried only under contention), never blocks, and
    /// wakes the consumer only on the empty to non-empty transition while it sleeps.
    pub(crate) fn push(&self, job: Job) {
        let node = job.into_raw();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: we own `node` until the CAS below publishes it.
            unsafe { node.as_ref() }.next.store(head, Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                head,
                node.as_ptr(),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        if head.is_null() {
            self.wake_consumer();
        }
    }

    fn wake_consumer(&self) {
        fence(Ordering::SeqCst);
        if self.state.load(Ordering::SeqCst) == SLEEPING
            && self
                .state
                .compare_exchange(SLEEPING, NOTIFIED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            let _held = self.lock.lock();
            self.wake.notify_one();
        }
    }

    /// Takes every queued job, oldest first.
    pub(crate) fn take_all(&self) -> Batch {
        let mut node = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        // Reverse the LIFO chain into push order.
        let mut reversed: *mut Node = ptr::null_mut();
        let mut len = 0;
        while let Some(this) = NonNull::new(node) {
            // SAFETY: every node in the chain was published by `push` (Release via SeqCst
            // CAS, acquired by the swap) and now belongs to this consumer alone.
            let n = unsafe { this.as_ref() };
            len += u64::from(!n.vtable.is_marker);
            node = n.next.load(Ordering::Relaxed);
            n.next.store(reversed, Ordering::Relaxed);
            // The raw pointer, not one made from `n`: a pointer derived from a `&Node` may
            // only reach the node's own bytes, and the job later reads its whole allocation
            // through it (found by Miri: a Stacked Borrows violation).
            reversed = this.as_ptr();
        }
        Batch {
            head: reversed,
            len,
        }
    }

    /// True if nothing is queued (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst).is_null()
    }

    /// Sleeps until a producer pushes into the empty queue, or `timeout` passes. Returns at
    /// once if the queue is not empty.
    pub(crate) fn sleep(&self, timeout: Duration) {
        self.state.store(SLEEPING, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !self.head.load(Ordering::SeqCst).is_null() {
            self.state.store(RUNNING, Ordering::SeqCst);
            return;
        }
        let mut held = self.lock.lock();
        if self.state.load(Ordering::SeqCst) == SLEEPING {
            let _ = self.wake.wait_for(&mut held, timeout);
        }
        self.state.store(RUNNING, Ordering::SeqCst);
    }
}

/// A batch of jobs taken from the queue, oldest first. Owns its nodes.
pub(crate) struct Batch {
    head: *mut Node,
    /// Releases in the batch when taken, markers not counted (0 for the rest of a batch
    /// taken from a stuck worker).
    len: u64,
}

impl Batch {
    /// How many jobs the batch held when taken from the queue.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    fn pop(&mut self) -> Option<NonNull<Node>> {
        let node = NonNull::new(self.head)?;
        // SAFETY: the batch owns its chain; `node` is its first element.
        self.head = unsafe { node.as_ref() }.next.load(Ordering::Relaxed);
        Some(node)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // A batch is run or handed over; should one be dropped with jobs left (a worker
        // unwinding), run them here rather than skip their releases.
        while let Some(node) = self.pop() {
            // SAFETY: `pop` hands over an owned, unlinked node.
            drop(unsafe { Job::from_raw(node) });
        }
    }
}

/// A worker's shift, shared with the watchdog: which job runs now and what is left of the
/// batch. `busy` holds the running job's sequence number, or `IDLE`, or `ABANDONED` once
/// the watchdog took the batch over. Sequence numbers are never reused.
pub(crate) struct Shift {
    busy: AtomicU64,
    rest: AtomicPtr<Node>,
    running: AtomicPtr<VTable>,
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
            let reported = catch_unwind(AssertUnwindSafe(|| done(vtable, outcome)));
            if let Err(payload) = reported {
                crate::scope::drop_payload(payload);
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

    /// Takes the rest of the batch from a worker still running job `seq`. `None` if that
    /// job has finished meanwhile (the worker keeps its batch).
    pub(crate) fn steal(&self, seq: u64) -> Option<Batch> {
        self.busy
            .compare_exchange(seq, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let head = self.rest.swap(ptr::null_mut(), Ordering::Relaxed);
        Some(Batch { head, len: 0 })
    }

    /// Readies the shift for a fresh worker after a steal.
    pub(crate) fn reset(&self) {
        self.busy.store(IDLE, Ordering::Release);
    }
}

// SAFETY: a `Batch` owns its nodes outright, and jobs are `Send` (see `Job`).
unsafe impl Send for Batch {}

#[cfg(guard_loom)]
pub(crate) mod model {
    //! Test jobs for the loom models.
    use super::*;
    use crate::loom::{Arc, AtomicUsize};

    #[repr(C)]
    struct TestJob {
        node: Node,
        ran: Arc<AtomicUsize>,
    }

    static TEST_VTABLE: VTable = VTable {
        run: run_test,
        type_name: || "TestJob",
        is_marker: false,
    };

    unsafe fn run_test(node: NonNull<Node>) -> RunOutcome {
        // SAFETY: `node` heads a `TestJob` leaked by `push_test_job`.
        let job = unsafe { Box::from_raw(node.cast::<TestJob>().as_ptr()) };
        job.ran.fetch_add(1, Ordering::SeqCst);
        RunOutcome::Released
    }

    /// Pushes a job that counts its runs in `ran`.
    pub(crate) fn push_test_job(queue: &Queue, ran: &Arc<AtomicUsize>) {
        let job = Box::new(TestJob {
            node: Node::new(&TEST_VTABLE),
            ran: ran.clone(),
        });
        let node = NonNull::from(Box::leak(job)).cast::<Node>();
        // SAFETY: a fresh, owned, unlinked node whose vtable matches its allocation.
        queue.push(unsafe { Job::from_raw(node) });
    }
}

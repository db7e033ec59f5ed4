//! The finalizer's queue: an intrusive, lock-free multi-producer stack of [`Job`]s that
//! the consumer empties a [`Batch`] at a time.
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
//! only as AcqRel; and the producer pays the fence only on the empty to non-empty push.)
//! The wake itself goes through a mutex and condvar, checked under the mutex, so a
//! notification cannot fall between the check and the wait.

use super::job::{Job, Node};
use crate::loom::{AtomicPtr, AtomicU8, Condvar, Mutex, MutexGuard, Ordering, fence};
use crate::padded::CachePadded;
use std::ptr::{self, NonNull};
use std::time::Duration;

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
    #[inline]
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

    #[inline(never)]
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
            // through it.
            reversed = this.as_ptr();
        }
        Batch {
            head: reversed,
            len,
        }
    }

    /// Takes the wake-up lock for a `fork` (see `crate::fork`): no producer and no consumer
    /// is between its check and its wait or notify when the process is copied.
    pub(crate) fn lock_for_fork(&self) -> MutexGuard<'_, ()> {
        self.lock.lock()
    }

    /// In a forked child: forgets the parent's queued jobs (the parent releases them; the
    /// child's copies of their memory are never walked, since a push racing the fork may
    /// have been copied half done) and the parent's consumer.
    pub(crate) fn forget_after_fork(&self) {
        self.head.store(ptr::null_mut(), Ordering::Relaxed);
        self.state.store(RUNNING, Ordering::Relaxed);
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
    pub(super) head: *mut Node,
    /// Releases in the batch when taken, markers not counted (0 for the rest of a batch
    /// taken from a stuck worker).
    pub(super) len: u64,
}

impl Batch {
    /// How many jobs the batch held when taken from the queue.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    pub(super) fn pop(&mut self) -> Option<NonNull<Node>> {
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
            // SAFETY: `pop` hands over an owned, unlinked node; it was a `Job` before it was
            // pushed, so the rest of `from_raw`'s contract (its vtable, `Send`) holds.
            drop(unsafe { Job::from_raw(node) });
        }
    }
}

// SAFETY: a `Batch` owns its nodes outright, and jobs are `Send` (see `Job::from_raw`).
unsafe impl Send for Batch {}

#[cfg(guard_loom)]
pub(crate) mod model {
    //! Test jobs for the loom models.
    use super::*;
    use crate::finalizer::job::{RunOutcome, VTable};
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
        // SAFETY: a fresh, owned, unlinked node whose vtable matches its allocation; it
        // holds an `Arc` of an atomic, which is `Send`.
        queue.push(unsafe { Job::from_raw(node) });
    }
}

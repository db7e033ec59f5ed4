//! The finalizer's queue: one [`Lane`] per producing thread, a shared [`Stack`] for what
//! goes through no lane (flush markers, jobs of a thread whose lane is gone), and the
//! consumer's side: which lanes it watches, its passes, its sleep and its wake-up.
//!
//! **A pass** ([`Queue::take_all`]) takes the shared stack first, then adopts the lanes put
//! on the ready stack, then takes every watched lane's new jobs, and makes one batch of
//! them: the lanes' runs, then the shared stack's. Jobs from one thread run in the order
//! pushed (one lane, oldest first; a thread's jobs on the shared stack come after its
//! lane's, which its lane's exit published before them). A flush marker on the shared stack
//! runs after every job pushed before it from any thread: taking the marker synchronises
//! with its push, so the lanes read after it show every such job.
//!
//! **Sleep** ([`Queue::sleep`]), the rare side, pays for the producers' cheap push: it
//! writes `SLEEPING`, gives up every empty lane ([`Lane::give_up_care`]), issues
//! `barrier::heavy()`, and looks again at those lanes and both stacks; a producer that
//! pushed before the barrier is seen, one after it sees its lane out of care and takes the
//! slow path: ready stack, SeqCst fence, read the state, wake. The wake goes through a
//! mutex and condvar, checked under the mutex, so it cannot fall between check and wait.

use super::batch::{Batch, Chain};
use super::job::Job;
use super::lane::Lane;
use super::stack::Stack;
use crate::barrier;
use crate::loom::{AtomicPtr, AtomicU8, Condvar, Mutex, MutexGuard, Ordering, fence};
use crate::padded::CachePadded;
use std::ptr::{self, NonNull};
use std::time::Duration;

const RUNNING: u8 = 0;
const SLEEPING: u8 = 1;
const NOTIFIED: u8 = 2;

/// A lane's address, as the queue's lists hold it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct LanePtr(NonNull<Lane>);

// SAFETY: a `Lane` is atomics only; the lists that hold these pointers are behind mutexes,
// and a lane is freed only by the consumer, once orphaned, after leaving every list.
unsafe impl Send for LanePtr {}

impl LanePtr {
    /// # Safety
    ///
    /// `lane` is a live lane made by [`Queue::new_lane`].
    pub(crate) unsafe fn from_raw(lane: NonNull<Lane>) -> Self {
        LanePtr(lane)
    }

    /// The lane. Valid until the consumer frees it: for its producer, until `orphan`; for
    /// the consumer, while it is on the consumer's list.
    pub(crate) fn get(&self) -> &Lane {
        // SAFETY: see above; every caller is one of the two.
        unsafe { self.0.as_ref() }
    }

    /// The pointer `new_lane` leaked, with the permission to free it: the ready stack
    /// and the thread's `MINE` keep this, never a pointer made from a `&Lane` (which would
    /// grant only shared access, and `Box::from_raw` on it is undefined behaviour).
    pub(crate) fn as_ptr(self) -> *mut Lane {
        self.0.as_ptr()
    }
}

/// Every lane, for statistics and fork, with the pushes of lanes already freed.
struct Lanes {
    /// Each live lane, with the count of its pushes that statistics do not count (nonzero
    /// only in a forked child: what the parent took).
    list: Vec<(LanePtr, u64)>,
    retired: u64,
}

/// The queue.
pub(crate) struct Queue {
    shared: CachePadded<Stack>,
    /// Lanes put in care by their producers, not adopted yet (linked through
    /// `Lane::ready_next`).
    ready: CachePadded<AtomicPtr<Lane>>,
    /// The consumer's list of lanes in care. Locked by the consumer for a pass or a sleep,
    /// and across a fork (so no lane is half taken in the child).
    care: Mutex<Vec<LanePtr>>,
    lanes: Mutex<Lanes>,
    state: AtomicU8,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Queue {
    pub(crate) fn new() -> Self {
        Queue {
            shared: CachePadded(Stack::new()),
            ready: CachePadded(AtomicPtr::new(ptr::null_mut())),
            care: Mutex::new(Vec::new()),
            lanes: Mutex::new(Lanes {
                list: Vec::new(),
                retired: 0,
            }),
            state: AtomicU8::new(RUNNING),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// A fresh lane for a producing thread, which pushes through it until it calls
    /// [`orphan`](Self::orphan).
    pub(crate) fn new_lane(&self) -> LanePtr {
        let lane = LanePtr(NonNull::from(Box::leak(Box::new(Lane::new()))));
        self.lanes.lock().list.push((lane, 0));
        lane
    }

    /// Pushes `job` onto `lane`, the calling thread's own: plain stores; only when the
    /// lane is out of the consumer's care does it take the slow path.
    #[inline]
    pub(crate) fn push(&self, lane: LanePtr, job: Job) {
        if lane.get().push(job.into_raw()) {
            self.hand_over(lane);
        }
    }

    /// True if everything pushed through `lane` has been released and the lane is out of
    /// the consumer's care (producer only: its own lane), so a release this thread runs
    /// itself now overtakes none of its own. False if it cannot tell at once (the consumer
    /// holds its list: in a pass, or on its way to sleep).
    ///
    /// Why the lock: every give-up of care happens under it, in [`sleep`](Self::sleep),
    /// after the worker ran every job it took; a lane the sleep gives up and then finds not
    /// empty (a push raced the give-up) is back in care before the lock is released. So a
    /// clear bit read under the lock means no job of this lane is queued or running
    /// (except one declared stuck, whose batch a fresh worker already carries on with),
    /// and the lock orders those releases before the caller's. Only this thread pushes to
    /// its lane, and the consumer takes a lane back only after a push, so the answer stays
    /// true until this thread pushes again.
    #[inline]
    pub(crate) fn is_drained(&self, lane: LanePtr) -> bool {
        !lane.get().is_in_care() && self.is_drained_locked(lane)
    }

    #[cold]
    fn is_drained_locked(&self, lane: LanePtr) -> bool {
        let Some(_care) = self.care.try_lock() else {
            return false;
        };
        !lane.get().is_in_care()
    }

    /// Puts `lane` in the consumer's care if nobody else has, and wakes the consumer.
    #[cold]
    #[inline(never)]
    fn hand_over(&self, lane: LanePtr) {
        if lane.get().take_into_care() {
            self.push_ready(lane);
        }
    }

    /// Pushes `lane` on the ready stack and wakes the consumer if it sleeps. The lane may
    /// be freed as soon as it is on the stack: it is not touched after.
    fn push_ready(&self, lane: LanePtr) {
        let lane_ptr = lane.as_ptr();
        let lane = lane.get();
        let mut head = self.ready.load(Ordering::Relaxed);
        loop {
            lane.ready_next().store(head, Ordering::Relaxed);
            match self.ready.compare_exchange_weak(
                head,
                lane_ptr,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        self.wake_consumer();
    }

    /// The producer's last act on `lane`: the consumer frees it once it is empty.
    pub(crate) fn orphan(&self, lane: LanePtr) {
        if lane.get().orphan() {
            self.push_ready(lane);
        }
    }

    /// Pushes `job` on the shared stack (flush markers; jobs of a thread with no lane).
    pub(crate) fn push_shared(&self, job: Job) {
        if self.shared.push(job) {
            self.wake_consumer();
        }
    }

    /// After a push the consumer must see: wakes it if it sleeps.
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

    /// Moves the lanes on the ready stack to the consumer's list.
    fn adopt(&self, care: &mut Vec<LanePtr>) {
        if self.ready.load(Ordering::Relaxed).is_null() {
            return;
        }
        let mut next = self.ready.swap(ptr::null_mut(), Ordering::Acquire);
        while let Some(lane) = NonNull::new(next) {
            let lane = LanePtr(lane);
            next = lane.get().ready_next().load(Ordering::Relaxed);
            care.push(lane);
        }
    }

    /// One pass (consumer only): every job pushed since the last pass, as one batch (see
    /// the module's docs for the order).
    pub(crate) fn take_all(&self) -> Batch {
        let shared = self.shared.take();
        let mut care = self.care.lock();
        self.adopt(&mut care);
        let mut chain = Chain::new();
        let mut orphans = false;
        for lane in care.iter() {
            if !lane.get().detach(&mut chain) && lane.get().is_orphaned() {
                orphans = true;
            }
        }
        if orphans {
            let _ = self.free_orphans(&mut care);
        }
        drop(care);
        chain.append(shared);
        chain.into_batch()
    }

    /// Frees the orphaned lanes of the consumer's list that are empty; true if it freed any.
    fn free_orphans(&self, care: &mut Vec<LanePtr>) -> bool {
        let before = care.len();
        care.retain(|&lane| {
            // Orphaned first (Acquire): then every push is visible to `is_idle`.
            if !(lane.get().is_orphaned() && lane.get().is_idle()) {
                return true;
            }
            let mut lanes = self.lanes.lock();
            if let Some(at) = lanes.list.iter().position(|(l, _)| *l == lane) {
                let (_, base) = lanes.list.swap_remove(at);
                lanes.retired += lane.get().pushed() - base;
            }
            drop(lanes);
            // SAFETY: orphaned (no producer), on no list any more, empty: ours to free. It
            // was leaked from a `Box` by `new_lane`.
            drop(unsafe { Box::from_raw(lane.0.as_ptr()) });
            false
        });
        care.len() != before
    }

    /// True if a pass would find work (consumer only).
    pub(crate) fn has_work(&self) -> bool {
        !self.shared.is_empty()
            || !self.ready.load(Ordering::Relaxed).is_null()
            || self.care.lock().iter().any(|lane| !lane.get().is_idle())
    }

    /// Sleeps until a producer hands work over, or `timeout` passes (consumer only).
    /// Returns at once if there is work, or if it freed a drained orphaned lane.
    pub(crate) fn sleep(&self, timeout: Duration) {
        let mut care = self.care.lock();
        self.adopt(&mut care);
        self.state.store(SLEEPING, Ordering::SeqCst);
        let mut given_up = Vec::new();
        care.retain(|&lane| {
            let keep = !(lane.get().is_idle() && lane.get().give_up_care());
            if !keep {
                given_up.push(lane);
            }
            keep
        });
        barrier::heavy();
        let mut work = !self.shared.is_empty() || !self.ready.load(Ordering::SeqCst).is_null();
        for lane in given_up {
            if !lane.get().is_idle() {
                work = true;
                // A push from before the barrier. Keep the lane, unless its producer saw it
                // out of care and is putting it on the ready stack.
                if lane.get().take_into_care() {
                    care.push(lane);
                }
            }
        }
        work |= self.free_orphans(&mut care);
        work |= care.iter().any(|lane| !lane.get().is_idle());
        drop(care);
        if work {
            self.state.store(RUNNING, Ordering::SeqCst);
            return;
        }
        let mut held = self.lock.lock();
        if self.state.load(Ordering::SeqCst) == SLEEPING {
            let _ = self.wake.wait_for(&mut held, timeout);
        }
        self.state.store(RUNNING, Ordering::SeqCst);
    }

    /// Pushes through every lane so far, minus what statistics do not count.
    pub(crate) fn lane_pushes(&self) -> u64 {
        let lanes = self.lanes.lock();
        let live: u64 = lanes
            .list
            .iter()
            .map(|(lane, base)| lane.get().pushed() - base)
            .sum();
        lanes.retired + live
    }

    /// How many lanes are registered (live, or orphaned and not yet freed).
    #[cfg(guard_loom)]
    pub(crate) fn lane_count(&self) -> usize {
        self.lanes.lock().list.len()
    }

    /// Takes the queue's locks for a `fork` (see `crate::fork`): no consumer is in a pass
    /// or between its check and its wait, no producer between its check and its notify, no
    /// thread registering a lane, when the process is copied.
    pub(crate) fn lock_for_fork(&self) -> QueueHeld<'_> {
        QueueHeld {
            queue: self,
            care: self.care.lock(),
            lanes: self.lanes.lock(),
            _wake: self.lock.lock(),
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // Only models drop a queue (the finalizer's is a static): free the lanes left.
        let lanes = std::mem::take(&mut self.lanes.lock().list);
        for (lane, _) in lanes {
            // SAFETY: the queue is going away, with every thread that used it.
            drop(unsafe { Box::from_raw(lane.0.as_ptr()) });
        }
    }
}

/// The queue's locks, held across a fork.
pub(crate) struct QueueHeld<'a> {
    queue: &'a Queue,
    care: MutexGuard<'a, Vec<LanePtr>>,
    lanes: MutexGuard<'a, Lanes>,
    _wake: MutexGuard<'a, ()>,
}

impl QueueHeld<'_> {
    /// In a forked child: forgets the parent's consumer, its pending jobs (on the shared
    /// stack and in every lane: the parent runs them; their memory is never walked, since a
    /// push racing the fork may have been copied half done) and its other threads' lanes,
    /// and keeps `own`, the forking thread's lane, for the child's pushes (counted from
    /// zero).
    pub(crate) fn forget_parent(mut self, own: Option<LanePtr>) {
        let q = self.queue;
        q.shared.forget();
        q.ready.store(ptr::null_mut(), Ordering::Relaxed);
        q.state.store(RUNNING, Ordering::Relaxed);
        self.care.clear();
        self.lanes.retired = 0;
        self.lanes.list.clear();
        if let Some(lane) = own {
            lane.get().forget_after_fork();
            self.lanes.list.push((lane, lane.get().taken()));
        }
        drop(self);
    }
}

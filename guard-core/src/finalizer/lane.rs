//! [`Lane`]: one producing thread's queue of jobs. Its thread pushes with plain stores (no
//! atomic read-modify-write, no fence once `membarrier` is registered); the consumer takes
//! what was pushed since its last look, oldest first.
//!
//! The chain is a LIFO list that only the producer extends: a push numbers the node
//! (`Node::seq`, 1, 2, ...), links it to the previous newest, and publishes it as the new
//! `head`, then the count `pushed`. The producer never touches a node again once pushed, so
//! the consumer may free a node as soon as it has run. The consumer keeps `taken`, how many
//! it has taken: when `pushed` is past it, it reads `head` (whose number is at least
//! `pushed`, so it is not taken yet and still live), walks `head.seq - taken` nodes down the
//! links (never the one below, which may be freed), reverses them into push order, and
//! moves `taken` up. Node numbers, not addresses, mark the boundary, so a node's memory
//! coming back from the pool as a new node cannot fool it (no ABA).
//!
//! **Care.** A lane is *in care* when the consumer has it on its list (or on its way there,
//! on the queue's ready stack). A push reads the `IN_CARE` bit; only when it is clear does
//! the producer put the lane in care, with a read-modify-write (`take_into_care`), push it
//! on the ready stack and wake the consumer if it sleeps (`queue.rs`). The consumer gives a
//! lane up only before it sleeps, after finding it empty: it clears the bit, then issues
//! `barrier::heavy()` and looks at the lane again; the producer's push is `store pushed;
//! barrier::light(); load care`. One of the two sees the other's store, so a job is never
//! left in a lane out of care. Whenever both sides try to take the lane back into care, the
//! read-modify-writes on the one word decide: exactly one of them gets it, so a lane is on
//! the ready stack at most once.
//!
//! **Drained.** Out of care means drained only when read under the consumer's `care` lock
//! (`Queue::is_drained`): every clearing of the bit happens under that lock, in a sleep that
//! then finds the lane empty (else it takes it back before unlocking), after the consumer ran
//! every job it took. Read without the lock, the bit may be clear between a sleep's give-up
//! and its take-back of a lane pushed to in between.
//!
//! **Exit.** The producer's last act is `orphan`: `ORPHANED` is set with the same
//! read-modify-write that takes the lane into care if it was out. The consumer frees an
//! orphaned lane once it is empty.

use super::batch::Chain;
use super::job::Node;
use crate::barrier;
use crate::loom::{AtomicPtr, AtomicU8, AtomicU64, Ordering};
use crate::padded::CachePadded;
use std::ptr::{self, NonNull};

/// The consumer has the lane (on its list, or on the ready stack).
const IN_CARE: u8 = 1;
/// The lane's thread has exited: no push will come.
const ORPHANED: u8 = 2;

/// One producing thread's lane.
pub(crate) struct Lane {
    producer: CachePadded<ProducerSide>,
    consumer: CachePadded<ConsumerSide>,
}

/// What every push writes (and the care bit it reads): one line.
struct ProducerSide {
    head: AtomicPtr<Node>,
    pushed: AtomicU64,
    care: AtomicU8,
}

/// The consumer's progress, and the link of the ready stack.
struct ConsumerSide {
    /// Nodes taken so far (written by the consumer only).
    taken: AtomicU64,
    /// The next lane on the queue's ready stack (written by whoever puts it there).
    pub(super) ready_next: AtomicPtr<Lane>,
}

impl Lane {
    pub(super) fn new() -> Self {
        Lane {
            producer: CachePadded(ProducerSide {
                head: AtomicPtr::new(ptr::null_mut()),
                pushed: AtomicU64::new(0),
                care: AtomicU8::new(0),
            }),
            consumer: CachePadded(ConsumerSide {
                taken: AtomicU64::new(0),
                ready_next: AtomicPtr::new(ptr::null_mut()),
            }),
        }
    }

    /// The number the next push will give (producer only).
    #[inline]
    pub(super) fn next_seq(&self) -> u64 {
        self.producer.pushed.load(Ordering::Relaxed) + 1
    }

    /// Pushes `node` (producer only). True if the lane is out of care: the caller must
    /// then call [`take_into_care`](Self::take_into_care) and, if that says so, hand the
    /// lane to the consumer.
    #[inline]
    pub(super) fn push(&self, node: NonNull<Node>) -> bool {
        let p = &*self.producer;
        let n = p.pushed.load(Ordering::Relaxed) + 1;
        // SAFETY: we own `node` until the store of `head` publishes it.
        let r = unsafe { node.as_ref() };
        r.seq.store(n, Ordering::Relaxed);
        r.next
            .store(p.head.load(Ordering::Relaxed), Ordering::Relaxed);
        p.head.store(node.as_ptr(), Ordering::Release);
        p.pushed.store(n, Ordering::Release);
        barrier::light();
        p.care.load(Ordering::Relaxed) & IN_CARE == 0
    }

    /// True if the lane is in the consumer's care, as far as this thread can see (a plain
    /// load: a hint, settled by [`Queue::is_drained`](super::queue::Queue::is_drained)).
    #[inline]
    pub(super) fn is_in_care(&self) -> bool {
        self.producer.care.load(Ordering::Relaxed) & IN_CARE != 0
    }

    /// Sets `IN_CARE`; true if it was clear, and so the caller (producer or consumer) now
    /// has to put the lane in the consumer's care.
    pub(super) fn take_into_care(&self) -> bool {
        self.producer.care.fetch_or(IN_CARE, Ordering::AcqRel) & IN_CARE == 0
    }

    /// The producer's last act. True if the lane was out of care: the caller must hand it
    /// to the consumer (who frees it once empty), and touch it no more.
    pub(super) fn orphan(&self) -> bool {
        self.producer
            .care
            .fetch_or(IN_CARE | ORPHANED, Ordering::AcqRel)
            & IN_CARE
            == 0
    }

    /// Consumer: gives the lane up (before sleeping, once it is empty). False if it is
    /// orphaned: the consumer keeps it, to free it.
    pub(super) fn give_up_care(&self) -> bool {
        self.producer
            .care
            .compare_exchange(IN_CARE, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// True if the lane's thread has exited (every push it made is visible after this).
    pub(super) fn is_orphaned(&self) -> bool {
        self.producer.care.load(Ordering::Acquire) & ORPHANED != 0
    }

    /// True if the consumer has taken every job pushed (as far as it can see). `taken` may
    /// be ahead of `pushed`: a pass can take a node whose push has published `head` but not
    /// yet `pushed`.
    pub(super) fn is_idle(&self) -> bool {
        self.producer.pushed.load(Ordering::Acquire) <= self.consumer.taken.load(Ordering::Relaxed)
    }

    /// Pushes so far (a statistic).
    pub(super) fn pushed(&self) -> u64 {
        self.producer.pushed.load(Ordering::Relaxed)
    }

    /// Jobs taken so far by the consumer.
    pub(super) fn taken(&self) -> u64 {
        self.consumer.taken.load(Ordering::Relaxed)
    }

    pub(super) fn ready_next(&self) -> &AtomicPtr<Lane> {
        &self.consumer.ready_next
    }

    /// In a forked child, for the forking thread's lane: out of care (the child's consumer
    /// starts with no lanes), and every job pushed so far counted as taken (they are the
    /// parent's to run; their nodes are never walked here).
    pub(super) fn forget_after_fork(&self) {
        self.producer.care.store(0, Ordering::Relaxed);
        let pushed = self.producer.pushed.load(Ordering::Relaxed);
        self.consumer.taken.store(pushed, Ordering::Relaxed);
    }

    /// Consumer: appends every job pushed since the last call, oldest first, to `chain`.
    /// True if there was any.
    pub(super) fn detach(&self, chain: &mut Chain) -> bool {
        let taken = self.consumer.taken.load(Ordering::Relaxed);
        if self.producer.pushed.load(Ordering::Acquire) <= taken {
            return false;
        }
        let head = self.producer.head.load(Ordering::Acquire);
        let Some(newest) = NonNull::new(head) else {
            return false;
        };
        // SAFETY: `head` was published after `pushed` passed `taken`, so its number is past
        // `taken`: the consumer has not taken it, and it is live.
        let last = unsafe { newest.as_ref() }.seq.load(Ordering::Relaxed);
        self.consumer.taken.store(last, Ordering::Relaxed);
        let mut reversed: *mut Node = ptr::null_mut();
        let mut node = head;
        for _ in taken..last {
            // SAFETY: the `last - taken` nodes from `head` down are the ones not taken yet,
            // each published (Release) before `head` was, and now this consumer's alone; the
            // producer never touches a pushed node again.
            let n = unsafe { &*node };
            let below = n.next.load(Ordering::Relaxed);
            n.next.store(reversed, Ordering::Relaxed);
            reversed = node;
            node = below;
        }
        if let Some(oldest) = NonNull::new(reversed) {
            // SAFETY: the run `oldest ..= newest` is ours (taken above).
            unsafe { chain.append_run(oldest, newest, last - taken) };
        }
        true
    }
}

//! [`Stack`]: the queue's shared, multi-producer stack of jobs, for what goes through no
//! lane: flush markers, and the jobs of a thread whose lane is gone (dropped by another
//! thread-local's destructor). Rare, so one CAS per push is fine here.

use super::batch::Chain;
use super::job::{Job, Node};
use crate::loom::{AtomicPtr, Ordering};
use std::ptr::{self, NonNull};

/// A Treiber stack of [`Node`]s: producers CAS the head, the consumer swaps it whole.
pub(super) struct Stack {
    head: AtomicPtr<Node>,
}

impl Stack {
    pub(super) fn new() -> Self {
        Stack {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes `job`; true if the stack was empty (the caller then checks the consumer's
    /// sleep, after a SeqCst fence).
    pub(super) fn push(&self, job: Job) -> bool {
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
                Ok(_) => return head.is_null(),
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes every job, oldest first.
    pub(super) fn take(&self) -> Chain {
        let mut chain = Chain::new();
        if self.head.load(Ordering::Relaxed).is_null() {
            return chain;
        }
        let mut node = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        let Some(last) = NonNull::new(node) else {
            return chain;
        };
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
            reversed = this.as_ptr();
        }
        if let Some(first) = NonNull::new(reversed) {
            // SAFETY: the run `first ..= last` was just taken off the stack; we own it.
            unsafe { chain.append_run(first, last, len) };
        }
        chain
    }

    /// True if nothing is on the stack (a snapshot).
    pub(super) fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst).is_null()
    }

    /// In a forked child: forgets the parent's jobs (their memory is never walked, since a
    /// push racing the fork may have been copied half done).
    pub(super) fn forget(&self) {
        self.head.store(ptr::null_mut(), Ordering::Relaxed);
    }
}

//! [`Batch`]: the jobs one pass of the consumer took, oldest first, and [`Chain`], which
//! builds one from the lanes' and the shared stack's runs.

use super::job::{Job, Node};
use crate::loom::Ordering;
use std::ptr::{self, NonNull};

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

/// A batch being built: runs of nodes (each oldest first, linked through `Node::next`,
/// its last node's link null) appended one after another. Owns its nodes.
pub(super) struct Chain {
    head: *mut Node,
    tail: *mut Node,
    len: u64,
}

impl Chain {
    pub(super) fn new() -> Self {
        Chain {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        }
    }

    /// Appends the run `first ..= last` (linked, `last`'s link null) of `len` releases.
    ///
    /// # Safety
    ///
    /// The caller owns every node of the run and gives them up.
    pub(super) unsafe fn append_run(
        &mut self,
        first: NonNull<Node>,
        last: NonNull<Node>,
        len: u64,
    ) {
        match NonNull::new(self.tail) {
            // SAFETY: `tail` is the last node of this chain, which owns it.
            Some(tail) => unsafe { tail.as_ref() }
                .next
                .store(first.as_ptr(), Ordering::Relaxed),
            None => self.head = first.as_ptr(),
        }
        self.tail = last.as_ptr();
        self.len += len;
    }

    /// Appends `other` after this chain's nodes.
    pub(super) fn append(&mut self, mut other: Chain) {
        if let (Some(first), Some(last)) = (NonNull::new(other.head), NonNull::new(other.tail)) {
            // SAFETY: `other` owns its run and gives it up (it is emptied below).
            unsafe { self.append_run(first, last, other.len) };
        }
        other.head = ptr::null_mut();
        other.tail = ptr::null_mut();
    }

    /// The batch of every node appended, oldest first.
    pub(super) fn into_batch(mut self) -> Batch {
        let batch = Batch {
            head: self.head,
            len: self.len,
        };
        self.head = ptr::null_mut();
        self.tail = ptr::null_mut();
        batch
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        // Runs what it holds, as a batch would (only on an unwinding consumer).
        drop(Batch {
            head: std::mem::replace(&mut self.head, ptr::null_mut()),
            len: 0,
        });
    }
}

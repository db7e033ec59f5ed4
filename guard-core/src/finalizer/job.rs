//! [`Job`]: one unit of the finalizer's work, an allocation headed by a [`Node`] whose
//! [`VTable`] knows how to run it (release what it holds) and free it.

use crate::error::{BoxError, Panicked};
use crate::loom::{AtomicPtr, AtomicU64};
use std::ptr::{self, NonNull};

/// The header every queued job starts with (`#[repr(C)]`, first field of its allocation).
#[repr(C)]
pub(crate) struct Node {
    pub(super) next: AtomicPtr<Node>,
    pub(super) vtable: &'static VTable,
    /// Its number in its lane, set by the push (`lane.rs`): the consumer knows from it how
    /// many nodes a lane's chain holds that it has not taken yet.
    pub(super) seq: AtomicU64,
}

impl Node {
    pub(crate) fn new(vtable: &'static VTable) -> Self {
        Node {
            next: AtomicPtr::new(ptr::null_mut()),
            vtable,
            seq: AtomicU64::new(0),
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
    /// A report of an inline release's failure (`late.rs`): the outcome of a release of
    /// the vtable's type, which ran on the dropping thread.
    Reported(&'static VTable, Box<RunOutcome>),
}

/// An owned, unlinked job: a node whose vtable may consume it exactly once.
///
/// # Safety
///
/// `Job` is `Send`, whatever its allocation holds: it runs on a finalizer worker (or, after
/// a stuck worker, on its replacement), never on the thread that made it. So whoever makes
/// one with [`Job::from_raw`] promises that the allocation's contents may move to another
/// thread and be released there, at any later time (`Send + 'static`); the queue, the
/// shift and the workers rely on that promise and check nothing.
pub(crate) struct Job {
    node: NonNull<Node>,
}

impl Job {
    /// Takes ownership of `node`.
    ///
    /// # Safety
    ///
    /// The caller upholds, and gives up the node with:
    ///
    /// - `node` heads a live allocation of the type its vtable was made for, owned by the
    ///   caller, and is in no queue;
    /// - everything that allocation holds may be sent to another thread and released there,
    ///   later (`Send + 'static`): the job runs on a finalizer worker, not on the caller's
    ///   thread, and `Job` is `Send` on the strength of this promise. Counted handles keep
    ///   it because a [`CountedResource`](crate::CountedResource) is `Send + 'static`;
    ///   flush markers hold only an `Arc` of `Sync` state.
    pub(crate) unsafe fn from_raw(node: NonNull<Node>) -> Self {
        Job { node }
    }

    pub(super) fn into_raw(self) -> NonNull<Node> {
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

// SAFETY: a job owns its node outright, and every job was made by `Job::from_raw`, whose
// contract requires what the allocation holds to be `Send`.
unsafe impl Send for Job {}

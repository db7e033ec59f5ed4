//! `Counted<T>`: an `Arc`-like handle whose last drop moves the value to the finalizer.

use super::pool;
use crate::census::{self, Origin, SiteCount};
use crate::error::Panicked;
use crate::finalizer::{self, Job, Node, RunOutcome, VTable};
use crate::loom::{AtomicUsize, Ordering, fence};
use crate::panic::drop_payload;
use crate::resource::{CountedResource, Created, Kind, Resource};
use std::alloc::Layout;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

/// A shared handle to a counted resource. Cloning is cheap (one atomic increment); when the
/// last handle is dropped, the value is released on the finalizer thread, never on the
/// dropping thread (F1), so the release cannot deadlock against a lock that thread holds.
/// That holds for the whole life of the process: ending a [`Runtime`](crate::Runtime)
/// guard changes nothing. Only once `main` has returned does a release run inline (see
/// [`runtime`](crate::runtime)), or for a type that promises its release takes no lock a
/// user thread may hold, runs no user code ([`CountedResource::RELEASE_TAKES_NO_LOCK`],
/// guard-os's fds) and, for this value, cannot wait
/// ([`CountedResource::releases_without_waiting`]: not a file on FUSE or NFS, not a
/// connected socket): a last drop that finds nothing of its thread pending releases it on
/// the spot, as `std` does, instead of waking the finalizer; behind pending releases of
/// its thread it is queued, in order. Dropping the last handle never waits for a release
/// (F5).
///
/// # Signal handlers
///
/// Do not drop the last handle inside a signal handler, nor call [`Counted::new`] there.
/// Neither is async-signal-safe: the last drop pushes the value onto its thread's own
/// queue with plain loads and stores (a handler that interrupts its own thread's drop
/// between them links its node over the interrupted one's: a release is lost, and `flush`
/// and `stats` go wrong), sets that queue up under a lock on the thread's first drop, may
/// take the finalizer's wake-up lock, and once the process is exiting (or, for a type that
/// releases inline, when the finalizer is idle for the thread) runs the release itself; `new` allocates and may spawn the finalizer. A lock taken by the interrupted
/// thread deadlocks the handler. Dropping a handle that is not the last (one atomic
/// decrement) is safe, so a handler may drop a clone as long as another handle outlives
/// it; to release from a handler, hand the value to a normal thread instead (a self-pipe,
/// or an atomic flag it polls).
///
/// # Fork
///
/// A child of `fork()` without exec may use counted values: those it drops are released by
/// a finalizer of its own (started on first use), and [`finalizer::flush`] waits for them.
/// Releases queued or running in the parent at the fork stay the parent's: the child never
/// runs them, so its copies of those values (and of values other parent threads held) are
/// never released in the child. Fork from a thread that runs none of guard's callbacks (not
/// from a release or a `for_each` callback), or exec or `_exit` at once in the child.
///
/// Dropping the last handle allocates nothing (except, for a release run on the spot that
/// fails, the report carried to the finalizer) and never waits for a release (invariant
/// F5). Pending releases are bounded ([`finalizer::set_pending_bound`]): a drop that
/// meets a full queue waits for room while the finalizer makes progress, and goes past the
/// bound (reported) when it makes none, so holding a lock that releases need never hangs.
///
/// Need the release now (to rebind a port, say)? [`try_release`](Self::try_release) releases
/// here if this is the last handle and returns the error; or drop the handle and call
/// [`finalizer::flush`].
///
/// # Examples
///
/// ```
/// use guard_core::{Counted, CountedResource, Resource};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static RELEASED: AtomicUsize = AtomicUsize::new(0);
///
/// struct Handle(u32);
/// impl Resource for Handle {
///     type Error = std::convert::Infallible;
///     fn release(self) -> Result<(), Self::Error> {
///         RELEASED.fetch_add(1, Ordering::SeqCst);
///         Ok(())
///     }
/// }
/// impl CountedResource for Handle {}
///
/// let a = Counted::new(Handle(7));
/// let b = a.clone();
/// assert_eq!(b.0, 7);
/// drop(a);
/// drop(b); // the last handle: released on the finalizer thread
/// guard_core::finalizer::flush().unwrap();
/// assert_eq!(RELEASED.load(Ordering::SeqCst), 1);
/// ```
pub struct Counted<T: CountedResource> {
    inner: NonNull<CountedInner<T>>,
    _owns: PhantomData<CountedInner<T>>,
}

#[repr(C)]
struct CountedInner<T: CountedResource> {
    /// Must stay first: the queue sees only this header.
    node: Node,
    strong: AtomicUsize,
    count: &'static SiteCount,
    value: ManuallyDrop<T>,
}

/// More handles than this and the count could overflow (the `Arc` limit).
const MAX_STRONG: usize = isize::MAX as usize;

// SAFETY: handles on several threads share `&T` (needs `Sync`); the last one, on any
// thread, sends `T` to the finalizer (needs `Send`, which `CountedResource` implies).
unsafe impl<T: CountedResource + Sync> Send for Counted<T> {}
// SAFETY: `&Counted<T>` only gives `&T` and clones, as above.
unsafe impl<T: CountedResource + Sync> Sync for Counted<T> {}

impl<T: CountedResource> Counted<T> {
    const VTABLE: VTable = VTable {
        run: release_job::<T>,
        type_name: std::any::type_name::<T>,
        is_marker: false,
    };

    /// Wraps `value` in its first handle and registers it as live (kind, type, this call's
    /// site). Starts the finalizer thread the first time.
    #[track_caller]
    pub fn new(value: T) -> Self {
        let count = census::enter(Origin::here::<T>(Kind::Counted));
        finalizer::ensure_started();
        let inner = pool::alloc(Layout::new::<CountedInner<T>>()).cast::<CountedInner<T>>();
        // SAFETY: `alloc` returned memory for an `CountedInner<T>` that nothing else uses.
        unsafe {
            inner.as_ptr().write(CountedInner {
                node: Node::new(&Self::VTABLE),
                strong: AtomicUsize::new(1),
                count,
                value: ManuallyDrop::new(value),
            });
        }
        Counted {
            inner,
            _owns: PhantomData,
        }
    }

    fn inner(&self) -> &CountedInner<T> {
        // SAFETY: the allocation lives while any handle does, and `self` is one.
        unsafe { self.inner.as_ref() }
    }

    /// The number of handles to this value now (a snapshot).
    pub fn handle_count(this: &Self) -> usize {
        this.inner().strong.load(Ordering::Acquire)
    }

    /// True if both handles share one value.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.inner == b.inner
    }

    /// Takes the value back if this is the last handle (it leaves the registry, and the
    /// caller becomes responsible for it); otherwise returns the handle.
    ///
    /// # Errors
    ///
    /// The handle itself, if other handles exist.
    pub fn into_inner(this: Self) -> Result<T, Self> {
        if this
            .inner()
            .strong
            .compare_exchange(1, 0, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(this);
        }
        let this = ManuallyDrop::new(this);
        // SAFETY: the count went 1 -> 0 under our CAS, so this was the last handle and no
        // other can appear: we own the allocation, made by `pool::alloc` in `new`.
        let inner = unsafe { take(this.inner) };
        inner.count.leave();
        Ok(ManuallyDrop::into_inner(inner.value))
    }
}

/// The finalizer's job for one `CountedInner<T>`: release the value, free the allocation.
///
/// # Safety
///
/// `node` heads an `CountedInner<T>` from `Counted::new` whose count reached zero in `drop`.
unsafe fn release_job<T: CountedResource>(node: NonNull<Node>) -> RunOutcome {
    // SAFETY: per the contract, we own the allocation; `CountedInner` is `#[repr(C)]` with the
    // node first, so the cast recovers the original pointer.
    let CountedInner { count, value, .. } = unsafe { take(node.cast::<CountedInner<T>>()) };
    let outcome = run_release(ManuallyDrop::into_inner(value));
    count.leave();
    outcome
}

/// Moves the `CountedInner<T>` out of its allocation and gives the memory back to the pool.
///
/// # Safety
///
/// `inner` is a live `CountedInner<T>` from `Counted::new` that the caller owns (the count is 0).
unsafe fn take<T: CountedResource>(inner: NonNull<CountedInner<T>>) -> CountedInner<T> {
    // SAFETY: the caller owns the initialised value; it is read exactly once.
    let value = unsafe { inner.as_ptr().read() };
    // SAFETY: made by `pool::alloc` with this layout; nothing refers to it any more.
    unsafe { pool::free(inner.cast(), Layout::new::<CountedInner<T>>()) };
    value
}

/// Releases `value`, turning a panic into an outcome (its payload dropped under a second
/// `catch_unwind`, since a payload's own `Drop` may panic).
fn run_release<T: Resource>(value: T) -> RunOutcome {
    match catch_unwind(AssertUnwindSafe(|| value.release())) {
        Ok(Ok(())) => RunOutcome::Released,
        Ok(Err(e)) => RunOutcome::Failed(Box::new(e)),
        Err(payload) => {
            let panicked = Panicked::from_payload(&*payload);
            drop_payload(payload);
            RunOutcome::Panicked(panicked)
        }
    }
}

impl<T: CountedResource> Clone for Counted<T> {
    fn clone(&self) -> Self {
        let old = self.inner().strong.fetch_add(1, Ordering::Relaxed);
        if old > MAX_STRONG {
            // Billions of leaked handles: wrapping would free a value still in use.
            std::process::abort();
        }
        Counted {
            inner: self.inner,
            _owns: PhantomData,
        }
    }
}

impl<T: CountedResource> Drop for Counted<T> {
    fn drop(&mut self) {
        let strong = &self.inner().strong;
        // The common case, a value with one handle, needs no read-modify-write: with the
        // count at 1 this handle is the only one, and no other can appear (cloning needs a
        // handle, and ours is being dropped), so nobody else touches the count again. The
        // Acquire load synchronises with every earlier handle's Release decrement.
        if strong.load(Ordering::Acquire) != 1 {
            if strong.fetch_sub(1, Ordering::Release) != 1 {
                return;
            }
            // Synchronise with every other handle's last use of the value.
            fence(Ordering::Acquire);
        }
        // Asked while this handle still owns the value: it may run on this thread only if
        // its release takes no lock and, for this value, cannot wait (F5).
        let here = T::RELEASE_TAKES_NO_LOCK && self.inner().value.releases_without_waiting();
        // SAFETY: this was the last handle: this thread owns the allocation, which heads with
        // its node and carries the matching vtable; ownership passes to the job. The value
        // is a `CountedResource`, hence `Send + 'static`, and the rest of the allocation
        // (count, census pointer) is `Send` too.
        let job = unsafe { Job::from_raw(self.inner.cast::<Node>()) };
        if here {
            finalizer::enqueue_or_release(job);
        } else {
            finalizer::enqueue(job);
        }
    }
}

impl<T: CountedResource> Deref for Counted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

/// A handle is itself a resource: releasing it drops it, which releases the value on the
/// finalizer if this was the last handle. So a derived type can mark a `Counted` field
/// `#[resource]`.
impl<T: CountedResource> Resource for Counted<T> {
    type Error = std::convert::Infallible;

    fn release(self) -> Result<(), Self::Error> {
        drop(self);
        Ok(())
    }

    /// The value's own creation site if it knows one, else where [`Counted::new`] was
    /// called.
    fn created(&self) -> Option<Created> {
        (**self)
            .created()
            .or_else(|| Some(Created::new(self.inner().count.origin().site(), "counted")))
    }
}

/// A handle can be part of a counted resource when it can be sent to the finalizer thread,
/// that is when the value is `Sync` (as for `Arc`).
impl<T: CountedResource + Sync> CountedResource for Counted<T> {}

impl<T: CountedResource + fmt::Debug> fmt::Debug for Counted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Counted").field(&**self).finish()
    }
}

impl<T: CountedResource> AsRef<T> for Counted<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

//! [`scope`] and [`Scope`]: where resources with an async release are entered and, at the
//! end, released.

use super::guard::Guard;
use super::release::AsyncRelease;
use super::releases::Releases;
use super::table::Table;
use guard_core::census::{Live, Origin};
use guard_core::{Kind, ScopeError};
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::Poll;

/// Runs the async closure `body` with a [`Scope`] in which resources can be entered, then
/// releases every resource still in the scope, newest first, each awaited to its end, and
/// returns the body's value. A guard dropped while the body runs starts its release at
/// once; the scope's future runs it beside the body, and waits for it before its own.
///
/// If the returned future is dropped before it ends (cancelled), the releases it has not
/// finished still run: see [the module docs](mod@crate::scope#cancellation).
///
/// # Errors
///
/// If the body returned an error, or any release failed, the [`ScopeError`] carries the
/// body's error (if any) and every release failure, each with its resource's type name.
///
/// # Panics
///
/// If the body panics, every resource is released first, then the panic resumes. If a
/// release panics, the other releases still run, then the first such panic resumes. Only
/// one panic can resume; whatever it cannot carry (the body's error, release errors, other
/// release panics) goes to the [event hook](guard_core::event::set_hook), once each.
///
/// # Examples
///
/// ```
/// use guard_tokio::AsyncRelease;
/// use std::sync::{Arc, Mutex};
///
/// struct Step(&'static str, Arc<Mutex<Vec<&'static str>>>);
/// impl AsyncRelease for Step {
///     type Error = std::convert::Infallible;
///     async fn release_async(self) -> Result<(), Self::Error> {
///         tokio::task::yield_now().await; // a release may await
///         self.1.lock().unwrap().push(self.0);
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let n = guard_tokio::scope(async |s| {
///     let _a = s.enter(Step("a", log.clone()));
///     let _b = s.enter(Step("b", log.clone()));
///     tokio::task::yield_now().await;
///     Ok::<_, std::convert::Infallible>(2)
/// })
/// .await
/// .unwrap();
/// assert_eq!(n, 2);
/// assert_eq!(*log.lock().unwrap(), ["b", "a"]); // newest first
/// # });
/// ```
///
/// # Lifetimes
///
/// A guard borrows the scope, so it cannot outlive the body, not even in a task the body
/// spawns (which must be `'static`):
///
/// ```compile_fail,E0521
/// # use guard_tokio::AsyncRelease;
/// # struct R;
/// # impl AsyncRelease for R { type Error = std::convert::Infallible; async fn release_async(self) -> Result<(), Self::Error> { Ok(()) } }
/// # async fn run() {
/// let _ = guard_tokio::scope(async |s| {
///     let r = s.enter(R);
///     tokio::spawn(async move { drop(r) }); // error: borrowed data escapes the closure
///     Ok::<_, std::convert::Infallible>(())
/// })
/// .await;
/// # }
/// ```
///
/// Nor can the body store it outside or return it (the compiler's "lifetime may not live
/// long enough", which has no error code).
pub async fn scope<F, T, E>(body: F) -> Result<T, ScopeError<E>>
where
    F: for<'scope> AsyncFnOnce(&'scope Scope) -> Result<T, E>,
    E: fmt::Debug,
{
    let scope = Scope {
        table: Table::new(),
    };
    // Releases that guards dropped mid-body started, run beside the body; then the rest.
    let mut releases = Releases::new(VecDeque::new());
    let outcome = {
        // Dropped at the end of this block, or first if this future is dropped here (it is
        // declared after `scope`): either way no guard is left when the scope drains.
        let mut body = pin!(body(&scope));
        poll_fn(|cx| {
            let polled = catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx)));
            releases.extend(scope.table.take_dropped());
            // Their progress does not hold the body up; the end waits for them.
            let _ = releases.poll_run(cx);
            match polled {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
                Err(payload) => Poll::Ready(Err(payload)),
            }
        })
        .await
    };
    // SAFETY: the body's future is gone (the block above), and with it every guard.
    releases.extend(unsafe { scope.table.drain() });
    releases.run().await;
    releases.finish().resolve(outcome)
}

/// A scope to enter resources with an async release in, borrowed by the body given to
/// [`scope`]. It is `Sync`: the body's future may hold it across awaits and still be
/// spawned on a multi-thread runtime.
///
/// # Examples
///
/// ```
/// # struct Conn;
/// # impl guard_tokio::AsyncRelease for Conn { type Error = std::convert::Infallible; async fn release_async(self) -> Result<(), Self::Error> { Ok(()) } }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let task = tokio::spawn(guard_tokio::scope(async |s| {
///     let _conn = s.enter(Conn);
///     tokio::task::yield_now().await; // the guard is held across an await
///     Ok::<_, std::convert::Infallible>(format!("{s:?}"))
/// }));
/// assert_eq!(task.await.unwrap().unwrap(), "Scope { held: 1 }");
/// # });
/// ```
///
/// The body gets `&'scope Scope` for any `'scope` (a higher-ranked bound), and guards
/// borrow it: no guard can leave the body. `Scope` itself has no lifetime (unlike
/// `std::thread::Scope`): entered resources are `'static`, the body may borrow what it
/// likes as any future does, and a bound on one lifetime is what lets the compiler prove
/// the scope's future `Send` for `tokio::spawn`.
pub struct Scope {
    /// Dropped unclosed (the body's future dropped first), it hands its resources to the
    /// cleanup: `Scope` itself has no `Drop`, so the borrow of it that guards hold may end
    /// before it goes, as in `std::thread::scope`.
    table: Table,
}

impl Scope {
    /// Moves `resource` into the scope and returns a guard to use it through. The resource
    /// is released when the guard is dropped or [released](Guard::release), or at the end
    /// of the scope if the guard was forgotten, and it is counted as live in guard's [report](guard_core::report()) (by type and this
    /// call's site) until its release ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// struct Buf(Vec<u8>);
    /// impl guard_tokio::AsyncRelease for Buf {
    ///     type Error = std::convert::Infallible;
    ///     async fn release_async(self) -> Result<(), Self::Error> { Ok(()) }
    /// }
    ///
    /// guard_tokio::scope(async |s| {
    ///     let mut buf = s.enter(Buf(Vec::new()));
    ///     buf.0.push(1); // Deref/DerefMut reach the resource
    ///     assert_eq!(buf.0, [1]);
    ///     Ok::<_, std::convert::Infallible>(())
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn enter<T: AsyncRelease>(&self, resource: T) -> Guard<'_, T> {
        let live = Live::new(Origin::here::<T>(Kind::Unique));
        let (key, slot) = self.table.insert(resource, live);
        Guard::new(&self.table, key, slot)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.table.fmt(f)
    }
}

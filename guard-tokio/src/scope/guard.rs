//! [`Guard`]: the borrowed handle to a resource entered in an async [`Scope`](super::Scope).

use super::release::AsyncRelease;
use super::releases::{Job, Releases};
use super::table::{Slot, Table};
use guard_core::BoxError;
use guard_core::census::Live;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Access to a resource entered in an async [`Scope`](super::Scope), borrowed from the
/// scope.
///
/// The resource stays in the scope: dropping or forgetting the guard leaves it there, and
/// the scope releases it at its end (a drop cannot await a release).
/// [`release`](Self::release) releases it now and returns its error;
/// [`into_inner`](Self::into_inner) takes it back. A guard cannot outlive its scope; it is
/// `Send` (the body's future may move between threads).
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// struct Conn(&'static str);
/// impl guard_tokio::AsyncRelease for Conn {
///     type Error = std::io::Error;
///     async fn release_async(self) -> std::io::Result<()> {
///         Err(std::io::Error::other(format!("{}: peer reset", self.0)))
///     }
/// }
///
/// guard_tokio::scope(async |s| {
///     let conn = s.enter(Conn("db"));
///     assert_eq!(conn.0, "db");
///     let err = conn.release().await.unwrap_err(); // the error is ours to handle
///     assert_eq!(err.to_string(), "db: peer reset");
///     Ok::<_, std::io::Error>(())
/// })
/// .await
/// .unwrap(); // nothing left to release, so the scope succeeds
/// # });
/// ```
///
/// A guard borrows its scope, so it cannot move to a thread that may outlive it:
///
/// ```compile_fail,E0521
/// # struct Conn;
/// # impl guard_tokio::AsyncRelease for Conn { type Error = std::convert::Infallible; async fn release_async(self) -> Result<(), Self::Error> { Ok(()) } }
/// # async fn run() {
/// let _ = guard_tokio::scope(async |s| {
///     let conn = s.enter(Conn);
///     std::thread::spawn(move || drop(conn)); // error: borrowed data escapes the closure
///     Ok::<_, std::convert::Infallible>(())
/// })
/// .await;
/// # }
/// ```
#[must_use = "dropping a guard at once releases its resource at once"]
pub struct Guard<'scope, T: AsyncRelease> {
    table: &'scope Table,
    key: u64,
    /// `Some` until the guard takes its resource out.
    slot: Option<NonNull<Slot<T>>>,
    /// Invariant in `T`, as guard-core's guard.
    _invariant: PhantomData<fn(T) -> T>,
}

// SAFETY: the guard is the only user of its slot's value while it lives (the scope touches
// it only once the body's future, and so every guard, is gone); moving it to another thread
// moves access to a `T`, which is `Send` (`AsyncRelease: Send`).
unsafe impl<T: AsyncRelease> Send for Guard<'_, T> {}
// SAFETY: `&Guard` gives only `&T`.
unsafe impl<T: AsyncRelease + Sync> Sync for Guard<'_, T> {}

impl<'scope, T: AsyncRelease> Guard<'scope, T> {
    pub(super) fn new(table: &'scope Table, key: u64, slot: NonNull<Slot<T>>) -> Self {
        Guard {
            table,
            key,
            slot: Some(slot),
            _invariant: PhantomData,
        }
    }

    fn slot(&self) -> NonNull<Slot<T>> {
        match self.slot {
            Some(slot) => slot,
            None => unreachable!("a guard is used only until it is consumed"),
        }
    }

    /// Takes the resource out of the scope, with its census count.
    fn take(&mut self) -> Option<(T, Live)> {
        let slot = self.slot.take()?;
        // SAFETY: `key` and `slot` came from one `insert` into `table`, and the guard takes
        // them once (`self.slot` is now `None`); no reference into the slot is alive
        // (`&mut self` excludes those `Deref` gives).
        Some(unsafe { self.table.take(self.key, slot) })
    }

    /// Takes the resource out of the scope, consuming the guard.
    fn into_value(mut self) -> T {
        match self.take() {
            Some((value, _live)) => value,
            None => unreachable!("a guard's resource is present until the guard is consumed"),
        }
    }

    /// Releases the resource now and returns its error, instead of recording it in the
    /// scope's result. If this future is dropped while the release runs, the release
    /// goes on in a cleanup task, as a cancelled scope's do, its error to the event hook.
    ///
    /// # Errors
    ///
    /// The resource's own release error.
    pub fn release(self) -> impl Future<Output = Result<(), T::Error>> + Send + 'static {
        let value = self.into_value();
        EarlyRelease::<T> {
            future: Some(Box::pin(value.release_async())),
        }
    }

    /// Takes the resource back out of the scope: the scope will not release it, and the
    /// caller becomes responsible for it.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # struct Token(u32);
    /// # impl guard_tokio::AsyncRelease for Token { type Error = std::convert::Infallible; async fn release_async(self) -> Result<(), Self::Error> { Ok(()) } }
    /// let token = guard_tokio::scope(async |s| {
    ///     let g = s.enter(Token(5));
    ///     Ok::<_, std::convert::Infallible>(g.into_inner())
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(token.0, 5);
    /// # });
    /// ```
    pub fn into_inner(self) -> T {
        self.into_value()
    }
}

impl<T: AsyncRelease> Drop for Guard<'_, T> {
    /// Starts the release now: the scope's future runs it beside the body, and its error
    /// goes into the scope's result. (Soundness does not rest on this: a forgotten guard's
    /// resource is released at the end of the scope.)
    fn drop(&mut self) {
        if let Some((value, live)) = self.take() {
            self.table.push_dropped(Job::new(value, live));
        }
    }
}

/// A resource's own release future, boxed.
type OwnFuture<E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send>>;

/// A guard's early release: dropped unfinished, it hands its future to the cleanup.
struct EarlyRelease<T: AsyncRelease> {
    future: Option<OwnFuture<T::Error>>,
}

impl<T: AsyncRelease> Future for EarlyRelease<T> {
    type Output = Result<(), T::Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(future) = &mut self.future else {
            unreachable!("an early release is not polled after it ended")
        };
        let result = std::task::ready!(future.as_mut().poll(cx));
        self.future = None;
        Poll::Ready(result)
    }
}

impl<T: AsyncRelease> Drop for EarlyRelease<T> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            let erased = Box::pin(async move { future.await.map_err(BoxError::from) });
            drop(Releases::started(Job::started(
                std::any::type_name::<T>(),
                erased,
            )));
        }
    }
}

impl<'scope, T: AsyncRelease> Deref for Guard<'scope, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the slot is live until the guard takes it (the scope drains only once the
        // body's future, and this guard with it, is gone); `&self` excludes `&mut` access.
        unsafe { Slot::get(self.slot()) }
    }
}

impl<'scope, T: AsyncRelease> DerefMut for Guard<'scope, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, with `&mut self` making the access exclusive.
        unsafe { Slot::get_mut(self.slot()) }
    }
}

impl<'scope, T: AsyncRelease + fmt::Debug> fmt::Debug for Guard<'scope, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Guard").field(&**self).finish()
    }
}

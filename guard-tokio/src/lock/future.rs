//! The acquisitions as futures: each waits in the lock's queue, and takes the lock itself
//! when polled while it is free.

use super::guard::{MutexGuard, OwnedMutexGuard};
use super::loom::StdArc as Arc;
use super::mutex::Mutex;
use super::wait::Wait;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future [`Mutex::lock`] returns. Dropping it before it completes (a `select!`
/// branch that lost, a timeout) leaves the queue and passes on any wake it had received.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let m = guard_tokio::lock::Mutex::new(());
/// let lock: guard_tokio::lock::Lock<'_, ()> = m.lock();
/// drop(lock.await);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    wait: Wait,
    site: &'static Location<'static>,
}

impl<'a, T: ?Sized> Lock<'a, T> {
    pub(crate) fn new(mutex: &'a Mutex<T>, site: &'static Location<'static>) -> Self {
        Lock {
            mutex,
            wait: Wait::default(),
            site,
        }
    }

    pub(crate) fn waited(&self) -> std::time::Duration {
        super::raw::RawLock::waited(&self.wait)
    }
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let this = self.get_mut();
        let mutex = this.mutex;
        mutex
            .raw
            .poll_acquire(&mut this.wait, cx, this.site)
            .map(|()| MutexGuard::new(mutex))
    }
}

impl<T: ?Sized> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        self.mutex.raw.cancel(&mut self.wait);
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").field("site", &self.site).finish()
    }
}

/// The future [`Mutex::lock_owned`] returns; as [`Lock`], for an `Arc<Mutex<T>>`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// let m = Arc::new(guard_tokio::lock::Mutex::new(()));
/// let lock: guard_tokio::lock::LockOwned<()> = m.lock_owned();
/// drop(lock.await);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct LockOwned<T: ?Sized> {
    mutex: Option<Arc<Mutex<T>>>,
    wait: Wait,
    site: &'static Location<'static>,
}

impl<T: ?Sized> LockOwned<T> {
    pub(crate) fn new(mutex: Arc<Mutex<T>>, site: &'static Location<'static>) -> Self {
        LockOwned {
            mutex: Some(mutex),
            wait: Wait::default(),
            site,
        }
    }
}

impl<T: ?Sized> Future for LockOwned<T> {
    type Output = OwnedMutexGuard<T>;

    /// # Panics
    ///
    /// If polled again after it completed.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OwnedMutexGuard<T>> {
        let this = self.get_mut();
        let mutex = this
            .mutex
            .as_ref()
            .expect("LockOwned polled after completion");
        match mutex.raw.poll_acquire(&mut this.wait, cx, this.site) {
            Poll::Ready(()) => Poll::Ready(OwnedMutexGuard::new(
                this.mutex.take().expect("checked above"),
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: ?Sized> Drop for LockOwned<T> {
    fn drop(&mut self) {
        if let Some(mutex) = &self.mutex {
            mutex.raw.cancel(&mut self.wait);
        }
    }
}

impl<T: ?Sized> fmt::Debug for LockOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockOwned")
            .field("site", &self.site)
            .finish()
    }
}

//! The ways to take a [`Mutex`]: wait ([`Mutex::lock`], [`Mutex::lock_owned`]), try once
//! ([`Mutex::try_lock`]), or wait up to a limit ([`Mutex::lock_timeout`]).

use super::error::{LockTimeout, TryLockError};
use super::future::{Lock, LockOwned};
use super::guard::MutexGuard;
use super::loom::StdArc as Arc;
use super::mutex::Mutex;
use std::future::Future;
use std::panic::Location;
use std::time::Duration;

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock. The future takes the lock when polled while it is free; dropped
    /// before that, it leaves the queue and passes on a wake it received.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let m = guard_tokio::lock::Mutex::new(String::new());
    /// m.lock().await.push('a');
    /// assert_eq!(*m.lock().await, "a");
    /// # }
    /// ```
    #[track_caller]
    pub fn lock(&self) -> Lock<'_, T> {
        Lock::new(self, Location::caller())
    }

    /// Takes the lock if it is free now.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if it is held (or reserved for a starving waiter), naming the holder.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_tokio::lock::Mutex::new(1);
    /// let held = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_err());
    /// drop(held);
    /// assert_eq!(*m.try_lock().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        if self.raw.try_lock(Location::caller()) {
            Ok(MutexGuard::new(self))
        } else {
            Err(TryLockError::of(&self.raw))
        }
    }

    /// [`lock`](Mutex::lock), for an `Arc<Mutex<T>>`: the guard holds the `Arc`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::Arc;
    /// let m = Arc::new(guard_tokio::lock::Mutex::new(0));
    /// *m.clone().lock_owned().await += 1;
    /// assert_eq!(*m.lock().await, 1);
    /// # }
    /// ```
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> LockOwned<T> {
        LockOwned::new(self, Location::caller())
    }

    /// [`lock`](Mutex::lock), giving up after `limit`.
    ///
    /// # Errors
    ///
    /// [`LockTimeout`] naming the lock's site, and the holder's site and task.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its timer enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let m = guard_tokio::lock::Mutex::new(());
    /// assert!(m.lock_timeout(Duration::from_secs(1)).await.is_ok());
    /// # }
    /// ```
    #[track_caller]
    pub fn lock_timeout(
        &self,
        limit: Duration,
    ) -> impl Future<Output = Result<MutexGuard<'_, T>, LockTimeout>> + '_ {
        let lock = self.lock();
        async move {
            let mut lock = std::pin::pin!(lock);
            match tokio::time::timeout(limit, lock.as_mut()).await {
                Ok(guard) => Ok(guard),
                Err(_) => Err(LockTimeout::of(&self.raw, lock.waited().max(limit))),
            }
        }
    }
}

//! The guards: a held lock, as a unique resource whose release is the unlock.

use super::loom::StdArc as Arc;
use super::mutex::Mutex;
use super::raw::RawLock;
use guard_core::{Created, Resource, UniqueResource};
use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// The lock held, borrowed from its [`Mutex`]; released (unlocked) when dropped, released,
/// or at the end of the guard scope it was entered in.
///
/// `Send` when `T: Send` (it may be held across an `.await` in a task that moves between
/// threads), `Sync` when `T: Sync`:
///
/// ```compile_fail,E0277
/// fn sync<T: Sync>(_: &T) {}
/// let m = guard_tokio::lock::Mutex::new(std::cell::Cell::new(0));
/// sync(&m.try_lock().unwrap()); // `Cell` is `Send` but not `Sync`
/// ```
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// fn send<T: Send>(_: &T) {}
/// let m = guard_tokio::lock::Mutex::new(1);
/// send(&m.lock().await);
/// *m.lock().await += 1;
/// assert_eq!(*m.lock().await, 2);
/// # }
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// `Sync` only when `T: Sync`: a shared guard gives `&T` to every thread.
    _value: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    pub(crate) fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _value: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this acquisition holds the lock, so no other
        // reference to the value exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.raw.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MutexGuard").field(&&**self).finish()
    }
}

impl<T: ?Sized> Resource for MutexGuard<'_, T> {
    type Error = Infallible;

    /// Unlocks.
    fn release(self) -> Result<(), Infallible> {
        drop(self);
        Ok(())
    }
    /// Where the lock was acquired (the `lock()` or `try_lock()` call).
    fn created(&self) -> Option<Created> {
        acquired(&self.mutex.raw)
    }
}

impl<T: ?Sized> UniqueResource for MutexGuard<'_, T> {}

/// The lock held, with an `Arc` of its [`Mutex`] ([`Mutex::lock_owned`]): `'static` when
/// `T` is, for a guard moved into a spawned task.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// let m = Arc::new(guard_tokio::lock::Mutex::new(0));
/// let mut held = m.clone().lock_owned().await;
/// tokio::spawn(async move { *held += 1 }).await.unwrap();
/// assert_eq!(*m.lock().await, 1);
/// # }
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedMutexGuard<T: ?Sized> {
    mutex: Arc<Mutex<T>>,
    _value: PhantomData<T>,
}

impl<T: ?Sized> OwnedMutexGuard<T> {
    pub(crate) fn new(mutex: Arc<Mutex<T>>) -> Self {
        OwnedMutexGuard {
            mutex,
            _value: PhantomData,
        }
    }

    /// The mutex this guard holds.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::Arc;
    /// let m = Arc::new(guard_tokio::lock::Mutex::new(()));
    /// let held = m.clone().lock_owned().await;
    /// assert!(Arc::ptr_eq(held.mutex(), &m));
    /// # }
    /// ```
    pub fn mutex(&self) -> &Arc<Mutex<T>> {
        &self.mutex
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this acquisition holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.mutex.raw.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedMutexGuard").field(&&**self).finish()
    }
}

impl<T: ?Sized> Resource for OwnedMutexGuard<T> {
    type Error = Infallible;

    /// Unlocks.
    fn release(self) -> Result<(), Infallible> {
        drop(self);
        Ok(())
    }
    /// Where the lock was acquired (the `lock_owned()` call).
    fn created(&self) -> Option<Created> {
        acquired(&self.mutex.raw)
    }
}

/// The held lock's acquisition site: recorded by the acquisition, cleared only by its
/// unlock, so while a guard exists it is that guard's.
fn acquired(raw: &RawLock) -> Option<Created> {
    raw.holder().site.map(|site| Created::new(site, "acquired"))
}

impl<T: ?Sized> UniqueResource for OwnedMutexGuard<T> {}

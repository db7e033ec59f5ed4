//! [`Mutex`]: the value and its lock (the acquisitions are in `acquire.rs`).

use super::raw::RawLock;
use std::cell::UnsafeCell;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

/// An async mutex that never grants the lock to a waiter that is not being polled.
///
/// A release wakes a waiter to come and try; the lock goes to whichever acquisition is
/// polled first while it is free. So RFD 609's futurelock, a fair lock handed to a future
/// that `select!` no longer polls, cannot happen. Fairness: a waiter may lose to barging
/// acquisitions; once it has been woken and lost four times, the next release is reserved
/// for it while it is polled (a reservation not taken within its
/// [grace](Mutex::reservation_grace), 500µs by default, lapses). A waiter that
/// has waited past the lock's [patience](Mutex::set_patience) reports through guard's event
/// hook ([`Event::LockWait`](guard_core::event::Event::LockWait)), naming the holder.
///
/// # Examples
///
/// RFD 609's program completes: `op1` waits, is woken when the holder releases, but is not
/// polled again; `op2` is, and takes the lock.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use std::time::Duration;
/// let m = Arc::new(guard_tokio::lock::Mutex::new(0));
/// let held = m.clone().lock_owned().await;
/// tokio::spawn(async move {
///     tokio::time::sleep(Duration::from_millis(5)).await;
///     drop(held);
/// });
/// let op1 = async { *m.lock().await += 1 };
/// tokio::pin!(op1);
/// tokio::select! {
///     _ = &mut op1 => {}
///     _ = tokio::time::sleep(Duration::from_millis(1)) => *m.lock().await += 10,
/// }
/// assert_eq!(*m.lock().await, 10);
/// # }
/// ```
pub struct Mutex<T: ?Sized> {
    pub(super) raw: RawLock,
    pub(super) value: UnsafeCell<T>,
}

// SAFETY: the value moves with the mutex: `T: Send` suffices, as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: shared access to the value goes only through a guard, one at a time (the lock),
// so threads sharing the mutex only pass the value between them: `T: Send` suffices.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A mutex holding `value`, created here (the site reports and errors name).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_tokio::lock::Mutex::new(vec![1]);
    /// assert_eq!(m.into_inner(), [1]);
    /// ```
    #[track_caller]
    pub fn new(value: T) -> Self {
        Mutex {
            raw: RawLock::new(std::any::type_name::<Self>(), Location::caller()),
            value: UnsafeCell::new(value),
        }
    }

    /// A mutex that reports and errors name as `type_name`, created at `site`: for a type
    /// of this crate built on it (`IpcMutex`'s turns).
    pub(crate) fn named(
        value: T,
        type_name: &'static str,
        site: &'static Location<'static>,
    ) -> Self {
        Mutex {
            raw: RawLock::new(type_name, site),
            value: UnsafeCell::new(value),
        }
    }

    /// The value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(guard_tokio::lock::Mutex::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// A mutable reference to the value: no lock needed, the borrow is exclusive.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = guard_tokio::lock::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// How long a task may wait for this lock before it reports (see
    /// [`default_patience`](super::default_patience)).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_tokio::lock::Mutex::new(());
    /// assert_eq!(m.patience(), guard_tokio::lock::default_patience());
    /// ```
    pub fn patience(&self) -> Duration {
        self.raw.shared.patience()
    }

    /// Sets this lock's [`patience`](Mutex::patience).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = guard_tokio::lock::Mutex::new(());
    /// m.set_patience(Duration::from_millis(100));
    /// assert_eq!(m.patience(), Duration::from_millis(100));
    /// ```
    pub fn set_patience(&self, patience: Duration) {
        self.raw.shared.set_patience(patience);
    }

    /// How long a release reserved for a starving waiter (one woken and beaten four times)
    /// stays reserved while that waiter is not polled, and how long a woken waiter that has
    /// not come holds back the next wake: 500µs unless [set](Mutex::set_reservation_grace).
    /// Past it, a waiter that may never be polled again (the losing branch of a `select!`)
    /// holds nobody up.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_tokio::lock::Mutex::new(());
    /// assert_eq!(m.reservation_grace(), std::time::Duration::from_micros(500));
    /// ```
    pub fn reservation_grace(&self) -> Duration {
        self.raw.shared.grace()
    }

    /// Sets this lock's [`reservation_grace`](Mutex::reservation_grace): longer favours
    /// the starving waiter (a task slow to be polled still gets its turn), shorter the
    /// throughput of the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = guard_tokio::lock::Mutex::new(());
    /// m.set_reservation_grace(Duration::from_millis(2));
    /// assert_eq!(m.reservation_grace(), Duration::from_millis(2));
    /// ```
    pub fn set_reservation_grace(&self, grace: Duration) {
        self.raw.shared.set_grace(grace);
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("site", &self.raw.shared.site)
            .field("holder", &self.raw.holder())
            .finish_non_exhaustive()
    }
}

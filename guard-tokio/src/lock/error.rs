//! The lock's errors: one per operation that can fail ([`TryLockError`], [`LockTimeout`]).

use super::holder::Holder;
use super::raw::RawLock;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

/// Which lock, and who held it when the operation gave up.
#[derive(Debug, Clone, Copy)]
struct Context {
    lock: &'static str,
    site: &'static Location<'static>,
    holder: Holder,
}

impl Context {
    fn of(raw: &RawLock) -> Self {
        Context {
            lock: raw.shared.type_name,
            site: raw.shared.site,
            holder: raw.holder(),
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` created at {}", self.lock, self.site)?;
        if let Some(site) = self.holder.site {
            write!(f, ", acquired at {site}")?;
        }
        if let Some(task) = self.holder.task {
            write!(f, " by task {task}")?;
        }
        Ok(())
    }
}

macro_rules! accessors {
    () => {
        /// The lock's type name.
        pub fn lock(&self) -> &'static str {
            self.cx.lock
        }

        /// Where the lock was created.
        pub fn site(&self) -> &'static Location<'static> {
            self.cx.site
        }

        /// Where the holder acquired the lock (`None` if it was released meanwhile).
        pub fn holder_site(&self) -> Option<&'static Location<'static>> {
            self.cx.holder.site
        }

        /// The holder's tokio task id, if it acquired the lock inside a task.
        pub fn holder_task(&self) -> Option<u64> {
            self.cx.holder.task
        }
    };
}

/// [`Mutex::try_lock`](super::Mutex::try_lock) found the lock held (or reserved for a
/// starving waiter).
///
/// # Examples
///
/// ```
/// let m = guard_tokio::lock::Mutex::new(0);
/// let _held = m.try_lock().unwrap();
/// let e = m.try_lock().unwrap_err();
/// assert!(e.holder_site().is_some());
/// assert!(e.to_string().starts_with("locked: `guard_tokio::lock::mutex::Mutex<i32>` created at "));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TryLockError {
    cx: Context,
}

impl TryLockError {
    pub(crate) fn of(raw: &RawLock) -> Self {
        TryLockError {
            cx: Context::of(raw),
        }
    }

    accessors!();
}

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "locked: {}", self.cx)
    }
}

impl std::error::Error for TryLockError {}

/// [`Mutex::lock_timeout`](super::Mutex::lock_timeout) waited its limit without getting
/// the lock.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// let m = guard_tokio::lock::Mutex::new(());
/// let _held = m.lock().await;
/// let e = m.lock_timeout(Duration::from_millis(10)).await.unwrap_err();
/// assert!(e.waited() >= Duration::from_millis(10));
/// assert!(e.holder_site().is_some());
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LockTimeout {
    cx: Context,
    waited: Duration,
}

impl LockTimeout {
    pub(crate) fn of(raw: &RawLock, waited: Duration) -> Self {
        LockTimeout {
            cx: Context::of(raw),
            waited,
        }
    }

    accessors!();

    /// How long it waited (at least the limit the caller gave).
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl fmt::Display for LockTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:.3}s waiting for {}",
            self.waited.as_secs_f64(),
            self.cx
        )
    }
}

impl std::error::Error for LockTimeout {}

//! [`IpcMutex`], the handle: a task takes its turn, then the OS lock from the holder
//! thread (or the one the task before passed on).

use super::holder::Line;
use super::lock::IpcLock;
use super::turn::{Kept, Shared, Want, gone};
use guard_os::LockError;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

/// A handle to a named mutex shared between processes ([`guard_os::IpcMutex`]), locked
/// asynchronously. Clones share the holder thread and the in-process queue.
///
/// # How it waits, and what an unlock means
///
/// The OS lock must be unlocked by the thread that locked it, and a task moves between
/// workers, so a holder thread per handle takes and releases it for the tasks; a task only
/// awaits, and no runtime worker ever waits for another holder.
///
/// - [`IpcLock::unlock`] posts the unlock to the holder thread and returns: this process's
///   next lock comes after it (the thread serves requests in order), but another process
///   that this one tells "go" may find the lock still held for the few microseconds until
///   the thread runs. [`IpcLock::unlock_and_wait`] returns once it is unlocked.
/// - While the holder thread is awake and the OS lock is free, a lock is answered at once,
///   and the task spins for the answer (at most 10µs, giving its CPU away between short
///   runs of pauses) instead of parking its worker; the holder thread spins up to 50µs for
///   the next request before it parks. Back-to-back acquisitions thus cost no thread
///   wake-up; the price is that CPU time, after each burst of use.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let name = format!("doc-async-ipc-{}", std::process::id());
/// let m = guard_tokio::IpcMutex::open(&name)?;
/// let held = m.lock().await?; // no worker blocks, whoever holds it
/// tokio::task::yield_now().await; // held across an await: other tasks run meanwhile
/// held.unlock()?;
/// # guard_os::IpcMutex::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Clone)]
pub struct IpcMutex {
    line: Line,
    shared: Arc<Shared>,
    path: Arc<std::path::Path>,
}

impl IpcMutex {
    /// Opens the mutex `name`, as [`guard_os::IpcMutex::open`], and starts its holder
    /// thread.
    ///
    /// # Errors
    ///
    /// As [`guard_os::IpcMutex::open`]; [`guard_os::Error::Lock`] if the holder thread
    /// cannot be started.
    ///
    /// # Examples
    ///
    /// See [`IpcMutex`].
    pub fn open(name: &str) -> guard_os::Result<IpcMutex> {
        IpcMutex::new(guard_os::IpcMutex::open(name)?)
    }

    /// Wraps an open handle and starts its holder thread (named `guard-ipc-mutex`).
    ///
    /// # Errors
    ///
    /// [`guard_os::Error::Lock`] if the thread cannot be started (the handle is closed then).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-async-ipc-new-{}", std::process::id());
    /// let m = guard_tokio::IpcMutex::new(guard_os::IpcMutex::open(&name)?)?;
    /// assert!(m.path().ends_with(format!("guard-mutex.{name}")));
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn new(mutex: guard_os::IpcMutex) -> guard_os::Result<IpcMutex> {
        let path: Arc<std::path::Path> = mutex.path().into();
        let line = Line::start(mutex).map_err(|source| guard_os::Error::Lock {
            op: "starting the holder thread",
            path: path.to_path_buf(),
            source,
        })?;
        Ok(IpcMutex {
            line,
            shared: Arc::new(Shared {
                queue: Arc::new(tokio::sync::Mutex::new(Kept::default())),
                wanting: AtomicUsize::new(0),
            }),
            path,
        })
    }

    /// The lock file.
    ///
    /// # Examples
    ///
    /// See [`new`](Self::new).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Acquires the mutex, waiting without blocking a worker: first for the tasks of this
    /// process ahead of it (FIFO), then for the OS lock, on the holder thread. While the
    /// holder thread is awake and the OS lock is not held elsewhere, the task spins for its
    /// answer (at most 10µs) rather than park and be woken.
    ///
    /// Cancel-safe: dropping the future gives up its place; if the holder thread took the
    /// OS lock for it meanwhile, it unlocks it at once.
    ///
    /// # Errors
    ///
    /// As [`guard_os::IpcMutex::lock`]: [`LockError::OwnerDied`] if a holder (in any
    /// process) died holding it; take it with [`lock_poisoned`](Self::lock_poisoned) to
    /// repair. [`LockError::Os`] also if the holder thread is gone.
    ///
    /// # Examples
    ///
    /// See [`IpcMutex`].
    pub async fn lock(&self) -> Result<IpcLock, LockError> {
        self.acquire(false).await
    }

    /// Acquires the mutex whether or not the state is poisoned, as
    /// [`guard_os::IpcMutex::lock_poisoned`]; see [`IpcLock::mark_consistent`].
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock), never `OwnerDied`.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let name = format!("doc-async-ipc-poisoned-{}", std::process::id());
    /// let m = guard_tokio::IpcMutex::open(&name)?;
    /// let mut held = m.lock_poisoned().await?;
    /// if held.is_poisoned() {
    ///     held.mark_consistent()?; // after repairing the shared state
    /// }
    /// held.unlock()?;
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub async fn lock_poisoned(&self) -> guard_os::Result<IpcLock> {
        self.acquire(true).await.map_err(guard_os::Error::from)
    }

    async fn acquire(&self, poisoned_ok: bool) -> Result<IpcLock, LockError> {
        // Declared before the turn: dropped (given up) after it.
        let want = Want::new(&self.shared);
        let mut turn = Arc::clone(&self.shared.queue).lock_owned().await;
        let mut held = match turn.held.take() {
            // Passed on by the task before: the holder thread still has the OS lock.
            Some(held) => held,
            None => self
                .line
                .lock(poisoned_ok)
                .await
                .ok_or_else(|| LockError::Os(gone(&self.path)))??,
        };
        held.claim();
        Ok(IpcLock::new(Arc::clone(&self.path), held, turn, want))
    }
}

impl fmt::Debug for IpcMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcMutex")
            .field("path", &self.path)
            .finish()
    }
}

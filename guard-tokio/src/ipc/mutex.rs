//! [`IpcMutex`], the handle: a task takes its turn, then the OS lock from the holder
//! thread (or the one the task before passed on).

use super::holder::Line;
use super::lock::IpcLock;
use super::turn::{Kept, Shared, Want, gone};
use crate::lock::{LockOwned, Mutex};
use guard_os::LockError;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

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
/// - The tasks of this process take turns on guard's async [`Mutex`](crate::lock::Mutex):
///   an unlock wakes a waiter to come and try, and the turn goes to whichever is polled
///   first, so a lock future that a `select!` no longer polls holds nobody up (RFD 609's
///   futurelock cannot happen). A task that waits for its turn past the
///   [patience](Self::set_patience) reports through guard's event hook
///   ([`Event::LockWait`](guard_core::event::Event::LockWait)), naming
///   `guard_tokio::IpcMutex`, where it was opened, and the holder's `lock()` site and task.
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
    #[track_caller]
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
    #[track_caller]
    pub fn new(mutex: guard_os::IpcMutex) -> guard_os::Result<IpcMutex> {
        let site = Location::caller();
        let path: Arc<std::path::Path> = mutex.path().into();
        let line = Line::start(mutex).map_err(|source| guard_os::Error::Lock {
            op: "starting the holder thread",
            path: path.to_path_buf(),
            source,
        })?;
        let keep = line.keep().clone();
        Ok(IpcMutex {
            line,
            shared: Arc::new(Shared {
                queue: Arc::new(Mutex::named(Kept::default(), "guard_tokio::IpcMutex", site)),
                wanting: AtomicUsize::new(0),
                keep,
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

    /// How long a task may wait for its turn before it reports (see
    /// [`default_patience`](crate::lock::default_patience)).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-async-ipc-patience-{}", std::process::id());
    /// let m = guard_tokio::IpcMutex::open(&name)?;
    /// assert_eq!(m.patience(), guard_tokio::lock::default_patience());
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn patience(&self) -> Duration {
        self.shared.queue.patience()
    }

    /// Sets this mutex's [`patience`](Self::patience) (shared by its clones).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let name = format!("doc-async-ipc-set-patience-{}", std::process::id());
    /// let m = guard_tokio::IpcMutex::open(&name)?;
    /// m.set_patience(Duration::from_millis(100));
    /// assert_eq!(m.clone().patience(), Duration::from_millis(100));
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn set_patience(&self, patience: Duration) {
        self.shared.queue.set_patience(patience);
    }

    /// Acquires the mutex, waiting without blocking a worker: first for its turn among the
    /// tasks of this process (never handed to a future that is not polled; see
    /// [`IpcMutex`]), then for the OS lock, on the holder thread. While the
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
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = Result<IpcLock, LockError>> + Send + '_ {
        self.acquire(false, Location::caller())
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
    #[track_caller]
    pub fn lock_poisoned(&self) -> impl Future<Output = guard_os::Result<IpcLock>> + Send + '_ {
        let acquire = self.acquire(true, Location::caller());
        async move { acquire.await.map_err(guard_os::Error::from) }
    }

    async fn acquire(
        &self,
        poisoned_ok: bool,
        site: &'static Location<'static>,
    ) -> Result<IpcLock, LockError> {
        // Declared before the turn: dropped (given up) after it.
        let want = Want::new(&self.shared);
        let mut turn = LockOwned::new(Arc::clone(&self.shared.queue), site).await;
        // Passed on by the task before: the holder thread still has the OS lock, unless
        // nobody came for it in time and it unlocked it.
        let passed = turn
            .held
            .take()
            .and_then(|mut held| held.reclaim().then_some(held));
        let mut held = match passed {
            Some(held) => held,
            None => {
                turn.passes = 0; // a fresh acquisition: the passes in a row restart
                self.line
                    .lock(poisoned_ok)
                    .await
                    .ok_or_else(|| LockError::Os(gone(&self.path)))??
            }
        };
        held.claim();
        Ok(IpcLock::new(Arc::clone(&self.path), held, turn, want, site))
    }
}

impl fmt::Debug for IpcMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcMutex")
            .field("path", &self.path)
            .finish()
    }
}

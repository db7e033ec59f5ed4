//! [`IpcMutex`]: guard's inter-process mutex, locked by a future that never blocks a
//! runtime worker.
//!
//! The OS lock is a robust, process-shared pthread mutex: the thread that locks it must
//! unlock it, and its owner's death is reported to the next owner. A tokio task moves
//! between workers, so no worker may hold it. Each handle has one holder thread that
//! takes and releases the OS lock for the tasks of this process, one acquisition at a
//! time; the tasks queue for it on an async mutex (FIFO, cancel-safe) in front. A task
//! waiting for another process, or for another task of its own thread, only awaits.

use guard_core::{Resource, UniqueResource};
use guard_os::LockError;
use std::fmt;
use std::sync::{Arc, mpsc};
use tokio::sync::{OwnedMutexGuard, oneshot};

/// What a task asks of the holder thread.
struct Request {
    /// `lock_poisoned`: take it whether or not a holder died.
    poisoned_ok: bool,
    reply: oneshot::Sender<Result<Held, LockError>>,
}

/// A granted acquisition: the way to the holder thread while the lock is held.
struct Held {
    commands: mpsc::Sender<Command>,
    poisoned: bool,
}

/// What the task of a held lock asks of the holder thread.
enum Command {
    MarkConsistent(mpsc::SyncSender<guard_os::Result<()>>),
    Unlock(mpsc::SyncSender<guard_os::Result<()>>),
    /// The task's lock was dropped while it panicked: drop the OS lock while unwinding
    /// too, so that it poisons the state as a panicking holder does.
    Poison,
}

/// The error when the holder thread is gone (it panicked: it does not otherwise end
/// while a handle or an acquisition exists).
fn gone(path: &std::path::Path) -> guard_os::Error {
    guard_os::Error::Lock {
        op: "reaching the holder thread",
        path: path.to_path_buf(),
        source: std::io::Error::other("the holder thread is gone"),
    }
}

/// The holder thread: takes the OS lock for each request in turn, keeps it until the
/// task unlocks it (or drops its [`IpcLock`]), and exits when every handle is gone.
fn holder(mutex: &guard_os::IpcMutex, requests: mpsc::Receiver<Request>) {
    for Request { poisoned_ok, reply } in requests {
        let lock = if poisoned_ok {
            mutex.lock_poisoned().map_err(LockError::Os)
        } else {
            mutex.lock()
        };
        let mut lock = match lock {
            Ok(lock) => lock,
            Err(e) => {
                let _ = reply.send(Err(e));
                continue;
            }
        };
        let (commands, received) = mpsc::channel();
        let held = Held {
            commands,
            poisoned: lock.is_poisoned(),
        };
        if reply.send(Ok(held)).is_err() {
            // The lock future was dropped (cancelled) while this thread waited: nobody
            // holds this acquisition, so it ends here, cleanly.
            let _ = lock.unlock();
            continue;
        }
        loop {
            match received.recv() {
                Ok(Command::MarkConsistent(done)) => {
                    let _ = done.send(lock.mark_consistent());
                }
                Ok(Command::Unlock(done)) => {
                    let _ = done.send(lock.unlock());
                    break;
                }
                Ok(Command::Poison) => {
                    // `resume_unwind` unwinds without running the panic hook; the lock's
                    // drop sees a panicking thread and records the poison, then unlocks.
                    let unwind = std::panic::AssertUnwindSafe(move || {
                        let _dropped_while_unwinding = lock;
                        std::panic::resume_unwind(Box::new(()));
                    });
                    let _ = std::panic::catch_unwind(unwind);
                    break;
                }
                Err(mpsc::RecvError) => {
                    // Dropped without unlock: guard-os's drop unlocks and reports it.
                    drop(lock);
                    break;
                }
            }
        }
    }
}

/// A handle to a named mutex shared between processes ([`guard_os::IpcMutex`]), locked
/// asynchronously. Clones share the holder thread and the in-process queue.
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
    requests: mpsc::Sender<Request>,
    queue: Arc<tokio::sync::Mutex<()>>,
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
        let (requests, received) = mpsc::channel();
        std::thread::Builder::new()
            .name("guard-ipc-mutex".into())
            .spawn(move || holder(&mutex, received))
            .map_err(|source| guard_os::Error::Lock {
                op: "starting the holder thread",
                path: path.to_path_buf(),
                source,
            })?;
        Ok(IpcMutex {
            requests,
            queue: Arc::new(tokio::sync::Mutex::new(())),
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
    /// process ahead of it (FIFO), then for the OS lock, on the holder thread.
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
        let turn = Arc::clone(&self.queue).lock_owned().await;
        let (reply, granted) = oneshot::channel();
        let gone = || LockError::Os(gone(&self.path));
        self.requests
            .send(Request { poisoned_ok, reply })
            .map_err(|_| gone())?;
        let held = granted.await.map_err(|_| gone())??;
        Ok(IpcLock {
            path: Arc::clone(&self.path),
            held: Some(held),
            _turn: turn,
        })
    }
}

impl fmt::Debug for IpcMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcMutex")
            .field("path", &self.path)
            .finish()
    }
}

/// An acquisition of an [`IpcMutex`], held by its holder thread on this task's behalf.
/// Unique: [`unlock`](Self::unlock) it, or enter it in a scope. Dropped, it is unlocked
/// anyway and the drop reported, as [`guard_os::IpcLock`]'s drop does; dropped by a
/// panicking task, it poisons the state first (the next owner gets
/// [`LockError::OwnerDied`] with this process's pid).
///
/// `Send`: the OS lock never moves, so the task holding this may.
///
/// # Examples
///
/// See [`IpcMutex`].
pub struct IpcLock {
    path: Arc<std::path::Path>,
    /// Declared first: on a drop, the OS lock goes before the next task's turn.
    held: Option<Held>,
    _turn: OwnedMutexGuard<()>,
}

impl IpcLock {
    /// True while the state is poisoned (only from
    /// [`lock_poisoned`](IpcMutex::lock_poisoned)).
    ///
    /// # Examples
    ///
    /// See [`IpcMutex::lock_poisoned`].
    pub fn is_poisoned(&self) -> bool {
        self.held.as_ref().is_some_and(|h| h.poisoned)
    }

    /// Marks the state consistent, as [`guard_os::IpcLock::mark_consistent`]. Waits only
    /// for the holder thread to do it, never for another holder.
    ///
    /// # Errors
    ///
    /// As [`guard_os::IpcLock::mark_consistent`].
    ///
    /// # Examples
    ///
    /// See [`IpcMutex::lock_poisoned`].
    pub fn mark_consistent(&mut self) -> guard_os::Result<()> {
        let result = self.ask(Command::MarkConsistent);
        if result.is_ok()
            && let Some(h) = &mut self.held
        {
            h.poisoned = false;
        }
        result
    }

    /// Unlocks now, as [`guard_os::IpcLock::unlock`] (records "free", then unlocks). Waits
    /// only for the holder thread's `pthread_mutex_unlock`, which never waits for another
    /// holder.
    ///
    /// # Errors
    ///
    /// As [`guard_os::IpcLock::unlock`].
    ///
    /// # Examples
    ///
    /// See [`IpcMutex`].
    pub fn unlock(mut self) -> guard_os::Result<()> {
        let result = self.ask(Command::Unlock);
        self.held = None;
        result
    }

    fn ask(
        &self,
        command: fn(mpsc::SyncSender<guard_os::Result<()>>) -> Command,
    ) -> guard_os::Result<()> {
        let gone = || gone(&self.path);
        let Some(held) = &self.held else {
            return Err(gone());
        };
        let (done, result) = mpsc::sync_channel(1);
        held.commands.send(command(done)).map_err(|_| gone())?;
        result.recv().map_err(|_| gone())?
    }
}

impl Drop for IpcLock {
    /// Unlocked without [`unlock`](Self::unlock): the holder thread drops the OS lock,
    /// which unlocks and reports the drop; while this thread panics, it poisons the state
    /// first, as a holder that panics does.
    fn drop(&mut self) {
        if let Some(held) = self.held.take()
            && std::thread::panicking()
        {
            let _ = held.commands.send(Command::Poison);
        }
    }
}

impl Resource for IpcLock {
    type Error = guard_os::Error;
    /// Same as [`IpcLock::unlock`].
    fn release(self) -> guard_os::Result<()> {
        self.unlock()
    }
}

impl UniqueResource for IpcLock {}

impl fmt::Debug for IpcLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcLock")
            .field("poisoned", &self.is_poisoned())
            .finish()
    }
}

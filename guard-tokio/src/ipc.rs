//! [`IpcMutex`]: guard's inter-process mutex, locked by a future that never blocks a
//! runtime worker.
//!
//! The OS lock is a robust, process-shared pthread mutex: the thread that locks it must
//! unlock it, and its owner's death is reported to the next owner. A tokio task moves
//! between workers, so no worker may hold it. Each handle has one holder thread that
//! takes and releases the OS lock for the tasks of this process, one acquisition at a
//! time; the tasks queue for it on an async mutex (FIFO, cancel-safe) in front. A task
//! waiting for another process, or for another task of its own thread, only awaits.
//!
//! Back-to-back acquisitions by tasks of this process skip the holder thread: a task that
//! unlocks while another task of this process waits leaves the OS lock held by the holder
//! thread and passes it on with its turn (at most [`PASSES`] times in a row, then it
//! unlocks for real, so other processes get their chance). The last task that stops
//! wanting it (unlocking, or dropping its lock future) has the holder thread unlock it.

use guard_core::{Resource, UniqueResource};
use guard_os::LockError;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use tokio::sync::{OwnedMutexGuard, oneshot};

/// How many times in a row the OS lock is passed from task to task of this process
/// without being unlocked.
const PASSES: u32 = 32;

/// What the tasks of one [`IpcMutex`] (and its clones) share.
struct Shared {
    /// The turn among this process's tasks, and the OS acquisition kept between two turns.
    queue: Arc<tokio::sync::Mutex<Kept>>,
    /// Tasks that asked for the lock and have neither unlocked nor given up yet.
    wanting: AtomicUsize,
}

/// The OS acquisition passed from one task's turn to the next, and how many passes ran.
#[derive(Default)]
struct Kept {
    held: Option<Held>,
    passes: u32,
}

impl Shared {
    /// When no task wants the lock any more and the OS lock was left held for one, unlocks
    /// it. Whoever holds the turn instead (a task that just came) takes the kept lock.
    fn settle(&self) {
        if self.wanting.load(Ordering::SeqCst) == 0
            && let Ok(mut kept) = self.queue.try_lock()
        {
            kept.passes = 0;
            if let Some(held) = kept.held.take() {
                let _ = held.ask(Command::Unlock);
            }
        }
    }
}

/// A task's want of the lock, from its `lock()` call to its unlock (or until it gives up):
/// counted in [`Shared::wanting`].
struct Want(Arc<Shared>);

impl Want {
    fn new(shared: &Arc<Shared>) -> Want {
        shared.wanting.fetch_add(1, Ordering::SeqCst);
        Want(Arc::clone(shared))
    }
}

impl Drop for Want {
    fn drop(&mut self) {
        self.0.wanting.fetch_sub(1, Ordering::SeqCst);
        self.0.settle();
    }
}

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

impl Held {
    /// Asks the holder thread to do `command` and waits for its answer.
    fn ask(
        &self,
        command: fn(mpsc::SyncSender<guard_os::Result<()>>) -> Command,
    ) -> Option<guard_os::Result<()>> {
        let (done, result) = mpsc::sync_channel(1);
        self.commands.send(command(done)).ok()?;
        result.recv().ok()
    }
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
        // Declared before the turn: dropped (given up) after it.
        let want = Want::new(&self.shared);
        let mut turn = Arc::clone(&self.shared.queue).lock_owned().await;
        let held = match turn.held.take() {
            // Passed on by the task before: the holder thread still has the OS lock.
            Some(held) => held,
            None => {
                let (reply, granted) = oneshot::channel();
                let gone = || LockError::Os(gone(&self.path));
                self.requests
                    .send(Request { poisoned_ok, reply })
                    .map_err(|_| gone())?;
                granted.await.map_err(|_| gone())??
            }
        };
        Ok(IpcLock {
            path: Arc::clone(&self.path),
            held: Some(held),
            turn: Some(turn),
            _want: want,
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
    /// `None` only while being unlocked.
    turn: Option<OwnedMutexGuard<Kept>>,
    /// Declared last: given up after the turn, so that [`Shared::settle`] can take it.
    _want: Want,
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
    /// holder. If another task of this process waits for the mutex, the OS lock is passed
    /// to it instead (at most 32 times in a row), without a round trip to the holder thread.
    ///
    /// # Errors
    ///
    /// As [`guard_os::IpcLock::unlock`].
    ///
    /// # Examples
    ///
    /// See [`IpcMutex`].
    pub fn unlock(mut self) -> guard_os::Result<()> {
        let others_wait = self._want.0.wanting.load(Ordering::SeqCst) > 1;
        if let (Some(turn), Some(held)) = (&mut self.turn, &self.held)
            && others_wait
            && !held.poisoned
            && turn.passes < PASSES
        {
            turn.passes += 1;
            turn.held = self.held.take();
            return Ok(());
        }
        let result = self.ask(Command::Unlock);
        self.held = None;
        if let Some(turn) = &mut self.turn {
            turn.passes = 0;
        }
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
        held.ask(command).ok_or_else(gone)?
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

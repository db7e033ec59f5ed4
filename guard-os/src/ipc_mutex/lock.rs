//! [`IpcLock`], the unique acquisition, and what `lock` returns when a holder died.

use super::handle::{FREE, IpcMutex, Record};
use crate::error::{Error, Result};
use crate::sys;
use guard_core::census::Origin;
use guard_core::{Kind, Resource, UniqueResource};
use parking_lot::MutexGuard;
use rustix::fs::FlockOperation;
use std::fmt;
use std::panic::Location;

/// An acquisition of an [`IpcMutex`]. Unique: enter it in a [`scope`](guard_core::scope)
/// (or call [`unlock`](Self::unlock)); its release records "free" and unlocks. Dropped
/// without release, it unlocks at once anyway and the drop is reported
/// ([`guard_core::report::unreleased`]).
///
/// Released while its thread panics (dropped during unwinding, or by its scope's guard),
/// it poisons the mutex, as std's `Mutex` does: the next owner gets
/// [`LockError::OwnerDied`] (with this process's pid) until one recovers with
/// [`OwnerDied::recover`] or [`mark_consistent`](Self::mark_consistent). See
/// [`IpcMutex`]'s "How it works".
///
/// # Examples
///
/// ```
/// let m = guard_os::IpcMutex::open("doc-lock")?;
/// let held = m.try_lock().map_err(guard_os::Error::from)?.expect("free");
/// assert!(m.try_lock().map_err(guard_os::Error::from)?.is_none()); // held
/// held.unlock()?;
/// # Ok::<(), guard_os::Error>(())
/// ```
///
/// An acquisition borrows its handle, so the handle cannot be released while locked:
///
/// ```compile_fail
/// let lock = {
///     let m = guard_os::IpcMutex::open("doc-outlive").unwrap();
///     m.lock().unwrap() // error: `m` does not live long enough
/// };
/// ```
pub struct IpcLock<'a> {
    pub(super) mutex: &'a IpcMutex,
    pub(super) local: Option<MutexGuard<'a, ()>>,
    pub(super) record: Record,
    /// The thread was panicking when it took the lock: its release then does not poison
    /// (as std's `Mutex`).
    pub(super) panicking: bool,
    pub(super) site: &'static Location<'static>,
}

impl<'a> IpcLock<'a> {
    /// True while the state is poisoned: a holder died or panicked holding the lock and
    /// nobody has marked the state consistent since. Only a lock from
    /// [`OwnerDied::into_lock`] is poisoned ([`IpcMutex::lock`] reports the death first).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_os::IpcMutex::open("doc-is-poisoned")?;
    /// let lock = match m.lock() {
    ///     Ok(lock) => lock,
    ///     Err(guard_os::LockError::OwnerDied(died)) => died.into_lock(),
    ///     Err(guard_os::LockError::Os(e)) => return Err(e),
    /// };
    /// if lock.is_poisoned() {
    ///     // repair, then `mark_consistent`; or leave it for the next owner
    /// }
    /// lock.unlock()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.record.poisoned
    }

    /// Declares the protected state repaired: later owners are no longer told that a
    /// holder died or panicked (unless another one does).
    ///
    /// # Errors
    ///
    /// [`Error::Lock`] if the owner record cannot be written (the state stays poisoned).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_os::IpcMutex::open("doc-mark-consistent")?;
    /// let mut lock = m.lock().or_else(|e| match e {
    ///     guard_os::LockError::OwnerDied(died) => Ok(died.into_lock()),
    ///     guard_os::LockError::Os(e) => Err(e),
    /// })?;
    /// // ... repair the shared state ...
    /// lock.mark_consistent()?;
    /// assert!(!lock.is_poisoned());
    /// lock.unlock()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn mark_consistent(&mut self) -> Result<()> {
        let record = Record {
            poisoned: false,
            dead: 0,
            ..self.record
        };
        self.mutex.write_record(&record)?;
        self.record = record;
        Ok(())
    }

    /// Unlocks now: records "free" in the owner record, then
    /// [`flock(LOCK_UN)`](https://man7.org/linux/man-pages/man2/flock.2.html).
    ///
    /// # Errors
    ///
    /// [`Error::Lock`] for the owner record and/or `flock`, all of them; the lock is
    /// released in any case (the in-process part always, the `flock` unless it failed).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_os::IpcMutex::open("doc-unlock")?;
    /// let held = m.lock().map_err(guard_os::Error::from)?;
    /// held.unlock()?;
    /// assert!(m.try_lock().map_err(guard_os::Error::from)?.is_some()); // free again
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn unlock(mut self) -> Result<()> {
        self.finish()
    }

    pub(super) fn checked(self) -> std::result::Result<IpcLock<'a>, LockError<'a>> {
        if self.record.poisoned {
            let pid = self.record.dead;
            return Err(LockError::OwnerDied(OwnerDied { lock: self, pid }));
        }
        Ok(self)
    }

    /// Gives the lock up after a failed acquisition step and returns the error.
    pub(super) fn abandon(&mut self, error: Error) -> Error {
        let _ = sys::flock(&self.mutex.fd, FlockOperation::Unlock);
        self.local = None;
        error
    }

    /// Records "free" (and poisoned if the thread panics while holding the lock), then
    /// unlocks. If the record cannot be written, it still says "held": the next owner
    /// reads that as a death, so a panic is never lost.
    fn finish(&mut self) -> Result<()> {
        let Some(local) = self.local.take() else {
            return Ok(());
        };
        let mut errors = Vec::new();
        let panicked = !self.panicking && std::thread::panicking();
        let free = Record {
            state: FREE,
            holder: 0,
            poisoned: self.record.poisoned || panicked,
            dead: if panicked {
                self.record.holder
            } else {
                self.record.dead
            },
            ..self.record
        };
        if let Err(e) = self.mutex.write_record(&free) {
            errors.push(e);
        }
        if let Err(e) = sys::flock(&self.mutex.fd, FlockOperation::Unlock) {
            errors.push(self.mutex.error("flock(LOCK_UN)", e));
        }
        drop(local);
        Error::collect(errors)
    }
}

impl Resource for IpcLock<'_> {
    type Error = Error;
    /// Same as [`IpcLock::unlock`].
    fn release(mut self) -> Result<()> {
        self.finish()
    }
}

impl UniqueResource for IpcLock<'_> {}

impl Drop for IpcLock<'_> {
    fn drop(&mut self) {
        if self.local.is_some() {
            let resource = std::any::type_name::<IpcLock<'_>>();
            if let Err(e) = self.finish() {
                crate::error::report(resource, Kind::Unique, &e);
            }
            guard_core::report::unreleased(Origin::new(Kind::Unique, resource, self.site));
        }
    }
}

impl fmt::Debug for IpcLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcLock")
            .field("path", &self.mutex.path)
            .field("poisoned", &self.record.poisoned)
            .finish()
    }
}

/// Why [`IpcMutex::lock`] did not return a plain lock. Hand-written because
/// [`OwnerDied`] gives the lock back. `?` converts it into [`Error`] (releasing the lock,
/// which stays poisoned).
///
/// # Examples
///
/// ```
/// use guard_os::LockError;
/// let m = guard_os::IpcMutex::open("doc-lock-error")?;
/// let lock = match m.lock() {
///     Ok(lock) => lock,
///     Err(LockError::OwnerDied(died)) => {
///         eprintln!("pid {} died holding the lock; repairing", died.pid());
///         died.recover()? // after repairing the shared state
///     }
///     Err(LockError::Os(e)) => return Err(e),
/// };
/// lock.unlock()?;
/// # Ok::<(), guard_os::Error>(())
/// ```
#[derive(Debug)]
pub enum LockError<'a> {
    /// The lock is held, but a previous holder died (or panicked) holding it.
    OwnerDied(OwnerDied<'a>),
    /// The OS refused (the lock is not held).
    Os(Error),
}

/// The lock, acquired after a holder died holding it (like `EOWNERDEAD`), or a thread
/// panicked holding it (like std's poisoning). Repair the shared state, then
/// [`recover`](Self::recover); or take the lock as it is ([`into_lock`](Self::into_lock)),
/// and the next owner is told too.
///
/// # Examples
///
/// ```
/// fn take(m: &guard_os::IpcMutex) -> guard_os::Result<guard_os::IpcLock<'_>> {
///     match m.lock() {
///         Err(guard_os::LockError::OwnerDied(died)) => {
///             // ... check and repair what the dead holder left half-done ...
///             died.recover()
///         }
///         other => other.map_err(guard_os::Error::from),
///     }
/// }
/// let m = guard_os::IpcMutex::open("doc-owner-died")?;
/// take(&m)?.unlock()?;
/// # Ok::<(), guard_os::Error>(())
/// ```
pub struct OwnerDied<'a> {
    lock: IpcLock<'a>,
    pid: u32,
}

impl<'a> OwnerDied<'a> {
    /// The pid of the holder that died, or of the process whose thread panicked holding
    /// the lock (see the type-level example).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The lock, still poisoned: the next owner is told too, until one calls
    /// [`IpcLock::mark_consistent`] (see [`IpcLock::is_poisoned`]'s example).
    pub fn into_lock(self) -> IpcLock<'a> {
        self.lock
    }

    /// Marks the state consistent and returns the lock (see the type-level example).
    ///
    /// # Errors
    ///
    /// [`Error::Lock`] if the owner record cannot be written (the lock is released).
    pub fn recover(self) -> Result<IpcLock<'a>> {
        let mut lock = self.lock;
        lock.mark_consistent()?;
        Ok(lock)
    }
}

impl fmt::Debug for OwnerDied<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerDied")
            .field("pid", &self.pid)
            .field("lock", &self.lock)
            .finish()
    }
}

impl fmt::Display for LockError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(d) => write!(
                f,
                "the holder (pid {}) of the OS mutex `{}` died while holding it",
                d.pid,
                d.lock.mutex.path.display()
            ),
            LockError::Os(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for LockError<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::OwnerDied(_) => None,
            LockError::Os(e) => Some(e),
        }
    }
}

impl From<Error> for LockError<'_> {
    fn from(e: Error) -> Self {
        LockError::Os(e)
    }
}

impl From<LockError<'_>> for Error {
    /// `OwnerDied` becomes [`Error::OwnerDied`]; the lock is released (still poisoned).
    fn from(e: LockError<'_>) -> Error {
        match e {
            LockError::Os(e) => e,
            LockError::OwnerDied(d) => {
                let path = d.lock.mutex.path.clone();
                let pid = d.pid;
                let died = Error::OwnerDied { path, pid };
                match d.lock.unlock() {
                    Ok(()) => died,
                    Err(e) => Error::Release {
                        first: Box::new(died),
                        rest: vec![e],
                    },
                }
            }
        }
    }
}

//! [`IpcLock`], the unique acquisition, and what `lock` returns when a holder died.

use super::lock_file::{LockFile, OPS};
use crate::error::{Error, Result};
use crate::sys::{self, Locked};
use guard_core::census::Origin;
use guard_core::{Kind, Resource, UniqueResource};
use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// An acquisition of an [`IpcMutex`](crate::IpcMutex). Unique: enter it in a
/// [`scope`](guard_core::scope) (or call [`unlock`](Self::unlock)); its release records
/// "free" and unlocks. Dropped without release, it unlocks at once anyway and the drop is
/// reported ([`guard_core::report::unreleased`]). Not `Send`: the thread that locked the
/// mutex unlocks it.
///
/// Released while its thread panics (dropped during unwinding, or by its scope's guard),
/// it poisons the mutex, as std's `Mutex` does: the next owner gets
/// [`LockError::OwnerDied`] (with this process's pid) until one takes it with
/// [`IpcMutex::lock_poisoned`](crate::IpcMutex::lock_poisoned) and calls
/// [`mark_consistent`](Self::mark_consistent).
///
/// # Examples
///
/// ```
/// let name = format!("doc-lock-{}", std::process::id());
/// let m = guard_os::IpcMutex::open(&name)?;
/// let held = m.try_lock().map_err(guard_os::Error::from)?.expect("free");
/// assert!(m.try_lock().map_err(guard_os::Error::from)?.is_none()); // held
/// held.unlock()?;
/// # m.close()?;
/// # guard_os::IpcMutex::remove(&name)?;
/// # Ok::<(), guard_os::Error>(())
/// ```
///
/// An acquisition borrows its handle, so the handle cannot be released while locked:
///
/// ```compile_fail,E0597
/// let lock = {
///     let m = guard_os::IpcMutex::open_path("/nonexistent/doc-outlive").unwrap();
///     m.lock().unwrap() // error: `m` does not live long enough
/// };
/// ```
///
/// And it stays on the thread that locked it:
///
/// ```compile_fail,E0277
/// fn send<T: Send>(_: T) {}
/// let m = guard_os::IpcMutex::open_path("/nonexistent/doc-send").unwrap();
/// send(m.lock().unwrap()); // error: `*const ()` cannot be sent between threads safely
/// ```
pub struct IpcLock<'a> {
    file: &'a LockFile,
    poisoned: bool,
    /// The pid of the holder that died or panicked, while poisoned.
    dead: u32,
    /// The thread was panicking when it took the lock: its release then does not poison
    /// (as std's `Mutex`).
    panicking: bool,
    held: bool,
    site: &'static Location<'static>,
    /// A pthread mutex is unlocked by the thread that locked it.
    _thread: PhantomData<*const ()>,
}

impl<'a> IpcLock<'a> {
    /// True while the state is poisoned: a holder died or panicked holding the lock and
    /// nobody has marked the state consistent since. Only a lock from
    /// [`IpcMutex::lock_poisoned`](crate::IpcMutex::lock_poisoned) can be poisoned
    /// ([`IpcMutex::lock`](crate::IpcMutex::lock) reports the death instead).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-is-poisoned-{}", std::process::id());
    /// let m = guard_os::IpcMutex::open(&name)?;
    /// let lock = m.lock_poisoned()?;
    /// if lock.is_poisoned() {
    ///     // repair, then `mark_consistent`; or leave it for the next owner
    /// }
    /// lock.unlock()?;
    /// # m.close()?;
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Declares the protected state repaired: later owners are no longer told that a
    /// holder died or panicked (unless another one does).
    ///
    /// # Errors
    ///
    /// [`Error::Lock`] if the lock file no longer holds a lock page (it was rewritten since
    /// the open); the state is left as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-mark-consistent-{}", std::process::id());
    /// let m = guard_os::IpcMutex::open(&name)?;
    /// let mut lock = m.lock_poisoned()?;
    /// // ... repair the shared state ...
    /// lock.mark_consistent()?;
    /// assert!(!lock.is_poisoned());
    /// lock.unlock()?;
    /// # m.close()?;
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn mark_consistent(&mut self) -> Result<()> {
        self.file.check_magic()?;
        let page = &self.file.page;
        page.poisoned.store(0, Ordering::Relaxed);
        page.dead.store(0, Ordering::Relaxed);
        self.poisoned = false;
        self.dead = 0;
        Ok(())
    }

    /// Unlocks now: records "free" in the owner record, then
    /// [`pthread_mutex_unlock(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_unlock.3p.html)
    /// (`flock(LOCK_UN)` on macOS and FreeBSD).
    ///
    /// # Errors
    ///
    /// [`Error::Lock`] if `pthread_mutex_unlock` fails (the lock file was rewritten under
    /// the lock).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-unlock-{}", std::process::id());
    /// let m = guard_os::IpcMutex::open(&name)?;
    /// let held = m.lock().map_err(guard_os::Error::from)?;
    /// held.unlock()?;
    /// assert!(m.try_lock().map_err(guard_os::Error::from)?.is_some()); // free again
    /// # m.close()?;
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[inline]
    pub fn unlock(mut self) -> Result<()> {
        self.finish()
    }

    /// Takes the mutex in `file` (waiting for it if `wait`, else `Ok(None)` if it is held,
    /// by this thread too) and records "held, by this process". A holder that died with
    /// its record written poisons the state; one that died before writing it had not
    /// started on the protected state, and is not reported.
    #[inline]
    pub(super) fn acquire(
        file: &'a LockFile,
        wait: bool,
        site: &'static Location<'static>,
    ) -> Result<Option<IpcLock<'a>>> {
        file.check_magic()?;
        let page = &file.page;
        let got = file.lock(wait).map_err(|e| {
            let op = if e.raw_os_error() == Some(sys::EDEADLK) {
                "locking it again from the thread that holds it"
            } else {
                OPS.lock
            };
            file.error(op, e)
        })?;
        match got {
            Locked::Busy => return Ok(None),
            Locked::Yes => {}
            Locked::OwnerDied => {
                let dead = page.holder.load(Ordering::Relaxed);
                if dead != 0 {
                    page.dead.store(dead, Ordering::Relaxed);
                    page.poisoned.store(1, Ordering::Relaxed);
                }
                // At once, so the mutex stays usable whatever this owner does; the poison
                // lives in the owner record.
                if let Err(e) = file.make_consistent() {
                    let _ = file.unlock();
                    return Err(file.error(OPS.consistent, e));
                }
            }
        }
        page.holder.store(sys::cached_pid(), Ordering::Relaxed);
        Ok(Some(IpcLock {
            file,
            poisoned: page.poisoned.load(Ordering::Relaxed) != 0,
            dead: page.dead.load(Ordering::Relaxed),
            panicking: std::thread::panicking(),
            held: true,
            site,
            _thread: PhantomData,
        }))
    }

    /// The lock if the state is clean; else unlocks and reports the death.
    #[inline]
    pub(super) fn checked(mut self) -> std::result::Result<IpcLock<'a>, LockError> {
        if !self.poisoned {
            return Ok(self);
        }
        let died = OwnerDied {
            path: self.file.path.clone(),
            pid: self.dead,
        };
        self.panicking = true; // giving it back is no panic of this holder's
        self.finish()?;
        Err(LockError::OwnerDied(died))
    }

    /// Records "free" (and poisoned if the thread panics while holding the lock), then
    /// unlocks.
    #[inline]
    fn finish(&mut self) -> Result<()> {
        if !std::mem::replace(&mut self.held, false) {
            return Ok(());
        }
        let page = &self.file.page;
        if !self.panicking && std::thread::panicking() {
            page.dead.store(sys::cached_pid(), Ordering::Relaxed);
            page.poisoned.store(1, Ordering::Relaxed);
        }
        page.holder.store(0, Ordering::Relaxed);
        self.file
            .unlock()
            .map_err(|e| self.file.error(OPS.unlock, e))
    }
}

impl Resource for IpcLock<'_> {
    type Error = Error;
    /// Same as [`IpcLock::unlock`].
    #[inline]
    fn release(mut self) -> Result<()> {
        self.finish()
    }

    fn created(&self) -> Option<guard_core::Created> {
        Some(guard_core::Created::new(self.site, "acquired"))
    }
}

impl UniqueResource for IpcLock<'_> {}

impl Drop for IpcLock<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.held {
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
            .field("path", &self.file.path)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

/// Why [`IpcMutex::lock`](crate::IpcMutex::lock) did not return a lock. Owns everything it
/// says (no borrow of the mutex), so `?` takes it into [`Error`], `guard_core::Error`,
/// `Box<dyn Error + Send + Sync>` or anyhow.
///
/// # Examples
///
/// ```
/// use guard_os::LockError;
/// let name = format!("doc-lock-error-{}", std::process::id());
/// let m = guard_os::IpcMutex::open(&name)?;
/// let lock = match m.lock() {
///     Ok(lock) => lock,
///     Err(LockError::OwnerDied(died)) => {
///         eprintln!("pid {} died holding the lock; repairing", died.pid());
///         let mut lock = m.lock_poisoned()?;
///         // ... repair the shared state ...
///         lock.mark_consistent()?;
///         lock
///     }
///     Err(LockError::Os(e)) => return Err(e.into()),
/// };
/// lock.unlock()?;
///
/// fn boxed(m: &guard_os::IpcMutex) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     Ok(m.lock()?.unlock()?)
/// }
/// boxed(&m)?;
/// # m.close()?;
/// # guard_os::IpcMutex::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Debug)]
pub enum LockError {
    /// A previous holder died (or panicked) holding the lock, and nobody has marked the
    /// state consistent since. The lock is not held: take it with
    /// [`IpcMutex::lock_poisoned`](crate::IpcMutex::lock_poisoned) to repair the state.
    OwnerDied(OwnerDied),
    /// The OS refused, or the lock file is no longer a lock file (the lock is not held).
    Os(Error),
}

/// A holder died holding the lock (like `EOWNERDEAD`), or a thread panicked holding it
/// (like std's poisoning): who, and which mutex. Take the lock with
/// [`IpcMutex::lock_poisoned`](crate::IpcMutex::lock_poisoned), repair the shared state,
/// then [`IpcLock::mark_consistent`]; until then every owner is told.
///
/// # Examples
///
/// ```
/// fn take(m: &guard_os::IpcMutex) -> guard_os::Result<guard_os::IpcLock<'_>> {
///     match m.lock() {
///         Err(guard_os::LockError::OwnerDied(died)) => {
///             eprintln!("{} died holding {}", died.pid(), died.path().display());
///             let mut lock = m.lock_poisoned()?;
///             // ... check and repair what the dead holder left half-done ...
///             lock.mark_consistent()?;
///             Ok(lock)
///         }
///         other => other.map_err(guard_os::Error::from),
///     }
/// }
/// let name = format!("doc-owner-died-{}", std::process::id());
/// let m = guard_os::IpcMutex::open(&name)?;
/// take(&m)?.unlock()?;
/// # m.close()?;
/// # guard_os::IpcMutex::remove(&name)?;
/// # Ok::<(), guard_os::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OwnerDied {
    path: PathBuf,
    pid: u32,
}

impl OwnerDied {
    /// The pid of the holder that died, or of the process whose thread panicked holding
    /// the lock (see the type-level example).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The lock file of the mutex (see the type-level example).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(d) => write!(
                f,
                "the holder (pid {}) of the OS mutex `{}` died while holding it",
                d.pid,
                d.path.display()
            ),
            LockError::Os(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::OwnerDied(_) => None,
            LockError::Os(e) => e.source(),
        }
    }
}

impl From<Error> for LockError {
    fn from(e: Error) -> Self {
        LockError::Os(e)
    }
}

impl From<LockError> for Error {
    /// `OwnerDied` becomes [`Error::OwnerDied`].
    fn from(e: LockError) -> Error {
        match e {
            LockError::Os(e) => e,
            LockError::OwnerDied(d) => Error::OwnerDied {
                path: d.path,
                pid: d.pid,
            },
        }
    }
}

/// So that `?` on a lock works in code returning guard's umbrella error.
///
/// # Examples
///
/// ```
/// fn locked(m: &guard_os::IpcMutex) -> Result<(), guard_core::Error> {
///     Ok(m.lock()?.unlock()?)
/// }
/// let name = format!("doc-lock-core-{}", std::process::id());
/// let m = guard_os::IpcMutex::open(&name)?;
/// locked(&m)?;
/// # m.close()?;
/// # guard_os::IpcMutex::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl From<LockError> for guard_core::Error {
    fn from(e: LockError) -> Self {
        Error::from(e).into()
    }
}

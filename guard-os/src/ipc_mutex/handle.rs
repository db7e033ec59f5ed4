//! [`IpcMutex`], the counted handle, and the owner record in its lock file.

use super::lock::{IpcLock, LockError};
use super::lock_file::LockFile;
use crate::error::{Error, Result};
use crate::fd::counted_fd;
use parking_lot::Mutex;
use std::fmt;
use std::panic::Location;
use std::path::{Path, PathBuf};

/// The handle to a named mutex shared between processes: an open lock file. Counted (it
/// only holds a number; the OS reclaims it at exit): share it with
/// [`Counted`](guard_core::Counted). Acquisitions borrow it, so it cannot be released while
/// locked.
///
/// # Guarantees
///
/// The lock is an exclusive `flock(2)` on the lock file plus an in-process mutex, so it
/// excludes threads and processes alike, and only this handle's release or its holder's
/// death drops it. A holder's death, or a panic while holding it, poisons the state: the
/// next owner gets [`LockError::OwnerDied`] until one calls
/// [`IpcLock::mark_consistent`] (or [`OwnerDied::recover`](crate::OwnerDied::recover)).
/// `open` refuses a symlink at the path and a file that is not a lock file. Keep lock
/// files on a local filesystem (the default directory is `/dev/shm`).
///
/// # Examples
///
/// ```
/// let m = guard_core::Counted::new(guard_os::IpcMutex::open("doc-example")?);
/// guard_core::scope(|s| {
///     let held = s.enter(m.lock().map_err(guard_os::Error::from)?);
///     assert!(!held.is_poisoned());
///     // ... the state shared with other processes ...
///     Ok::<_, guard_os::Error>(())
/// })?; // unlocked here
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IpcMutex {
    file: LockFile,
    local: Mutex<()>,
}

impl IpcMutex {
    /// Opens (creating if needed, mode `0o600`) the mutex `name`: the lock file
    /// `guard-mutex.NAME` in `/dev/shm`, or in the temp dir where there is no `/dev/shm`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for an empty name, one over 200 bytes or one with `/` or NUL;
    /// otherwise as [`open_path`](Self::open_path).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_os::IpcMutex::open("doc-open")?; // every process opening "doc-open" shares it
    /// assert!(m.path().ends_with("guard-mutex.doc-open"));
    /// let bad = guard_os::IpcMutex::open("a/b").unwrap_err();
    /// assert!(matches!(bad, guard_os::Error::InvalidName { .. }));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn open(name: &str) -> Result<IpcMutex> {
        let site = Location::caller();
        let bad = |reason| Error::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() || name.len() > 200 {
            return Err(bad("it must be 1 to 200 bytes long"));
        }
        if name.contains(['/', '\0']) {
            return Err(bad("it must not contain `/` or NUL"));
        }
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        IpcMutex::open_at(dir.join(format!("guard-mutex.{name}")), site)
    }

    /// Opens (creating if needed, mode `0o600`) the mutex whose lock file is `path`. Every
    /// process using the same path shares the mutex. The path is opened with
    /// [`O_NOFOLLOW`](https://man7.org/linux/man-pages/man2/open.2.html): a symlink there is
    /// refused, not followed.
    ///
    /// # Errors
    ///
    /// [`Error::Open`] if the file cannot be opened: `ELOOP` if `path` is a symlink. And
    /// [`Error::Lock`] (with an [`InvalidData`](std::io::ErrorKind::InvalidData) source
    /// saying "not a guard lock file") if the file is not empty and does not start with an
    /// owner record: it is left unchanged. Also if reading it fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join("guard-os-doc-open-path.lock");
    /// let a = guard_os::IpcMutex::open_path(&path)?;
    /// let b = guard_os::IpcMutex::open_path(&path)?; // another handle to the same mutex
    /// let held = a.lock().map_err(guard_os::Error::from)?;
    /// assert!(b.try_lock().map_err(guard_os::Error::from)?.is_none());
    /// held.unlock()?;
    ///
    /// let not_a_lock = std::env::temp_dir().join("guard-os-doc-open-path.txt");
    /// std::fs::write(&not_a_lock, "precious")?;
    /// let err = guard_os::IpcMutex::open_path(&not_a_lock).unwrap_err();
    /// assert!(matches!(err, guard_os::Error::Lock { .. }), "{err}");
    /// assert_eq!(std::fs::read(&not_a_lock)?, b"precious"); // untouched
    /// # std::fs::remove_file(&not_a_lock)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn open_path(path: impl AsRef<Path>) -> Result<IpcMutex> {
        IpcMutex::open_at(path.as_ref().to_owned(), Location::caller())
    }

    fn open_at(path: PathBuf, site: &'static Location<'static>) -> Result<IpcMutex> {
        Ok(IpcMutex {
            file: LockFile::open(path, site)?,
            local: Mutex::new(()),
        })
    }

    /// The lock file (see [`open`](Self::open)'s example).
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Closes the handle now, instead of on the finalizer (or at the drop). It cannot be
    /// locked then: an acquisition borrows the handle. The lock file stays.
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_os::IpcMutex::open("doc-close")?;
    /// m.close()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn close(self) -> Result<()> {
        self.file.fd.close()
    }

    /// Waits for the mutex and acquires it.
    ///
    /// Not re-entrant, like std's `Mutex::lock`: a thread that already holds this mutex
    /// (through this handle, or another `IpcMutex` for the same file: `flock` excludes
    /// open files, not processes) waits for itself forever. Use
    /// [`try_lock`](Self::try_lock) where that can happen.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (holding the lock) if a previous holder died or panicked
    /// while holding it and nobody marked the state consistent since; [`LockError::Os`] if
    /// `flock` or the owner record failed, or the file is no longer a lock file (the lock
    /// is not held then).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_os::IpcMutex::open("doc-lock-wait")?;
    /// let held = match m.lock() {
    ///     Ok(held) => held,
    ///     Err(guard_os::LockError::OwnerDied(died)) => died.recover()?, // see OwnerDied
    ///     Err(guard_os::LockError::Os(e)) => return Err(e),
    /// };
    /// held.unlock()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn lock(&self) -> std::result::Result<IpcLock<'_>, LockError<'_>> {
        let site = Location::caller();
        let local = self.local.lock();
        match IpcLock::acquire(&self.file, local, true, site)? {
            Some(lock) => lock.checked(),
            None => unreachable!("a blocking flock does not report contention"),
        }
    }

    /// Acquires the mutex if it is free now; `Ok(None)` if another thread or process holds
    /// it.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = guard_os::IpcMutex::open("doc-try-lock")?;
    /// if let Some(held) = m.try_lock().map_err(guard_os::Error::from)? {
    ///     // ... nobody else holds it ...
    ///     held.unlock()?;
    /// }
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn try_lock(&self) -> std::result::Result<Option<IpcLock<'_>>, LockError<'_>> {
        let site = Location::caller();
        let Some(local) = self.local.try_lock() else {
            return Ok(None);
        };
        match IpcLock::acquire(&self.file, local, false, site)? {
            Some(lock) => lock.checked().map(Some),
            None => Ok(None),
        }
    }
}

counted_fd!(release IpcMutex);

impl fmt::Debug for IpcMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcMutex")
            .field("path", &self.file.path)
            .finish_non_exhaustive()
    }
}

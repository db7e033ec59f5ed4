//! [`IpcMutex`], the counted handle: opening a lock file by name or path, and locking.

use super::lock::{IpcLock, LockError};
use super::lock_file::{LockFile, lock_error};
use crate::error::{Error, Result};
use crate::fd::counted_fd;
use crate::sys;
use std::fmt;
use std::panic::Location;
use std::path::{Path, PathBuf};

/// The longest name [`IpcMutex::open`] takes, in bytes (with the `guard-mutex.` prefix,
/// the file name stays under the usual 255-byte limit).
const MAX_NAME: usize = 200;

/// The handle to a named mutex shared between processes: an open, mapped lock file.
/// Counted (it only holds a number and a mapping; the OS reclaims them at exit): share it
/// with [`Counted`](guard_core::Counted). Acquisitions borrow it, so it cannot be released
/// while locked.
///
/// # Guarantees
///
/// The lock is a robust, process-shared pthread mutex in the lock file's shared mapping,
/// so it excludes threads and processes alike; only its holder's unlock or death frees
/// it. A holder's death, or a panic while holding it, poisons the state: the next owner
/// gets [`LockError::OwnerDied`] naming the holder's pid, until one takes the lock with
/// [`lock_poisoned`](Self::lock_poisoned) and calls [`IpcLock::mark_consistent`].
///
/// On macOS and FreeBSD (no robust pthread mutex there) the lock is the lock file's
/// [`flock(2)`](https://man.freebsd.org/cgi/man.cgi?query=flock&sektion=2), which the
/// kernel drops at its holder's death, taken after this process's threads take turns on
/// it: the same guarantees (a death or panic poisons, `EDEADLK` for a thread locking
/// again), at the cost of two syscalls per lock; a child forked without `exec` cannot lock
/// its parent's handle there (open the mutex again in the child).
///
/// `open` trusts only a lock file that belongs to this process's effective uid (or root)
/// and that group and others cannot write, checked on the opened file: anything else is
/// refused ([`Error::UntrustedLockFile`]) before it is locked, waited on or read. It
/// refuses a symlink at the path and a file that is not a lock file. Every process of
/// the lock file's uid can change the mutex: it is a lock among cooperating processes of
/// one user, not a defence against that user. Keep lock files on a local filesystem.
///
/// # Examples
///
/// ```
/// let name = format!("doc-example-{}", std::process::id());
/// let m = guard_core::Counted::new(guard_os::IpcMutex::open(&name)?);
/// guard_core::scope(|s| {
///     let held = s.enter(m.lock()?);
///     assert!(!held.is_poisoned());
///     // ... the state shared with other processes ...
///     Ok::<_, guard_os::Error>(())
/// })?; // unlocked here
/// # guard_os::IpcMutex::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IpcMutex {
    file: LockFile,
}

impl IpcMutex {
    /// Opens (creating if needed, mode `0o600`) the mutex `name`: the lock file
    /// [`path_of(name)`](Self::path_of). Every process of this user opening `name` shares
    /// the mutex.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] as [`path_of`](Self::path_of); otherwise as
    /// [`open_path`](Self::open_path).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-open-{}", std::process::id());
    /// let m = guard_os::IpcMutex::open(&name)?; // every process opening `name` shares it
    /// assert!(m.path().ends_with(format!("guard-mutex.{name}")));
    /// let bad = guard_os::IpcMutex::open("a/b").unwrap_err();
    /// assert!(matches!(bad, guard_os::Error::InvalidName { .. }));
    /// # m.close()?;
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn open(name: &str) -> Result<IpcMutex> {
        let site = Location::caller();
        IpcMutex::open_at(IpcMutex::path_of(name)?, site)
    }

    /// The lock file of the mutex `name`: `guard-mutex.NAME` in a per-user directory
    /// nobody else can put files in (one that belongs to this process's effective uid, with
    /// mode `0700`): `$XDG_RUNTIME_DIR` when it is set to an absolute path of such a
    /// directory; on macOS else the user's temporary directory
    /// (`confstr(_CS_DARWIN_USER_TEMP_DIR)`). Otherwise in `/dev/shm` (Linux), else in the
    /// temp dir. In the shared directories, [`open`](Self::open) refuses a file another user
    /// put there ([`Error::UntrustedLockFile`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name that is empty, longer than 200 bytes, `.` or
    /// `..`, or has `/` or NUL in it.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = guard_os::IpcMutex::path_of("jobs")?;
    /// assert_eq!(path.file_name().unwrap(), "guard-mutex.jobs");
    /// assert!(guard_os::IpcMutex::path_of("..").is_err());
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn path_of(name: &str) -> Result<PathBuf> {
        let bad = |reason| Error::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(bad("it must be 1 to 200 bytes long"));
        }
        if name.contains(['/', '\0']) {
            return Err(bad("it must not contain `/` or NUL"));
        }
        if name == "." || name == ".." {
            return Err(bad("it must not be `.` or `..`"));
        }
        Ok(lock_dir().join(format!("guard-mutex.{name}")))
    }

    /// Removes the lock file of the mutex `name` ([`path_of`](Self::path_of)). Processes
    /// that have it open keep using the removed file; a later [`open`](Self::open) creates
    /// a new one, a different mutex: remove a lock file only when nothing uses it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] as [`path_of`](Self::path_of); [`Error::Lock`] if
    /// [`unlink(2)`](https://man7.org/linux/man-pages/man2/unlink.2.html) fails (`ENOENT` if
    /// there is no such file).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-remove-{}", std::process::id());
    /// guard_os::IpcMutex::open(&name)?.close()?;
    /// guard_os::IpcMutex::remove(&name)?;
    /// assert!(!guard_os::IpcMutex::path_of(&name)?.exists());
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn remove(name: &str) -> Result<()> {
        let path = IpcMutex::path_of(name)?;
        std::fs::remove_file(&path).map_err(|e| lock_error("removing the lock file", &path, e))
    }

    /// Opens (creating if needed, mode `0o600`) the mutex whose lock file is `path`. Every
    /// process using the same path shares the mutex. The path is opened with
    /// [`O_NOFOLLOW`](https://man7.org/linux/man-pages/man2/open.2.html): a symlink there is
    /// refused, not followed.
    ///
    /// # Errors
    ///
    /// [`Error::UntrustedLockFile`] if the file belongs to another user (not root), or
    /// group or others may write it: nothing else is done with it. [`Error::Open`] if the
    /// file cannot be opened: `ELOOP` if `path` is a symlink. [`Error::Lock`] (with an
    /// [`InvalidData`](std::io::ErrorKind::InvalidData) source saying "not a guard lock
    /// file") if the file is not empty and not a lock file: it is left unchanged. Also if
    /// checking, mapping or initialising it fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("doc-open-path-{}.lock", std::process::id()));
    /// let a = guard_os::IpcMutex::open_path(&path)?;
    /// let b = guard_os::IpcMutex::open_path(&path)?; // another handle to the same mutex
    /// let held = a.lock()?;
    /// assert!(b.try_lock()?.is_none());
    /// held.unlock()?;
    ///
    /// let not_a_lock = path.with_extension("txt");
    /// std::fs::write(&not_a_lock, "precious")?;
    /// let err = guard_os::IpcMutex::open_path(&not_a_lock).unwrap_err();
    /// assert!(matches!(err, guard_os::Error::Lock { .. }), "{err}");
    /// assert_eq!(std::fs::read(&not_a_lock)?, b"precious"); // untouched
    /// # std::fs::remove_file(&not_a_lock)?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn open_path(path: impl AsRef<Path>) -> Result<IpcMutex> {
        IpcMutex::open_at(path.as_ref().to_owned(), Location::caller())
    }

    fn open_at(path: PathBuf, site: &'static Location<'static>) -> Result<IpcMutex> {
        Ok(IpcMutex {
            file: LockFile::open(path, site)?,
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
    /// let path = std::env::temp_dir().join(format!("doc-close-{}.lock", std::process::id()));
    /// let m = guard_os::IpcMutex::open_path(&path)?;
    /// m.close()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(self) -> Result<()> {
        self.file.fd.close()
    }

    /// Waits for the mutex and acquires it
    /// ([`pthread_mutex_lock(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html);
    /// `flock(LOCK_EX)` on macOS and FreeBSD).
    ///
    /// Not re-entrant: a thread that already holds this mutex (through this handle or any
    /// other for the same file) gets an error, not a deadlock.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] if a previous holder died or panicked while holding it and
    /// nobody marked the state consistent since (the lock is not held then: see
    /// [`lock_poisoned`](Self::lock_poisoned)). [`LockError::Os`] with [`Error::Lock`] if
    /// this thread holds the mutex already (`EDEADLK`), the mutex is unusable
    /// (`ENOTRECOVERABLE`), or the file is no longer a lock file.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-lock-wait-{}", std::process::id());
    /// let m = guard_os::IpcMutex::open(&name)?;
    /// let held = match m.lock() {
    ///     Ok(held) => held,
    ///     Err(guard_os::LockError::OwnerDied(_)) => m.lock_poisoned()?, // see OwnerDied
    ///     Err(guard_os::LockError::Os(e)) => return Err(e),
    /// };
    /// assert!(m.lock().is_err()); // this thread holds it: an error, not a hang
    /// held.unlock()?;
    /// # m.close()?;
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> std::result::Result<IpcLock<'_>, LockError> {
        let site = Location::caller();
        match IpcLock::acquire(&self.file, true, site)? {
            Some(lock) => lock.checked(),
            None => unreachable!("a blocking lock does not report contention"),
        }
    }

    /// Acquires the mutex if it is free now; `Ok(None)` if a thread (this one included) or
    /// process holds it
    /// ([`pthread_mutex_trylock(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_trylock.3p.html);
    /// `flock(LOCK_EX | LOCK_NB)` on macOS and FreeBSD).
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock), but for `EDEADLK`.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-try-lock-{}", std::process::id());
    /// let m = guard_os::IpcMutex::open(&name)?;
    /// if let Some(held) = m.try_lock()? {
    ///     // ... nobody else holds it ...
    ///     held.unlock()?;
    /// }
    /// # m.close()?;
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> std::result::Result<Option<IpcLock<'_>>, LockError> {
        let site = Location::caller();
        match IpcLock::acquire(&self.file, false, site)? {
            Some(lock) => lock.checked().map(Some),
            None => Ok(None),
        }
    }

    /// Waits for the mutex and acquires it whether or not the state is poisoned (as std's
    /// `PoisonError::into_inner`): the way to repair the state after
    /// [`LockError::OwnerDied`]. Check [`IpcLock::is_poisoned`], repair, then
    /// [`IpcLock::mark_consistent`]; unlocked without it, the state stays poisoned and the
    /// next owner is told too.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock), but never `OwnerDied`.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("doc-lock-poisoned-{}", std::process::id());
    /// let m = guard_os::IpcMutex::open(&name)?;
    /// let mut held = m.lock_poisoned()?;
    /// if held.is_poisoned() {
    ///     // ... repair what the dead holder left half-done ...
    ///     held.mark_consistent()?;
    /// }
    /// held.unlock()?;
    /// # m.close()?;
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn lock_poisoned(&self) -> Result<IpcLock<'_>> {
        let site = Location::caller();
        match IpcLock::acquire(&self.file, true, site)? {
            Some(lock) => Ok(lock),
            None => unreachable!("a blocking lock does not report contention"),
        }
    }
}

/// `$XDG_RUNTIME_DIR` or the OS's per-user directory if it is a private directory of this
/// user, else `/dev/shm`, else the temp dir (see [`IpcMutex::path_of`]).
fn lock_dir() -> PathBuf {
    let private = |dir: &Path| {
        dir.is_absolute()
            && sys::owner_of_path(dir)
                .is_ok_and(|o| o.dir && o.uid == sys::euid() && o.mode & 0o777 == 0o700)
    };
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    if let Some(dir) = xdg.into_iter().chain(sys::user_dir()).find(|d| private(d)) {
        return dir;
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
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

//! The lock file of an [`IpcMutex`](crate::IpcMutex): its registered fd, its path, the
//! shared mapping of its page (the magic word, the owner record, on Linux the robust
//! mutex), and the lock itself (on macOS and FreeBSD the file's `flock`: `flock.rs`).
//!
//! A lock file is trusted only if it belongs to this process's effective uid (or root) and
//! group and others cannot write it, checked with `fstat` on the opened fd; a new (empty)
//! file is initialised under its `flock`, the magic word written last (a file that has its
//! magic word needs no `flock` to open: on macOS and FreeBSD the `flock` is the mutex).

use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner, retry_on_pressure};
use crate::sys::{self, LOCK_PAGE_LEN, LockMap, Locked, Owner};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// The magic word, with the format's version in its last byte.
pub(super) const MAGIC: u64 = u64::from_le_bytes(*b"guardmx\x02");

/// An open, trusted lock file: the fd (registered as owned by an
/// [`IpcMutex`](crate::IpcMutex)), the path it was opened at, and its page.
pub(super) struct LockFile {
    pub(super) fd: Fd,
    pub(super) path: PathBuf,
    pub(super) page: LockMap,
    /// The turns of this process's threads at the file's `flock`.
    #[cfg(not(target_os = "linux"))]
    turns: std::sync::Arc<super::flock::Turns>,
}

/// The calls behind the lock, as its errors name them.
pub(super) struct Ops {
    pub(super) lock: &'static str,
    pub(super) consistent: &'static str,
    pub(super) unlock: &'static str,
}

#[cfg(target_os = "linux")]
pub(super) const OPS: Ops = Ops {
    lock: "pthread_mutex_lock",
    consistent: "pthread_mutex_consistent",
    unlock: "pthread_mutex_unlock",
};

#[cfg(not(target_os = "linux"))]
pub(super) const OPS: Ops = Ops {
    lock: "flock",
    consistent: "flock",
    unlock: "flock(LOCK_UN)",
};

impl LockFile {
    /// Opens (creating if needed, mode `0o600`, never through a symlink) the lock file at
    /// `path`: refuses a file it cannot trust ([`Error::UntrustedLockFile`]) or that is not a
    /// lock file, and initialises a new one.
    pub(super) fn open(path: PathBuf, site: &'static Location<'static>) -> Result<LockFile> {
        let owned = match retry_on_pressure(|| sys::open_lock_file(&path)) {
            Ok(fd) => fd,
            Err(source) => {
                // Another user's 0600 file: say whose it is rather than "permission denied".
                if source.kind() == io::ErrorKind::PermissionDenied
                    && let Some(refusal) = untrusted_at(&path)
                {
                    return Err(refusal);
                }
                return Err(Error::Open { path, source });
            }
        };
        let owner = sys::owner(&owned).map_err(|e| lock_error("fstat", &path, e))?;
        trust(&path, owner, sys::euid())?;
        if !owner.regular {
            return Err(not_a_lock_file(&path, "it is not a regular file"));
        }
        let page = match map_ready(&owned, &path, owner)? {
            Some(page) => page,
            None => {
                // Only while checking and initialising a new file (no holder can hold a
                // file without its magic word): on Linux the flock never guards the mutex.
                sys::flock_exclusive(&owned, true).map_err(|e| lock_error("flock", &path, e))?;
                let page = map_checked(&owned, &path);
                let unlocked =
                    sys::flock_unlock(&owned).map_err(|e| lock_error("flock(LOCK_UN)", &path, e));
                let page = page?;
                unlocked?;
                page
            }
        };
        Ok(LockFile {
            fd: Fd::register(owned, FdOwner::IpcMutex, site),
            path,
            page,
            #[cfg(not(target_os = "linux"))]
            turns: super::flock::Turns::of(owner.id),
        })
    }
}

/// The lock on Linux: the robust pthread mutex in the page.
#[cfg(target_os = "linux")]
impl LockFile {
    /// Takes the lock (waiting for it if `wait`); `OwnerDied` if its holder died holding it.
    #[inline]
    pub(super) fn lock(&self, wait: bool) -> io::Result<Locked> {
        self.page.mutex.lock(wait)
    }

    /// After `OwnerDied`: makes the mutex usable again (`pthread_mutex_consistent`).
    pub(super) fn make_consistent(&self) -> io::Result<()> {
        self.page.mutex.make_consistent()
    }

    /// Gives the lock back.
    #[inline]
    pub(super) fn unlock(&self) -> io::Result<()> {
        self.page.mutex.unlock()
    }
}

/// The lock on macOS and FreeBSD: the file's `flock`, after this process's turn.
#[cfg(not(target_os = "linux"))]
impl LockFile {
    /// Takes the lock (waiting for it if `wait`); `OwnerDied` if its holder died holding
    /// it: its owner record is still set (the kernel dropped its `flock`).
    #[inline]
    pub(super) fn lock(&self, wait: bool) -> io::Result<Locked> {
        self.turns.lock(&self.fd, wait, &self.page.holder)
    }

    /// After `OwnerDied`: nothing to do, a `flock` stays usable.
    pub(super) fn make_consistent(&self) -> io::Result<()> {
        Ok(())
    }

    /// Gives the lock back.
    #[inline]
    pub(super) fn unlock(&self) -> io::Result<()> {
        self.turns.unlock(&self.fd)
    }
}

impl LockFile {
    /// `Ok` if the page still starts with the magic word (the file was not rewritten since
    /// the open).
    #[inline]
    pub(super) fn check_magic(&self) -> Result<()> {
        if self.page.magic.load(Ordering::Acquire) == MAGIC {
            return Ok(());
        }
        Err(not_a_lock_file(&self.path, "its magic word changed"))
    }

    /// An [`Error::Lock`] for `op` on this file.
    pub(super) fn error(&self, op: &'static str, source: io::Error) -> Error {
        lock_error(op, &self.path, source)
    }
}

/// Refuses a file that `owner` says another user could have planted or can change.
fn trust(path: &Path, owner: Owner, euid: u32) -> Result<()> {
    if trusted(owner, euid) {
        return Ok(());
    }
    Err(Error::UntrustedLockFile {
        path: path.to_owned(),
        uid: owner.uid,
        mode: owner.mode,
        expected: euid,
    })
}

fn trusted(owner: Owner, euid: u32) -> bool {
    (owner.uid == euid || owner.uid == 0) && owner.mode & 0o022 == 0
}

/// The refusal for the file at `path` if it is one this process does not trust (looked at
/// without opening it for access, and never through a symlink), else `None`.
fn untrusted_at(path: &Path) -> Option<Error> {
    let owner = sys::owner_at(path).ok()?;
    trust(path, owner, sys::euid()).err()
}

/// The page of the lock file open at `fd` if it is one already (its size and magic word):
/// no initialiser can change it any more. `None` for a file to check and initialise.
fn map_ready(fd: &OwnedFd, path: &Path, owner: Owner) -> Result<Option<LockMap>> {
    if owner.size != LOCK_PAGE_LEN {
        return Ok(None);
    }
    let page = map(fd, path)?;
    Ok((page.magic.load(Ordering::Acquire) == MAGIC).then_some(page))
}

/// Maps the page of the lock file open at `fd` (its `flock` held), initialising an empty
/// file or one whose initialiser died before writing the magic word. Any other file is
/// refused and left unchanged.
fn map_checked(fd: &OwnedFd, path: &Path) -> Result<LockMap> {
    let size = sys::owner(fd)
        .map_err(|e| lock_error("fstat", path, e))?
        .size;
    if size == 0 {
        sys::set_len(fd, LOCK_PAGE_LEN).map_err(|e| lock_error("ftruncate", path, e))?;
        return init(map(fd, path)?, path);
    }
    if size != LOCK_PAGE_LEN {
        return Err(not_a_lock_file(path, "its size is not a lock file's"));
    }
    let page = map(fd, path)?;
    if page.magic.load(Ordering::Acquire) == MAGIC {
        return Ok(page);
    }
    // An initialiser writes the magic word last; one that died left the first 64 bytes
    // (magic, record, reserved) zero.
    let mut head = [0u8; 64];
    let read = sys::pread(fd, &mut head, 0).map_err(|e| lock_error("pread", path, e))?;
    if read == head.len() && head.iter().all(|&b| b == 0) {
        return init(page, path);
    }
    Err(not_a_lock_file(
        path,
        "it does not start with the magic word",
    ))
}

fn map(fd: impl AsFd, path: &Path) -> Result<LockMap> {
    sys::map_lock_page(fd).map_err(|e| lock_error("mmap", path, e))
}

/// Writes a free, clean owner record and a new mutex, then the magic word.
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))] // `path`: for errors on Linux
fn init(page: LockMap, path: &Path) -> Result<LockMap> {
    page.holder.store(0, Ordering::Relaxed);
    page.poisoned.store(0, Ordering::Relaxed);
    page.dead.store(0, Ordering::Relaxed);
    #[cfg(target_os = "linux")]
    page.mutex
        .init()
        .map_err(|e| lock_error("pthread_mutex_init", path, e))?;
    page.magic.store(MAGIC, Ordering::Release);
    Ok(page)
}

fn not_a_lock_file(path: &Path, why: &str) -> Error {
    let why = format!("not a guard lock file: {why} (left unchanged)");
    let source = io::Error::new(io::ErrorKind::InvalidData, why);
    lock_error("checking the lock file", path, source)
}

pub(super) fn lock_error(op: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Lock {
        op,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: u32, mode: u32) -> Owner {
        Owner {
            uid,
            mode,
            regular: true,
            dir: false,
            size: 0,
            id: sys::FileId::default(),
        }
    }

    #[test]
    fn only_the_callers_or_roots_files_not_writable_by_others_are_trusted() {
        assert!(trusted(owner(1000, 0o600), 1000));
        assert!(trusted(owner(0, 0o644), 1000), "root's");
        assert!(!trusted(owner(65534, 0o600), 1000), "another user's");
        assert!(
            !trusted(owner(65534, 0o600), 0),
            "another user's, seen by root"
        );
        assert!(!trusted(owner(1000, 0o620), 1000), "group-writable");
        assert!(!trusted(owner(1000, 0o602), 1000), "writable by others");
    }
}

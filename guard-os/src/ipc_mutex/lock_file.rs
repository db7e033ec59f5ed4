//! The lock file of an [`IpcMutex`](crate::IpcMutex): its registered fd, its path, and the
//! shared mapping of its page (the magic word, the owner record, the robust mutex).
//!
//! A lock file is trusted only if it belongs to this process's effective uid (or root) and
//! group and others cannot write it, checked with `fstat` on the opened fd; a new (empty)
//! file is initialised under its `flock`, the magic word written last.

use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner, retry_on_pressure};
use crate::sys::{self, LOCK_PAGE_LEN, LockMap, Owner};
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
}

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
        // Only while checking and initialising: the flock never guards the mutex itself.
        sys::flock_exclusive(&owned, true).map_err(|e| lock_error("flock", &path, e))?;
        let page = map_checked(&owned, &path);
        let unlocked =
            sys::flock_unlock(&owned).map_err(|e| lock_error("flock(LOCK_UN)", &path, e));
        let page = page?;
        unlocked?;
        Ok(LockFile {
            fd: Fd::register(owned, FdOwner::IpcMutex, site),
            path,
            page,
        })
    }

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
    let fd = sys::open_to_inspect(path).ok()?;
    let owner = sys::owner(&fd).ok()?;
    trust(path, owner, sys::euid()).err()
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
fn init(page: LockMap, path: &Path) -> Result<LockMap> {
    page.holder.store(0, Ordering::Relaxed);
    page.poisoned.store(0, Ordering::Relaxed);
    page.dead.store(0, Ordering::Relaxed);
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

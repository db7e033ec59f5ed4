//! The lock of a lock file where the C library has no robust process-shared mutex (macOS,
//! FreeBSD): the file's [`flock(2)`](https://man.freebsd.org/cgi/man.cgi?query=flock&sektion=2),
//! which the kernel drops when the open file description holding it is closed, at its
//! holder's death too. A holder that died is known by its owner record, still set.
//!
//! `flock` excludes open file descriptions, not threads: the threads of this process take
//! turns on an in-process lock per file first ([`Turns`], keyed by the file's device and
//! inode, so every handle to one file shares it), which also tells a thread that it holds
//! the mutex already (`EDEADLK`, as the error-checking pthread mutex does on Linux).
//!
//! Built on Linux for its tests only: there the lock is the robust pthread mutex.

use crate::sys::{self, FileId, Locked};
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::thread::ThreadId;

/// The turns of this process's threads at one lock file.
#[derive(Debug)]
pub(super) struct Turns {
    /// The process that made it: a child forked without `exec` shares its parent's open
    /// file descriptions, and with them the parent's `flock`.
    pid: u32,
    holder: Mutex<Option<ThreadId>>,
    freed: Condvar,
}

/// The turns of every lock file open in this process.
static FILES: Mutex<BTreeMap<FileId, Weak<Turns>>> = Mutex::new(BTreeMap::new());

impl Turns {
    /// The turns at the file `id`, shared by every handle to it in this process.
    pub(super) fn of(id: FileId) -> Arc<Turns> {
        let pid = sys::cached_pid();
        let mut files = FILES.lock();
        if let Some(turns) = files.get(&id).and_then(Weak::upgrade)
            && turns.pid == pid
        {
            return turns;
        }
        files.retain(|_, turns| turns.strong_count() > 0);
        let turns = Arc::new(Turns {
            pid,
            holder: Mutex::new(None),
            freed: Condvar::new(),
        });
        files.insert(id, Arc::downgrade(&turns));
        turns
    }

    /// Takes this process's turn, then the `flock` of `fd` (waiting for both if `wait`).
    /// `OwnerDied` if the owner record `holder` is still set then: its holder died holding
    /// the lock (the kernel dropped the `flock`, nobody recorded "free"). `Busy` if `!wait`
    /// and either is held; `EDEADLK` if this thread holds it already and `wait`.
    pub(super) fn lock(&self, fd: impl AsFd, wait: bool, holder: &AtomicU32) -> io::Result<Locked> {
        if self.pid != sys::cached_pid() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a child forked without exec shares its parent's flock: open the mutex again",
            ));
        }
        let me = std::thread::current().id();
        let mut turn = self.holder.lock();
        if *turn == Some(me) {
            return if wait {
                Err(io::Error::from_raw_os_error(sys::EDEADLK))
            } else {
                Ok(Locked::Busy)
            };
        }
        while turn.is_some() {
            if !wait {
                return Ok(Locked::Busy);
            }
            self.freed.wait(&mut turn);
        }
        *turn = Some(me);
        drop(turn);
        match sys::flock_exclusive(fd, wait) {
            Ok(true) if holder.load(Ordering::Relaxed) != 0 => Ok(Locked::OwnerDied),
            Ok(true) => Ok(Locked::Yes),
            Ok(false) => {
                self.pass();
                Ok(Locked::Busy)
            }
            Err(e) => {
                self.pass();
                Err(e)
            }
        }
    }

    /// Drops the `flock` of `fd`, then this thread's turn.
    pub(super) fn unlock(&self, fd: impl AsFd) -> io::Result<()> {
        let unlocked = sys::flock_unlock(fd);
        self.pass();
        unlocked
    }

    fn pass(&self) {
        *self.holder.lock() = None;
        self.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;
    use std::path::PathBuf;

    fn lock_file(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("guard-flock-{name}-{}", std::process::id()))
    }

    fn open(path: &std::path::Path) -> (OwnedFd, Arc<Turns>) {
        let fd = sys::open_lock_file(path).unwrap();
        let turns = Turns::of(sys::owner(&fd).unwrap().id);
        (fd, turns)
    }

    #[test]
    fn handles_to_one_file_share_turns_and_threads_take_them() {
        let path = lock_file("threads");
        let (a, turns) = open(&path);
        let (b, same) = open(&path);
        assert!(Arc::ptr_eq(&turns, &same), "one file, one set of turns");
        let free = AtomicU32::new(0);
        assert_eq!(turns.lock(&a, true, &free).unwrap(), Locked::Yes);
        // Another thread, through the other handle (another open file description).
        std::thread::scope(|s| {
            let other = s.spawn(|| same.lock(&b, false, &free).unwrap());
            assert_eq!(other.join().unwrap(), Locked::Busy);
        });
        // This thread again: an error when waiting (never a hang), busy when trying.
        let again = turns.lock(&a, true, &free).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(sys::EDEADLK));
        assert_eq!(turns.lock(&b, false, &free).unwrap(), Locked::Busy);
        turns.unlock(&a).unwrap();
        std::thread::scope(|s| {
            let other = s.spawn(|| {
                let got = same.lock(&b, true, &free).unwrap();
                same.unlock(&b).unwrap();
                got
            });
            assert_eq!(other.join().unwrap(), Locked::Yes);
        });
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn another_open_file_description_excludes_and_its_close_frees() {
        // Another process's hold, as the kernel sees it: a flock on another open file
        // description, dropped when it is closed (as at its holder's death).
        let path = lock_file("ofd");
        let (fd, turns) = open(&path);
        let elsewhere = sys::open_lock_file(&path).unwrap();
        assert!(sys::flock_exclusive(&elsewhere, false).unwrap());
        let free = AtomicU32::new(0);
        assert_eq!(turns.lock(&fd, false, &free).unwrap(), Locked::Busy);
        // The turn was given back: this thread is not taken for the holder.
        assert_eq!(turns.lock(&fd, false, &free).unwrap(), Locked::Busy);
        // The holder dies with its record written: the next owner is told.
        let died = AtomicU32::new(4242);
        drop(elsewhere);
        assert_eq!(turns.lock(&fd, true, &died).unwrap(), Locked::OwnerDied);
        turns.unlock(&fd).unwrap();
        std::fs::remove_file(&path).unwrap();
    }
}

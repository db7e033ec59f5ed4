//! The tasks' turns in front of the holder thread: who wants the OS lock, and the
//! acquisition passed from one task's turn to the next.
//!
//! The turns are guard's own async [`Mutex`]: an unlock wakes a waiter to come and try,
//! never hands it the turn, so a lock future that `select!` no longer polls holds nobody
//! up (RFD 609); its barging is bounded, and a turn waited on past the mutex's patience is
//! reported by its detector, as `guard_tokio::IpcMutex`.

use super::holder::Held;
use super::keep::Keep;
use crate::lock::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many times in a row the OS lock is passed from task to task of this process
/// without being unlocked.
pub(super) const PASSES: u32 = 32;

/// What the tasks of one [`IpcMutex`](super::IpcMutex) (and its clones) share.
pub(super) struct Shared {
    /// The turn among this process's tasks, and the OS acquisition kept between two turns.
    pub(super) queue: Arc<Mutex<Kept>>,
    /// Tasks that asked for the lock and have neither unlocked nor given up yet.
    pub(super) wanting: AtomicUsize,
    /// The holder thread's keep word: whether an acquisition is kept between two turns.
    pub(super) keep: Keep,
}

/// The OS acquisition passed from one task's turn to the next, and how many passes ran.
#[derive(Default)]
pub(super) struct Kept {
    pub(super) held: Option<Held>,
    pub(super) passes: u32,
}

impl Shared {
    /// When no task wants the lock any more and the OS lock was left held for one, unlocks
    /// it. Whoever holds the turn instead (a task that just came) takes the kept lock.
    fn settle(&self) {
        // A keep is marked before the turn that kept it ends, so before the keeper's want.
        if self.wanting.load(Ordering::SeqCst) == 0
            && self.keep.is_kept()
            && let Ok(mut kept) = self.queue.try_lock()
        {
            kept.passes = 0;
            if let Some(mut held) = kept.held.take()
                && held.reclaim()
            {
                held.unlock();
            }
        }
    }
}

/// A task's want of the lock, from its `lock()` call to its unlock (or until it gives up):
/// counted in [`Shared::wanting`].
pub(super) struct Want(pub(super) Arc<Shared>);

impl Want {
    pub(super) fn new(shared: &Arc<Shared>) -> Want {
        shared.wanting.fetch_add(1, Ordering::SeqCst);
        Want(Arc::clone(shared))
    }

    /// Whether another task wants the lock too.
    pub(super) fn others(&self) -> bool {
        self.0.wanting.load(Ordering::SeqCst) > 1
    }
}

impl Drop for Want {
    fn drop(&mut self) {
        self.0.wanting.fetch_sub(1, Ordering::SeqCst);
        self.0.settle();
    }
}

/// The error when the holder thread is gone (it panicked: it does not otherwise end
/// while a handle or an acquisition exists).
pub(super) fn gone(path: &std::path::Path) -> guard_os::Error {
    guard_os::Error::Lock {
        op: "reaching the holder thread",
        path: path.to_path_buf(),
        source: std::io::Error::other("the holder thread is gone"),
    }
}

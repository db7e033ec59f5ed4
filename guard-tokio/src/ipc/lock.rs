//! [`IpcLock`], a task's acquisition: unlocked by a message to the holder thread, or
//! passed to the next task of this process with the turn.

use super::holder::Held;
use super::turn::{Kept, PASSES, Want, gone};
use crate::lock::OwnedMutexGuard;
use guard_core::{Created, Resource, UniqueResource};
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// An acquisition of an [`IpcMutex`](super::IpcMutex), held by its holder thread on this
/// task's behalf. Unique: [`unlock`](Self::unlock) it, or enter it in a scope. Dropped, it
/// is unlocked anyway and the drop reported, as [`guard_os::IpcLock`]'s drop does; dropped
/// by a panicking task, it poisons the state first (the next owner gets
/// [`LockError::OwnerDied`](guard_os::LockError::OwnerDied) with this process's pid).
///
/// `Send`: the OS lock never moves, so the task holding this may.
///
/// # Examples
///
/// See [`IpcMutex`](super::IpcMutex).
pub struct IpcLock {
    path: Arc<std::path::Path>,
    /// Declared first: on a drop, the OS lock's end is posted before the next task's turn.
    held: Option<Held>,
    /// `None` only while being unlocked.
    turn: Option<OwnedMutexGuard<Kept>>,
    /// Declared last: given up after the turn, so that the last task's give-up can take
    /// the turn and unlock a kept OS lock.
    want: Want,
    /// Where it was acquired (the `lock()` call).
    site: &'static Location<'static>,
}

impl IpcLock {
    pub(super) fn new(
        path: Arc<std::path::Path>,
        held: Held,
        turn: OwnedMutexGuard<Kept>,
        want: Want,
        site: &'static Location<'static>,
    ) -> IpcLock {
        IpcLock {
            path,
            held: Some(held),
            turn: Some(turn),
            want,
            site,
        }
    }

    /// True while the state is poisoned (only from
    /// [`lock_poisoned`](super::IpcMutex::lock_poisoned)).
    ///
    /// # Examples
    ///
    /// See [`IpcMutex::lock_poisoned`](super::IpcMutex::lock_poisoned).
    pub fn is_poisoned(&self) -> bool {
        self.held.as_ref().is_some_and(Held::is_poisoned)
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
    /// See [`IpcMutex::lock_poisoned`](super::IpcMutex::lock_poisoned).
    pub fn mark_consistent(&mut self) -> guard_os::Result<()> {
        let gone = || gone(&self.path);
        let held = self.held.as_mut().ok_or_else(gone)?;
        held.mark_consistent().ok_or_else(gone)?
    }

    /// Unlocks, as [`guard_os::IpcLock::unlock`] (records "free", then unlocks), without
    /// waiting: the holder thread does it before anything this process asks of it later,
    /// so this process's next lock comes after it. Another process may find the OS lock
    /// still held for the few microseconds until the holder thread runs; to tell it "go"
    /// only once it can take the lock, use [`unlock_and_wait`](Self::unlock_and_wait).
    ///
    /// If another task of this process waits for the mutex, the OS lock is kept for the
    /// next task's turn instead (at most 32 times in a row), without a message to the holder
    /// thread; the holder thread unlocks it if no task comes for it within 50µs (the
    /// waiting one may never be polled again).
    ///
    /// # Errors
    ///
    /// [`guard_os::Error::Lock`] if the holder thread is gone. The unlock itself cannot
    /// fail (the holder thread owns the lock); if it did, the failure would go to guard's
    /// event hook ([`Event::ReleaseFailed`](guard_core::event::Event::ReleaseFailed)).
    ///
    /// # Examples
    ///
    /// See [`IpcMutex`](super::IpcMutex).
    pub fn unlock(mut self) -> guard_os::Result<()> {
        let others_wait = self.want.others();
        if let (Some(turn), Some(held)) = (&mut self.turn, &mut self.held)
            && others_wait
            && !held.is_poisoned()
            && turn.passes < PASSES
            && held.keep()
        {
            turn.passes += 1;
            turn.held = self.held.take();
            return Ok(());
        }
        let held = self.end();
        if held.is_some_and(Held::unlock) {
            Ok(())
        } else {
            Err(gone(&self.path))
        }
    }

    /// Unlocks, and returns a future that completes once the OS lock is unlocked: then
    /// another process can take it. The unlock is posted at the call, as
    /// [`unlock`](Self::unlock) posts it; dropping the future only stops the wait. Never
    /// passed to another task of this process.
    ///
    /// # Errors
    ///
    /// As [`guard_os::IpcLock::unlock`]; [`guard_os::Error::Lock`] also if the holder
    /// thread is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let name = format!("doc-async-ipc-wait-{}", std::process::id());
    /// let m = guard_tokio::IpcMutex::open(&name)?;
    /// m.lock().await?.unlock_and_wait().await?;
    /// // Unlocked now, for every process: another handle takes it at once.
    /// let other = guard_os::IpcMutex::open(&name)?;
    /// other.try_lock()?.expect("free").unlock()?;
    /// # guard_os::IpcMutex::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn unlock_and_wait(
        mut self,
    ) -> impl Future<Output = guard_os::Result<()>> + Send + 'static {
        let path = Arc::clone(&self.path);
        let done = self.end().map(Held::unlock_confirmed);
        drop(self); // the turn goes now: the next task's lock comes after the unlock
        async move {
            match done {
                Some(done) => done.await.unwrap_or_else(|| Err(gone(&path))),
                None => Err(gone(&path)),
            }
        }
    }

    /// Takes the acquisition out to end it for real (not passed): the pass count restarts.
    fn end(&mut self) -> Option<Held> {
        if let Some(turn) = &mut self.turn {
            turn.passes = 0;
        }
        self.held.take()
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
            held.poison();
        }
    }
}

impl Resource for IpcLock {
    type Error = guard_os::Error;
    /// Same as [`IpcLock::unlock`].
    fn release(self) -> guard_os::Result<()> {
        self.unlock()
    }

    /// Where it was acquired: the [`lock`](super::IpcMutex::lock) call.
    fn created(&self) -> Option<Created> {
        Some(Created::new(self.site, "acquired"))
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

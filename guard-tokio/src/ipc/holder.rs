//! The holder thread of an [`IpcMutex`](super::IpcMutex) handle, and the way to it
//! ([`Line`]): the thread takes and releases the OS lock for the tasks, one acquisition at
//! a time, doing their [`Op`]s in the order they were sent.
//!
//! A lock request is answered on a oneshot; an acquisition's end (unlock, drop, poison) is
//! posted without waiting for it: the thread does it before the next request, so this
//! process's next lock comes after it, and a robust mutex's unlock by its owner cannot
//! fail (a failure would still reach guard's event hook).
//!
//! Between operations the thread spins a while before it parks ([`THREAD_SPIN`]), and a
//! task whose request finds it awake spins for the answer ([`TASK_SPIN`]) instead of
//! returning `Pending`: the thread answers at once unless the OS lock is held elsewhere,
//! and it says so ([`Phase::Waiting`]) before it waits, which ends the task's spin. Both
//! spins give the CPU away between short runs of pauses ([`pause`]), so that the other side
//! runs even when both share one CPU. So back-to-back acquisitions park and wake no thread
//! (neither the holder thread nor a runtime worker), and no worker waits for another holder.
//!
//! An acquisition kept for the next task of this process ([`Held::keep`]) is claimed by
//! that task ([`Held::reclaim`]); the thread does not park while one is kept, and unlocks
//! it if nobody claimed it in time ([`keep`](super::keep)), so other processes are not held
//! off by a future nobody polls.

use super::keep::{Keep, Lapse};
use super::report::{not_held, report_failure, unlock_quietly};
use guard_os::LockError;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long the holder thread spins for the next operation before it parks.
const THREAD_SPIN: Duration = Duration::from_micros(50);

/// How long a task spins for the holder thread's answer while that thread is awake,
/// before it returns `Pending`.
const TASK_SPIN: Duration = Duration::from_micros(10);

/// What the holder thread is doing, for a task deciding whether to spin for its answer.
/// A hint: a stale value only makes a task spin in vain (up to [`TASK_SPIN`]) or not spin.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Doing an operation or spinning for the next: answers within a few instructions.
    Awake,
    /// Parked, for the next operation: an answer needs a thread wake-up.
    Parked,
    /// Waiting for the OS lock, held by another process (or handle).
    Waiting,
}

/// What a task asks of the holder thread.
pub(super) enum Op {
    /// Take the OS lock; answer with the acquisition (made with `line`, the way back).
    Lock {
        /// `lock_poisoned`: take it whether or not a holder died.
        poisoned_ok: bool,
        reply: oneshot::Sender<Result<Held, LockError>>,
        line: Line,
    },
    MarkConsistent(mpsc::SyncSender<guard_os::Result<()>>),
    /// Unlock; answer on the sender if there is one, else report a failure to the hook.
    Unlock(Option<oneshot::Sender<guard_os::Result<()>>>),
    /// The task's lock was dropped while it panicked: drop the OS lock while unwinding
    /// too, so that it poisons the state as a panicking holder does.
    Poison,
    /// The task's lock was dropped without unlock: guard-os's drop unlocks and reports it.
    Drop,
}

/// The way to a handle's holder thread, shared by the handle's clones.
#[derive(Clone)]
pub(super) struct Line {
    ops: mpsc::Sender<Op>,
    phase: Arc<AtomicU8>,
    keep: Keep,
}

impl Line {
    /// The keep word this line's holder thread times.
    pub(super) fn keep(&self) -> &Keep {
        &self.keep
    }

    /// Starts the holder thread (named `guard-ipc-mutex`) for `mutex`. It ends when every
    /// handle and acquisition is gone.
    pub(super) fn start(mutex: guard_os::IpcMutex) -> std::io::Result<Line> {
        let (ops, received) = mpsc::channel();
        let phase = Arc::new(AtomicU8::new(Phase::Awake as u8));
        let keep = Keep::default();
        let (their_phase, their_keep) = (Arc::clone(&phase), keep.clone());
        std::thread::Builder::new()
            .name("guard-ipc-mutex".into())
            .spawn(move || serve(&mutex, &received, &their_phase, &their_keep))?;
        Ok(Line { ops, phase, keep })
    }

    /// Asks for the OS lock and waits for it: spinning while the holder thread is awake
    /// and not waiting for another holder (up to [`TASK_SPIN`]), then as a future.
    /// `None` if the holder thread is gone.
    ///
    /// Cancel-safe: if this future is dropped, an acquisition made for it ends unlocked.
    pub(super) async fn lock(&self, poisoned_ok: bool) -> Option<Result<Held, LockError>> {
        let (reply, answer) = oneshot::channel();
        let line = self.clone();
        self.ops
            .send(Op::Lock {
                poisoned_ok,
                reply,
                line,
            })
            .ok()?;
        self.answer(answer).await
    }

    /// Waits for the holder thread's answer: spinning while the thread is awake (up to
    /// [`TASK_SPIN`]), then as a future. `None` if the holder thread is gone.
    async fn answer<T>(&self, mut answer: oneshot::Receiver<T>) -> Option<T> {
        let start = Instant::now();
        while self.phase.load(Ordering::Relaxed) == Phase::Awake as u8 {
            match answer.try_recv() {
                Ok(answer) => return Some(answer),
                Err(oneshot::error::TryRecvError::Closed) => return None,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            if start.elapsed() >= TASK_SPIN {
                break;
            }
            pause();
        }
        answer.await.ok()
    }
}

/// One turn of a spin: a few pauses, then the CPU to whoever else wants it (the other
/// side, when both run on one CPU).
fn pause() {
    for _ in 0..32 {
        std::hint::spin_loop();
    }
    std::thread::yield_now();
}

/// How a [`Held`] ends when dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// No task has it (an answer nobody took, a lock kept between two tasks' turns):
    /// unlock quietly.
    Unlock,
    /// A task's lock dropped without unlock: the holder thread drops the OS lock, which
    /// reports it.
    Drop,
    /// Kept for the next task, as the keep word's value `.0`: dropped, it is unlocked if
    /// it can still be claimed (the holder thread may have unlocked it).
    Kept(u32),
    /// Its end was posted already (or the holder thread ended it).
    Posted,
}

/// An acquisition made by the holder thread: the way to it while the OS lock is held.
/// Dropped, it posts its end ([`End`]).
pub(super) struct Held {
    line: Line,
    poisoned: bool,
    end: End,
}

impl Held {
    /// True while the state is poisoned.
    pub(super) fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Now a task's: dropped, it is reported as a lock dropped without unlock.
    pub(super) fn claim(&mut self) {
        self.end = End::Drop;
    }

    /// Keeps the OS lock for the next task's turn. False if the holder thread is parked
    /// (it would not time the keep out): then it is not kept, and the caller unlocks it.
    /// A kept acquisition must be [`reclaim`](Self::reclaim)ed before use.
    pub(super) fn keep(&mut self) -> bool {
        self.end = End::Kept(self.line.keep.keep());
        // See `Keep::is_kept`: either this sees the thread parked, or it times the keep.
        if self.line.phase.load(Ordering::SeqCst) == Phase::Parked as u8 {
            return !self.reclaim();
        }
        true
    }

    /// Takes back a kept acquisition: false if the holder thread unlocked it meanwhile
    /// (nobody claimed it in time); then it is spent, and dropping it does nothing.
    pub(super) fn reclaim(&mut self) -> bool {
        match self.end {
            End::Kept(kept) => {
                let claimed = self.line.keep.end(kept);
                self.end = if claimed { End::Unlock } else { End::Posted };
                claimed
            }
            End::Posted => false,
            End::Unlock | End::Drop => true,
        }
    }

    /// Marks the state consistent, waiting for the holder thread to do it. `None` if the
    /// holder thread is gone.
    pub(super) fn mark_consistent(&mut self) -> Option<guard_os::Result<()>> {
        let (done, result) = mpsc::sync_channel(1);
        self.line.ops.send(Op::MarkConsistent(done)).ok()?;
        let result = result.recv().ok()?;
        if result.is_ok() {
            self.poisoned = false;
        }
        Some(result)
    }

    /// Posts the unlock; false if the holder thread is gone.
    pub(super) fn unlock(self) -> bool {
        self.post(Op::Unlock(None))
    }

    /// Posts the unlock; the future gives its result (`None` if the holder thread is
    /// gone).
    pub(super) fn unlock_confirmed(
        self,
    ) -> impl Future<Output = Option<guard_os::Result<()>>> + Send + 'static {
        let (done, result) = oneshot::channel();
        let line = self.line.clone();
        let posted = self.post(Op::Unlock(Some(done)));
        async move {
            if !posted {
                return None;
            }
            line.answer(result).await
        }
    }

    /// Posts the poisoning drop.
    pub(super) fn poison(self) {
        self.post(Op::Poison);
    }

    fn post(mut self, op: Op) -> bool {
        self.end = End::Posted;
        self.line.ops.send(op).is_ok()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if matches!(self.end, End::Kept(_)) && !self.reclaim() {
            return;
        }
        let op = match self.end {
            End::Unlock => Op::Unlock(None),
            End::Drop => Op::Drop,
            End::Posted | End::Kept(_) => return,
        };
        let _ = self.line.ops.send(op);
    }
}

/// The holder thread: serves the operations in order until every sender is gone.
fn serve(mutex: &guard_os::IpcMutex, received: &mpsc::Receiver<Op>, phase: &AtomicU8, keep: &Keep) {
    let mut held: Option<guard_os::IpcLock<'_>> = None;
    loop {
        let op = match next(received, phase, keep) {
            Next::Op(op) => op,
            Next::Lapsed(kept) => {
                // Unless the task it was kept for claimed it at the last moment.
                if keep.end(kept) {
                    unlock_quietly(held.take(), mutex.path());
                }
                continue;
            }
            Next::Closed => break,
        };
        match op {
            Op::Lock {
                poisoned_ok,
                reply,
                line,
            } => {
                // A task asks only once the last acquisition's end was posted (before it).
                debug_assert!(held.is_none(), "a lock request while held");
                let answer = acquire(mutex, poisoned_ok, phase).map(|lock| {
                    let poisoned = lock.is_poisoned();
                    held = Some(lock);
                    Held {
                        line,
                        poisoned,
                        end: End::Unlock,
                    }
                });
                if let Err(Ok(mut unwanted)) = reply.send(answer) {
                    // The lock future was dropped (cancelled) while this thread took the
                    // lock: nobody holds this acquisition, so it ends here, cleanly.
                    unwanted.end = End::Posted;
                    if let Some(lock) = held.take() {
                        let _ = lock.unlock();
                    }
                }
            }
            Op::MarkConsistent(done) => {
                let result = match &mut held {
                    Some(lock) => lock.mark_consistent(),
                    None => Err(not_held(mutex.path())),
                };
                let _ = done.send(result);
            }
            Op::Unlock(done) => {
                let result = held
                    .take()
                    .map_or_else(|| Err(not_held(mutex.path())), guard_os::IpcLock::unlock);
                match (done, result) {
                    (Some(done), result) => {
                        let _ = done.send(result);
                    }
                    (None, result) => report_failure(result),
                }
            }
            Op::Poison => {
                if let Some(lock) = held.take() {
                    // `resume_unwind` unwinds without running the panic hook; the lock's
                    // drop sees a panicking thread and records the poison, then unlocks.
                    let unwind = std::panic::AssertUnwindSafe(move || {
                        let _dropped_while_unwinding = lock;
                        std::panic::resume_unwind(Box::new(()));
                    });
                    let _ = std::panic::catch_unwind(unwind);
                }
            }
            Op::Drop => drop(held.take()),
        }
    }
    // Every `Held` posts its end before its sender goes: nothing is held here.
    drop(held);
}

/// What the holder thread does next.
enum Next {
    Op(Op),
    /// The acquisition kept as the keep word's value `.0` was not claimed in time.
    Lapsed(u32),
    /// Every sender is gone.
    Closed,
}

/// The next operation: spinning for it up to [`THREAD_SPIN`] (and while an acquisition is
/// kept, until it is claimed or lapses), then parked.
fn next(received: &mpsc::Receiver<Op>, phase: &AtomicU8, keep: &Keep) -> Next {
    let start = Instant::now();
    let mut lapse = Lapse::default();
    loop {
        match received.try_recv() {
            Ok(op) => return Next::Op(op),
            Err(mpsc::TryRecvError::Disconnected) => return Next::Closed,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        let now = Instant::now();
        if let Some(kept) = lapse.check(keep, now) {
            return Next::Lapsed(kept);
        }
        if !lapse.timing() && now.duration_since(start) >= THREAD_SPIN {
            // Parked only with nothing kept (see `Held::keep`).
            phase.store(Phase::Parked as u8, Ordering::SeqCst);
            if !keep.is_kept() {
                let op = received.recv();
                phase.store(Phase::Awake as u8, Ordering::Relaxed);
                return op.map_or(Next::Closed, Next::Op);
            }
            phase.store(Phase::Awake as u8, Ordering::Relaxed);
            continue;
        }
        pause();
    }
}

/// Takes the OS lock: a try first, and if it is held elsewhere, says so and waits.
fn acquire<'m>(
    mutex: &'m guard_os::IpcMutex,
    poisoned_ok: bool,
    phase: &AtomicU8,
) -> Result<guard_os::IpcLock<'m>, LockError> {
    if !poisoned_ok && let Some(lock) = mutex.try_lock()? {
        return Ok(lock);
    }
    phase.store(Phase::Waiting as u8, Ordering::Relaxed);
    let lock = if poisoned_ok {
        mutex.lock_poisoned().map_err(LockError::Os)
    } else {
        mutex.lock()
    };
    phase.store(Phase::Awake as u8, Ordering::Relaxed);
    lock
}

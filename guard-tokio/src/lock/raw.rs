//! The lock word and the acquisition protocol, apart from the protected value.
//!
//! `state` holds three bits: `LOCKED`; `WAITING`, set while the queue is not empty, so that
//! an unlock with nobody waiting is one atomic operation; `RESERVED`, set while a starving
//! waiter has reserved the next release (see [`queue`](super::queue)). `WAITING` and
//! `RESERVED` change only under the queue's lock. A waiter sets `WAITING` before it retries,
//! and an unlock clears `LOCKED` and reads `WAITING` in one operation: on the one word, either
//! the retry sees the lock free or the unlock sees the waiter.

use super::loom::{Arc, AtomicPtr, AtomicU64, AtomicUsize, Ordering, StdMutex, lock};
use super::patience;
use super::queue::{GRACE, Queue, STARVING_AFTER, Wakes};
use super::watch::{self, Tick};
use guard_core::event::{self, Event};
use std::panic::Location;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const LOCKED: usize = 1;
const WAITING: usize = 2;
const RESERVED: usize = 4;

/// What the detector and the errors need to know about a lock, shared with the detector's
/// thread (which holds it weakly).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) queue: StdMutex<Queue>,
    pub(crate) type_name: &'static str,
    pub(crate) site: &'static Location<'static>,
    /// Nanoseconds; 0 means the process default.
    patience: AtomicU64,
}

impl Shared {
    pub(crate) fn patience(&self) -> Duration {
        match self.patience.load(Ordering::Relaxed) {
            0 => patience::default_patience(),
            n => Duration::from_nanos(n),
        }
    }

    pub(crate) fn set_patience(&self, patience: Duration) {
        let nanos = u64::try_from(patience.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        self.patience.store(nanos, Ordering::Relaxed);
    }
}

impl Tick for Shared {
    /// Wakes every waiter so each re-checks (one reports, and a waiter nobody woke takes a
    /// lock left free). Returns the patience to re-arm with, or `None` once nobody waits.
    fn tick(&self) -> Option<Duration> {
        let mut wakes = Wakes::default();
        {
            let mut q = lock(&self.queue);
            if q.entries.is_empty() {
                q.watched = false;
                return None;
            }
            q.wake_all(&mut wakes);
        }
        wakes.run();
        Some(self.patience())
    }
}

/// One acquisition's place in the queue: `None` until it first has to wait.
#[derive(Debug, Default)]
pub(crate) struct Wait {
    id: Option<u64>,
    since: Option<Instant>,
}

/// Who holds the lock, as recorded at acquisition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holder {
    pub(crate) site: Option<&'static Location<'static>>,
    pub(crate) task: Option<u64>,
}

enum Try {
    Acquired,
    Held,
    /// Free, but reserved for a starving waiter still within its grace.
    Reserved,
}

/// The lock without its value.
#[derive(Debug)]
pub(crate) struct RawLock {
    state: AtomicUsize,
    holder_site: AtomicPtr<Location<'static>>,
    /// tokio's task id of the holder; 0 for none.
    holder_task: AtomicU64,
    pub(crate) shared: Arc<Shared>,
}

impl RawLock {
    pub(crate) fn new(type_name: &'static str, site: &'static Location<'static>) -> Self {
        RawLock {
            state: AtomicUsize::new(0),
            holder_site: AtomicPtr::new(std::ptr::null_mut()),
            holder_task: AtomicU64::new(0),
            shared: Arc::new(Shared {
                queue: StdMutex::new(Queue::default()),
                type_name,
                site,
                patience: AtomicU64::new(0),
            }),
        }
    }

    /// Takes the lock if nobody holds it, waits for it, or reserved it.
    #[inline]
    fn try_lock_fast(&self) -> bool {
        // Barging is allowed while others wait (`WAITING`): whoever is polled while the lock
        // is free takes it, as `try_acquire` does, without the queue's lock. Only a
        // reservation (`RESERVED`: its lapse is judged under the queue's lock) sends the
        // caller the slow way.
        let s = self.state.load(Ordering::Relaxed);
        s & (LOCKED | RESERVED) == 0
            && self
                .state
                .compare_exchange(s, s | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    #[inline]
    fn note_holder(&self, site: &'static Location<'static>) {
        self.holder_site
            .store(std::ptr::from_ref(site).cast_mut(), Ordering::Relaxed);
        self.holder_task.store(task_id(), Ordering::Relaxed);
    }

    /// Who holds the lock now (racy: for reports only).
    pub(crate) fn holder(&self) -> Holder {
        let site = self.holder_site.load(Ordering::Relaxed);
        // SAFETY: `holder_site` only ever holds null or a pointer made from a
        // `&'static Location<'static>` (`note_holder`), never written through.
        let site = unsafe { site.as_ref() };
        let task = self.holder_task.load(Ordering::Relaxed);
        Holder {
            site,
            task: (task != 0).then_some(task),
        }
    }

    /// Gives the lock back and wakes a waiter to come and try (it is not handed the lock).
    #[inline]
    pub(crate) fn unlock(&self) {
        self.holder_site
            .store(std::ptr::null_mut(), Ordering::Relaxed);
        self.holder_task.store(0, Ordering::Relaxed);
        let prev = self.state.fetch_and(!LOCKED, Ordering::Release);
        if prev & (WAITING | RESERVED) != 0 {
            self.release_slow();
        }
    }

    #[cold]
    fn release_slow(&self) {
        let mut wakes = Wakes::default();
        lock(&self.shared.queue).on_release(&mut wakes);
        wakes.run();
    }

    /// One try, as `try_lock`: a free lock is taken unless a starving waiter reserved it.
    pub(crate) fn try_lock(&self, site: &'static Location<'static>) -> bool {
        if self.try_lock_fast() {
            self.note_holder(site);
            return true;
        }
        if self.state.load(Ordering::Relaxed) & LOCKED != 0 {
            return false;
        }
        let taken = matches!(
            self.try_acquire(&mut lock(&self.shared.queue), None),
            Try::Acquired
        );
        if taken {
            self.note_holder(site);
        }
        taken
    }

    /// Takes the lock if it is free and not reserved for another waiter (or its reservation
    /// lapsed). `me` is the caller's queue id, if it is queued. Under the queue's lock.
    fn try_acquire(&self, q: &mut Queue, me: Option<u64>) -> Try {
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & LOCKED != 0 {
                return Try::Held;
            }
            let mut next = s | LOCKED;
            if s & RESERVED != 0 {
                let mine = me.is_some() && q.reserved == me;
                let lapsed =
                    q.reserved.is_none() || q.free_since.is_some_and(|t| t.elapsed() >= GRACE);
                if !mine && !lapsed {
                    return Try::Reserved;
                }
                next &= !RESERVED;
            }
            if self
                .state
                .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                if s & RESERVED != 0 {
                    q.reserved = None;
                    q.free_since = None;
                }
                return Try::Acquired;
            }
        }
    }

    /// Polls one acquisition: the lock is taken here, by whoever is polled while it is free,
    /// never handed to a waiter that is not being polled.
    pub(crate) fn poll_acquire(
        &self,
        wait: &mut Wait,
        cx: &mut Context<'_>,
        site: &'static Location<'static>,
    ) -> Poll<()> {
        if wait.id.is_none() && self.try_lock_fast() {
            self.note_holder(site);
            return Poll::Ready(());
        }
        let mut watch_from = None;
        let mut q = lock(&self.shared.queue);
        let id = match wait.id {
            Some(id) => id,
            None => {
                let id = q.push(cx.waker());
                wait.id = Some(id);
                wait.since = Some(Instant::now());
                self.state.fetch_or(WAITING, Ordering::Relaxed);
                if !q.watched {
                    q.watched = true;
                    watch_from = wait.since;
                }
                id
            }
        };
        let tried = self.try_acquire(&mut q, Some(id));
        if let Try::Acquired = tried {
            q.remove(id);
            if q.entries.is_empty() {
                self.state.fetch_and(!WAITING, Ordering::Relaxed);
            }
            q.reported = false;
            drop(q);
            wait.id = None;
            self.note_holder(site);
            return Poll::Ready(());
        }
        let e = q.entry(id);
        if !e.waker.will_wake(cx.waker()) {
            e.waker.clone_from(cx.waker());
        }
        let lost = std::mem::replace(&mut e.notified, false);
        match tried {
            Try::Held if lost => {
                e.losses += 1;
                if e.losses >= STARVING_AFTER && q.reserved.is_none() {
                    q.reserved = Some(id);
                    self.state.fetch_or(RESERVED, Ordering::Relaxed);
                }
            }
            Try::Reserved => cx.waker().wake_by_ref(),
            _ => {}
        }
        let report = self.overdue(&mut q, wait);
        drop(q);
        if let Some(due) = watch_from.and_then(|t| t.checked_add(self.shared.patience())) {
            watch::watch(&self.shared, due);
        }
        if let Some(event) = report {
            self.report(event);
        }
        Poll::Pending
    }

    /// The waiter's timestamp check: past the patience, the first waiter to see it reports
    /// (once per episode: until a waiter gets the lock).
    fn overdue(&self, q: &mut Queue, wait: &Wait) -> Option<(Duration, usize)> {
        let waited = wait.since?.elapsed();
        if q.reported || waited < self.shared.patience() {
            return None;
        }
        q.reported = true;
        Some((waited, q.entries.len()))
    }

    fn report(&self, (waited, waiters): (Duration, usize)) {
        let holder = self.holder();
        event::emit(&Event::LockWait {
            lock: self.shared.type_name,
            site: self.shared.site,
            holder_site: holder.site,
            holder_task: holder.task,
            waited,
            waiters,
        });
    }

    /// An acquisition dropped before it got the lock: leaves the queue, and passes on a wake
    /// (or a reservation) it received, so no release is lost with it.
    pub(crate) fn cancel(&self, wait: &mut Wait) {
        let Some(id) = wait.id.take() else { return };
        let mut wakes = Wakes::default();
        {
            let mut q = lock(&self.shared.queue);
            let was_reserved = q.reserved == Some(id);
            let Some(e) = q.remove(id) else { return };
            if was_reserved {
                self.state.fetch_and(!RESERVED, Ordering::Relaxed);
            }
            if q.entries.is_empty() {
                self.state.fetch_and(!WAITING, Ordering::Relaxed);
                q.reported = false; // the episode ends with its last waiter
            }
            let free = self.state.load(Ordering::Relaxed) & LOCKED == 0;
            if (e.notified || was_reserved) && free {
                q.on_release(&mut wakes);
            }
        }
        wakes.run();
    }

    /// How long `wait` has waited.
    pub(crate) fn waited(wait: &Wait) -> Duration {
        wait.since.map_or(Duration::ZERO, |t| t.elapsed())
    }
}

/// tokio's id of the current task, as a number (0 outside a task). `Id` exposes its number
/// only through `Display` and `Hash`; hashing it writes exactly that `u64`.
fn task_id() -> u64 {
    struct Take(u64);
    impl std::hash::Hasher for Take {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, _: &[u8]) {}
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    match tokio::task::try_id() {
        Some(id) => {
            let mut take = Take(0);
            std::hash::Hash::hash(&id, &mut take);
            take.0
        }
        None => 0,
    }
}

//! The waiting side of the protocol (see [`raw`](super::raw)): an acquisition queues, comes
//! to try when polled, reserves a release once starving, and leaves the queue when it gets
//! the lock or is dropped.

use super::loom::{Arc, Ordering, lock};
use super::queue::{Key, Node, Queue, STARVING_AFTER, Wakes};
use super::raw::{LOCKED, RESERVED, RawLock, Try, WAITING, WOKEN};
use super::watch;
use std::panic::Location;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// One acquisition's place in the queue: empty (one null word) until it first has to wait.
#[derive(Debug, Default)]
pub(crate) struct Wait {
    queued: Option<Queued>,
}

#[derive(Debug)]
struct Queued {
    node: Arc<Node>,
    key: Key,
    /// The waker the queue holds for it, to see without the lock whether it changed.
    waker: Waker,
    since: Instant,
    /// Wakes it lost to barging acquisitions.
    losses: u32,
    /// The detector's tick count when it last read the clock.
    tick: u64,
}

impl RawLock {
    /// Polls one acquisition: the lock is taken here, by whoever is polled while it is free,
    /// never handed to a waiter that is not being polled.
    #[inline]
    pub(crate) fn poll_acquire(
        &self,
        wait: &mut Wait,
        cx: &mut Context<'_>,
        site: &'static Location<'static>,
    ) -> Poll<()> {
        if wait.queued.is_none() && self.try_lock_fast() {
            self.note_holder(site);
            return Poll::Ready(());
        }
        self.poll_queued(wait, cx, site)
    }

    #[cold]
    fn poll_queued(
        &self,
        wait: &mut Wait,
        cx: &mut Context<'_>,
        site: &'static Location<'static>,
    ) -> Poll<()> {
        let qd = match &mut wait.queued {
            None => wait.queued.insert(self.register(cx.waker())),
            Some(qd) => {
                if !qd.waker.will_wake(cx.waker()) {
                    // Before the node is read: a wake from here on calls the new waker.
                    lock(&self.shared.queue).set_waker(qd.key, cx.waker());
                    qd.waker.clone_from(cx.waker());
                }
                qd
            }
        };
        if self.attempt(qd, cx) {
            let qd = wait.queued.take().expect("queued above");
            self.leave(&mut lock(&self.shared.queue), qd);
            self.note_holder(site);
            return Poll::Ready(());
        }
        let tick = self.shared.ticks();
        if tick != qd.tick {
            qd.tick = tick;
            self.shared
                .check_overdue(qd.since.elapsed(), || self.holder());
        }
        Poll::Pending
    }

    /// Queues an acquisition (it then retries: an unlock before this sees no `WAITING`, and
    /// the retry sees the lock it freed).
    fn register(&self, waker: &Waker) -> Queued {
        let since = Instant::now();
        let (key, node, watch_from) = {
            let mut q = lock(&self.shared.queue);
            let (key, node) = q.push(waker);
            self.state.fetch_or(WAITING, Ordering::Relaxed);
            let watch_from = (!q.watched).then(|| {
                q.watched = true;
                since
            });
            (key, node, watch_from)
        };
        if let Some(due) = watch_from.and_then(|t| t.checked_add(self.shared.patience())) {
            watch::watch(&self.shared, due);
        }
        Queued {
            node,
            key,
            waker: waker.clone(),
            since,
            losses: 0,
            tick: self.shared.ticks(),
        }
    }

    /// A queued acquisition comes to try; whether it took the lock (it is still queued).
    fn attempt(&self, qd: &mut Queued, cx: &Context<'_>) -> bool {
        let node = &*qd.node;
        // Only this acquisition clears its flag; a release sets it only while it is clear.
        let mut woken = node.notified.load(Ordering::Acquire);
        if woken {
            node.notified.store(false, Ordering::Relaxed);
        }
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & LOCKED == 0 {
                if s & RESERVED != 0 {
                    // Whose release it is, and whether the grace is over: under the lock.
                    let mut q = lock(&self.shared.queue);
                    let clear = if woken { WOKEN } else { 0 };
                    match self.try_acquire(&mut q, Some(qd.key), clear) {
                        Try::Acquired => return true,
                        Try::Reserved => {
                            if woken {
                                // Keeps the wake `WOKEN` promises: it comes again at once.
                                node.notified.store(true, Ordering::Relaxed);
                            }
                            drop(q);
                            cx.waker().wake_by_ref();
                            return false;
                        }
                        Try::Held => {
                            s = self.state.load(Ordering::Relaxed);
                            continue;
                        }
                    }
                }
                let next = (s | LOCKED) & !if woken { WOKEN } else { 0 };
                match self
                    .state
                    .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Relaxed)
                {
                    Ok(_) => return true,
                    Err(now) => {
                        s = now;
                        continue;
                    }
                }
            }
            if !woken {
                return false;
            }
            // Woken, and the lock looked taken: clear `WOKEN` (an RMW, so it is judged on the
            // word as it is), and the holder's unlock wakes again.
            woken = false;
            let prev = self.state.fetch_and(!WOKEN, Ordering::Release);
            if prev & LOCKED == 0 {
                // Freed meanwhile: try again, as a waiter not woken.
                s = prev & !WOKEN;
                continue;
            }
            qd.losses += 1;
            if qd.losses < STARVING_AFTER || !self.reserve(qd.key) {
                return false;
            }
            s = self.state.load(Ordering::Relaxed);
        }
    }

    /// Reserves the next release for the starving waiter `key`, unless another has.
    fn reserve(&self, key: Key) -> bool {
        let mut q = lock(&self.shared.queue);
        if q.reserved.is_some() {
            return false;
        }
        q.reserved = Some(key);
        self.state.fetch_or(RESERVED, Ordering::Relaxed);
        true
    }

    /// The acquisition took the lock: it leaves the queue. Under the queue's lock.
    fn leave(&self, q: &mut Queue, qd: Queued) {
        if q.remove(qd.key, qd.node) == Some(true) {
            // Woken after it looked: the wake is spent, and this holder's unlock wakes.
            self.state.fetch_and(!WOKEN, Ordering::Relaxed);
        }
        if q.is_empty() {
            self.state.fetch_and(!WAITING, Ordering::Relaxed);
        }
        q.reported = false;
    }

    /// An acquisition dropped before it got the lock: leaves the queue, and passes on a wake
    /// (or a reservation) it received, so no release is lost with it.
    #[inline]
    pub(crate) fn cancel(&self, wait: &mut Wait) {
        if let Some(qd) = wait.queued.take() {
            self.cancel_queued(qd);
        }
    }

    #[cold]
    fn cancel_queued(&self, qd: Queued) {
        let mut wakes = Wakes::default();
        {
            let mut q = lock(&self.shared.queue);
            let was_reserved = q.reserved == Some(qd.key);
            let Some(notified) = q.remove(qd.key, qd.node) else {
                return;
            };
            // Each RMW reads the word as it is; the last one says whether the lock is free.
            let mut s = 0;
            if was_reserved {
                s = self.state.fetch_and(!RESERVED, Ordering::Relaxed);
            }
            if q.is_empty() {
                q.reported = false; // the episode ends with its last waiter
                s = self.state.fetch_and(!WAITING, Ordering::Relaxed);
            }
            if notified {
                // The holder's unlock, if any, wakes; a free lock is passed on here.
                s = self.state.fetch_and(!WOKEN, Ordering::Relaxed);
            }
            if (notified || was_reserved) && s & LOCKED == 0 {
                self.set_woken();
                self.wake_one(&mut q, None, &mut wakes);
            }
        }
        wakes.run();
    }

    /// How long `wait` has waited (zero if it never had to).
    pub(crate) fn waited(wait: &Wait) -> Duration {
        wait.queued
            .as_ref()
            .map_or(Duration::ZERO, |qd| qd.since.elapsed())
    }
}

//! The waiters of one lock, and who is woken when it is released.
//!
//! A wake never hands the lock over: it asks a waiter to come and try. The lock goes to
//! whichever acquisition is polled first while it is free (a woken waiter, another waiter,
//! or a newcomer), so a woken waiter that is never polled again (the losing branch of a
//! `select!` polled by reference) holds nothing up. Barging is bounded: a waiter that was
//! woken [`STARVING_AFTER`] times and lost each time reserves the next release for itself,
//! for as long as it is polled: a reservation not taken within [`GRACE`] of the release
//! lapses, and the others may take the lock.

use std::task::Waker;
use std::time::{Duration, Instant};

/// Wakes a waiter may lose to barging acquisitions before it reserves the next release.
pub(crate) const STARVING_AFTER: u32 = 4;

/// How long a reserved release waits for its waiter to be polled before anyone may take it.
pub(crate) const GRACE: Duration = Duration::from_micros(500);

/// One waiting acquisition.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) waker: Waker,
    /// Woken by a release, not yet polled since.
    pub(crate) notified: bool,
    /// Wakes that found the lock taken again by the time it was polled.
    pub(crate) losses: u32,
}

/// The waiters, in arrival order, and the state of the current stuck episode.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub(crate) entries: Vec<Entry>,
    next_id: u64,
    /// The starving waiter the next release is reserved for.
    pub(crate) reserved: Option<u64>,
    /// When a reserved release happened (the grace runs from there).
    pub(crate) free_since: Option<Instant>,
    /// The detector already reported this episode (reset when a waiter gets the lock).
    pub(crate) reported: bool,
    /// The lock is on the detector thread's watch list.
    pub(crate) watched: bool,
}

impl Queue {
    /// Appends a waiter; returns its id.
    pub(crate) fn push(&mut self, waker: &Waker) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push(Entry {
            id,
            waker: waker.clone(),
            notified: false,
            losses: 0,
        });
        id
    }

    /// The waiter `id`.
    ///
    /// # Panics
    ///
    /// If it is not queued (a broken invariant: an acquisition removes itself only once).
    pub(crate) fn entry(&mut self, id: u64) -> &mut Entry {
        self.entries
            .iter_mut()
            .find(|e| e.id == id)
            .expect("a waiting acquisition is queued")
    }

    /// Removes the waiter `id`, returning it; drops its reservation.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Entry> {
        let at = self.entries.iter().position(|e| e.id == id)?;
        if self.reserved == Some(id) {
            self.reserved = None;
            self.free_since = None;
        }
        Some(self.entries.remove(at))
    }

    /// The lock was released (or a woken waiter left): the wakers to call once the queue's
    /// lock is dropped. The reserved waiter, if any, and the first waiter not already woken
    /// (it takes the lock if the reserved one is not polled within the grace).
    pub(crate) fn on_release(&mut self, wake: &mut Wakes) {
        if let Some(id) = self.reserved {
            self.free_since = Some(Instant::now());
            let e = self.entry(id);
            e.notified = true;
            wake.push(e.waker.clone());
        }
        let reserved = self.reserved;
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| !e.notified && Some(e.id) != reserved)
        {
            e.notified = true;
            wake.push(e.waker.clone());
        }
    }

    /// Every waiter's waker (the detector's tick: each re-checks, and one reports).
    #[cfg_attr(guard_loom, allow(dead_code))]
    pub(crate) fn wake_all(&mut self, wake: &mut Wakes) {
        for e in &mut self.entries {
            wake.push(e.waker.clone());
        }
    }
}

/// Wakers collected under the queue's lock, called after it is dropped (a waker may run
/// arbitrary executor code). A release wakes at most two: no allocation for those.
#[derive(Debug, Default)]
pub(crate) struct Wakes {
    first: Option<Waker>,
    second: Option<Waker>,
    rest: Vec<Waker>,
}

impl Wakes {
    fn push(&mut self, w: Waker) {
        if self.first.is_none() {
            self.first = Some(w);
        } else if self.second.is_none() {
            self.second = Some(w);
        } else {
            self.rest.push(w);
        }
    }

    /// Calls every waker.
    pub(crate) fn run(self) {
        let Wakes {
            first,
            second,
            rest,
        } = self;
        first
            .into_iter()
            .chain(second)
            .chain(rest)
            .for_each(Waker::wake);
    }
}

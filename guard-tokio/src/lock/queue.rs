//! The waiters of one lock, and who is woken when it is released.
//!
//! A wake never hands the lock over: it asks a waiter to come and try. The lock goes to
//! whichever acquisition is polled first while it is free (a woken waiter, another waiter,
//! or a newcomer), so a woken waiter that is never polled again (the losing branch of a
//! `select!` polled by reference) holds nothing up. Barging is bounded: a waiter that was
//! woken [`STARVING_AFTER`] times and lost each time reserves the next release for itself,
//! for as long as it is polled: a reservation not taken within [`GRACE`] of the release
//! lapses, and the others may take the lock.
//!
//! The waiters sit in a slab in arrival order (a list threaded through its slots), each
//! found in O(1) by a generation-checked [`Key`]. Each has a [`Node`], shared with its
//! acquisition, holding the one flag the acquisition reads without the queue's lock: it was
//! woken. Nodes are reused, so a contended wait allocates nothing once the queue has grown.

use super::loom::{Arc, AtomicBool, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Wakes a waiter may lose to barging acquisitions before it reserves the next release.
pub(crate) const STARVING_AFTER: u32 = 4;

/// How long a reserved release waits for its waiter to be polled before anyone may take it.
pub(crate) const GRACE: Duration = Duration::from_micros(500);

/// Nodes kept for reuse.
const SPARE: usize = 64;

/// No slot (the ends of the arrival list).
const NIL: u32 = u32::MAX;

/// A waiter's place in the slab: the slot, and its generation when the waiter took it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

/// The part of a waiter its acquisition reads without the queue's lock.
#[derive(Debug, Default)]
pub(crate) struct Node {
    /// A release (or a leaving waiter) woke this waiter, and it has not come to try since.
    /// Set only under the queue's lock; cleared by its acquisition when polled.
    pub(crate) notified: AtomicBool,
}

#[derive(Debug)]
struct Entry {
    node: Arc<Node>,
    waker: Waker,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    entry: Option<Entry>,
    prev: u32,
    next: u32,
}

/// The waiters, in arrival order, and the state of the current stuck episode.
#[derive(Debug)]
pub(crate) struct Queue {
    slots: Vec<Slot>,
    vacant: Vec<u32>,
    head: u32,
    tail: u32,
    len: usize,
    spare: Vec<Arc<Node>>,
    /// The starving waiter the next release is reserved for.
    pub(crate) reserved: Option<Key>,
    /// When a reserved release happened (the grace runs from there).
    pub(crate) free_since: Option<Instant>,
    /// The detector already reported this episode (reset when a waiter gets the lock).
    pub(crate) reported: bool,
    /// The lock is on the detector thread's watch list.
    pub(crate) watched: bool,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            slots: Vec::new(),
            vacant: Vec::new(),
            head: NIL,
            tail: NIL,
            len: 0,
            spare: Vec::new(),
            reserved: None,
            free_since: None,
            reported: false,
            watched: false,
        }
    }
}

impl Queue {
    /// How many wait.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Nobody waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a waiter; returns its key and its node.
    ///
    /// # Panics
    ///
    /// With 2^32 - 1 waiters at once.
    pub(crate) fn push(&mut self, waker: &Waker) -> (Key, Arc<Node>) {
        let node = self.spare.pop().unwrap_or_default();
        let index = self.vacant.pop().unwrap_or_else(|| {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("fewer than 2^32 - 1 waiters on one lock");
            self.slots.push(Slot {
                generation: 0,
                entry: None,
                prev: NIL,
                next: NIL,
            });
            index
        });
        let tail = self.tail;
        let slot = &mut self.slots[index as usize];
        slot.entry = Some(Entry {
            node: node.clone(),
            waker: waker.clone(),
        });
        slot.prev = tail;
        slot.next = NIL;
        let key = Key {
            index,
            generation: slot.generation,
        };
        match tail {
            NIL => self.head = index,
            t => self.slots[t as usize].next = index,
        }
        self.tail = index;
        self.len += 1;
        (key, node)
    }

    fn entry(&mut self, key: Key) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.entry.as_mut()
    }

    /// Replaces the waker of the waiter `key`.
    pub(crate) fn set_waker(&mut self, key: Key, waker: &Waker) {
        if let Some(e) = self.entry(key) {
            e.waker.clone_from(waker);
        }
    }

    /// Removes the waiter `key` (its acquisition gives its node back); drops its
    /// reservation. Returns whether it had been woken and had not come since, or `None` if
    /// it was not queued.
    pub(crate) fn remove(&mut self, key: Key, mut node: Arc<Node>) -> Option<bool> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        let (prev, next) = (slot.prev, slot.next);
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
        self.vacant.push(key.index);
        self.len -= 1;
        if self.reserved == Some(key) {
            self.reserved = None;
            self.free_since = None;
        }
        drop(entry);
        let notified = node.notified.swap(false, Ordering::Relaxed);
        if self.spare.len() < SPARE && Arc::get_mut(&mut node).is_some() {
            self.spare.push(node);
        }
        Some(notified)
    }

    /// Wakes the first waiter (in arrival order) not already woken, other than `skip`:
    /// marks it woken (a CAS, so a flag its waiter just cleared is seen) and returns its
    /// waker, to call once the queue's lock is dropped.
    pub(crate) fn wake_idle(&mut self, skip: Option<Key>) -> Option<Waker> {
        let mut at = self.head;
        while at != NIL {
            let slot = &self.slots[at as usize];
            let key = Key {
                index: at,
                generation: slot.generation,
            };
            if let Some(e) = &slot.entry
                && Some(key) != skip
                && e.node
                    .notified
                    .compare_exchange(false, true, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
            {
                return Some(e.waker.clone());
            }
            at = slot.next;
        }
        None
    }

    /// Marks the waiter `key` woken, whatever it was; returns its waker.
    pub(crate) fn notify(&mut self, key: Key) -> Option<Waker> {
        let e = self.entry(key)?;
        e.node.notified.store(true, Ordering::Release);
        Some(e.waker.clone())
    }

    /// Every waiter's waker (the detector's tick: each re-checks, and one reports).
    #[cfg_attr(guard_loom, allow(dead_code))]
    pub(crate) fn wake_all(&self, wake: &mut Wakes) {
        let mut at = self.head;
        while at != NIL {
            let slot = &self.slots[at as usize];
            if let Some(e) = &slot.entry {
                wake.push(e.waker.clone());
            }
            at = slot.next;
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

impl Extend<Waker> for Wakes {
    fn extend<I: IntoIterator<Item = Waker>>(&mut self, wakers: I) {
        wakers.into_iter().for_each(|w| self.push(w));
    }
}

impl Wakes {
    pub(crate) fn push(&mut self, w: Waker) {
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

#[cfg(all(test, not(guard_loom)))]
mod tests {
    use super::*;

    fn arrival_order(q: &Queue) -> Vec<Key> {
        let mut order = Vec::new();
        let mut at = q.head;
        while at != NIL {
            let slot = &q.slots[at as usize];
            order.push(Key {
                index: at,
                generation: slot.generation,
            });
            at = slot.next;
        }
        order
    }

    #[test]
    fn a_key_from_a_waiter_that_left_finds_nothing_once_its_slot_is_reused() {
        let mut q = Queue::default();
        let (a, na) = q.push(Waker::noop());
        assert_eq!(q.remove(a, na), Some(false));
        let (b, nb) = q.push(Waker::noop());
        assert_eq!(a.index, b.index, "the slot is reused");
        assert_eq!(
            q.remove(a, Arc::new(Node::default())),
            None,
            "a's key is stale"
        );
        assert!(q.notify(a).is_none());
        assert_eq!(q.len(), 1);
        assert_eq!(q.remove(b, nb), Some(false));
        assert!(q.is_empty());
    }

    #[test]
    fn waiters_stay_in_arrival_order_when_one_in_the_middle_leaves() {
        let mut q = Queue::default();
        let (keys, nodes): (Vec<Key>, Vec<Arc<Node>>) =
            (0..4).map(|_| q.push(Waker::noop())).unzip();
        assert_eq!(q.remove(keys[1], nodes[1].clone()), Some(false));
        assert_eq!(arrival_order(&q), [keys[0], keys[2], keys[3]]);
        let (e, _ne) = q.push(Waker::noop());
        assert_eq!(arrival_order(&q), [keys[0], keys[2], keys[3], e]);
        // The first not already woken, other than the one skipped.
        assert!(q.wake_idle(Some(keys[0])).is_some());
        assert!(nodes[2].notified.load(Ordering::Relaxed));
        assert!(q.wake_idle(None).is_some());
        assert!(nodes[0].notified.load(Ordering::Relaxed));
        assert!(q.wake_idle(None).is_some());
        assert!(q.wake_idle(None).is_some());
        assert!(q.wake_idle(None).is_none(), "everyone is woken");
    }

    #[test]
    fn a_node_given_back_is_reused_cleared() {
        let mut q = Queue::default();
        let (a, na) = q.push(Waker::noop());
        let first = Arc::as_ptr(&na);
        assert!(q.notify(a).is_some());
        assert_eq!(q.remove(a, na), Some(true), "it was woken");
        let (_b, nb) = q.push(Waker::noop());
        assert_eq!(Arc::as_ptr(&nb), first, "no new allocation");
        assert!(!nb.notified.load(Ordering::Relaxed));
    }
}
